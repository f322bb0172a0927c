"""Task API conversations of every kind, built from the hand-written phrasing bank."""

from __future__ import annotations

import itertools
import json
import random
from datetime import date
from typing import Any, Callable

from tooltune.core.types import Conversation, Message, Tool, make_call

from . import dates, words
from .taskapi_bank import POOLS
from .taskapi_results import TaskStore, describe, summarize
from .templates import Bank, Template, pick_style, realize

TASKAPI_TOOL_NAMES = frozenset({"create_task", "update_task", "complete_task", "list_tasks", "delete_task"})

_OPTIONAL = {
    "create_task": ["description", "due_date", "priority"],
    "update_task": ["title", "description", "due_date", "priority"],
    "list_tasks": ["status", "priority"],
    "complete_task": [],
    "delete_task": [],
}
_ARG_ORDER = ["task_id", "title", "description", "due_date", "priority", "status"]
_SINGLE_CYCLE = ["create_task", "update_task", "create_task", "list_tasks", "complete_task", "update_task",
                 "create_task", "delete_task", "list_tasks", "complete_task"]

_GREET = ["Hi! I can create, update, complete, list and delete your tasks. What would you like to do?",
          "Hello! What can I do for your task list today?"]
_CAPAB = ["I manage your task list: I can create tasks (with a description, due date and priority), update them, "
          "mark them done, list them by status or priority, and delete them.",
          "I can create, update, complete, list and delete tasks, including due dates, priorities and descriptions."]
_OOS = ["Sorry, I can't help with that. I can only manage your tasks: create, update, complete, list or delete them.",
        "That's outside what I can do; I only manage your task list (create, update, complete, list, delete)."]
_THANKS = ["You're welcome!", "Glad I could help!", "Anytime!"]
_ASK_TITLE = ["Sure, what should the task be called?", "What's the title of the task?"]
_ASK_ID = {
    "complete": "Which task should I mark as done? Give me its id, or I can list your open tasks.",
    "delete": "Which task should I delete? Please give me its id.",
    "update": "Which task do you want to change? Please give me its id.",
}


def ordered(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments in schema order, so the model always emits keys in one order."""
    return {k: args[k] for k in _ARG_ORDER if k in args}


_ID_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]


def rng_sep(rng: random.Random) -> str:
    return rng.choice([" ", ", ", " - "])


def _quoted(rng: random.Random, title: str) -> str:
    r = rng.random()
    if r < 0.5:
        return title
    if r < 0.8:
        return '"' + title + '"'
    if r < 0.95:
        return "'" + title + "'"
    return "\u201c" + title + "\u201d"


class Ctx:
    """One conversation under construction."""

    def __init__(self, gen: "TaskApiGenerator", rng: random.Random, split: str):
        self.gen, self.rng, self.split = gen, rng, split
        self.today: date = dates.random_today(rng)
        self.style = pick_style(rng)
        self.templates: list[str] = []
        self.messages: list[Message] = [Message(role="system", content=dates.system_today(self.today))]
        self.store = TaskStore.random(rng, self.today.isoformat())

    # --- templates and slot values ---
    def tpl(self, pool: str, accept: Callable[[Template], bool] | None = None) -> Template:
        t = self.gen.bank.pick(self.rng, pool, self.split, accept)
        self.templates.append(t.id)
        return t

    def text(self, t: Template, values: dict[str, Any]) -> str:
        """A whole user message; the first one sometimes opens with a greeting, any may end with a tag."""
        if isinstance(values.get("id"), int) and values["id"] <= 12 and "#{id}" not in t.text \
                and self.rng.random() < 0.08:  # "task seven"
            values = values | {"id": _ID_WORDS[values["id"]]}
        s = realize(self.rng, t.text, values, self.style)
        if not any(m.role == "user" for m in self.messages) and self.rng.random() < 0.12:
            s = self.tpl("wrap.prefix").text + " " + s
        if self.rng.random() < 0.08 and not s.endswith("?"):
            s = s.rstrip(".!") + rng_sep(self.rng) + self.tpl("wrap.suffix").text
        return s

    def literal(self, t: Template, values: dict[str, Any]) -> str:
        """A template filled without surface noise (sub-phrases get noise from their parent)."""
        return realize(self.rng, t.text, values, self.style, fragment=True)

    def title_values(self, t: Template, title: str | None = None) -> tuple[dict[str, str], str]:
        verb = "title_raw" in t.slots()
        title = title or words.title(self.rng, verb_phrase=verb)
        return {"title": _quoted(self.rng, title), "title_raw": title}, title

    def date_values(self, t: Template, relative_only: bool = False) -> tuple[dict[str, str], str | None]:
        for slot, ctx in (("due_on", "on"), ("due_by", "by"), ("due", "due")):
            if slot in t.slots():
                # The call carries the user's own words; the tool resolves them (core.dates).
                phrase, _ = dates.date_phrase(self.rng, self.today, ctx, relative_only=relative_only)
                return {slot: phrase}, phrase
        return {}, None

    def prio_values(self) -> tuple[dict[str, str], str]:
        prio = self.rng.choice(["low", "medium", "high"])
        phrase_t = self.tpl("prio." + prio)
        return {"prio": prio, "prio_phrase": phrase_t.text}, prio

    def modifier(self, pool: str, arg: str, relative_only: bool = False) -> tuple[str, dict[str, Any]]:
        """Text for one optional argument and the argument it sets."""
        t = self.tpl(pool)
        values: dict[str, Any] = {}
        args: dict[str, Any] = {}
        if arg == "due_date":
            v, due = self.date_values(t, relative_only)
            values |= v
            args["due_date"] = due
        elif arg == "priority":
            v, prio = self.prio_values()
            values |= v
            args["priority"] = prio
        elif arg == "description":
            desc = words.description(self.rng)
            values["desc"] = desc
            args["description"] = desc
        elif arg == "title":
            v, title = self.title_values(t)
            values |= v
            args["title"] = title
        return self.literal(t, values), args

    def join(self, parts: list[str]) -> str:
        if not parts:
            return ""
        if len(parts) == 1:
            return parts[0]
        sep = self.rng.choice([", ", " and ", ", ", "; "])
        if sep == " and " and len(parts) > 2:
            return ", ".join(parts[:-1]) + " and " + parts[-1]
        return sep.join(parts)

    # --- messages ---
    def user(self, content: str) -> None:
        self.messages.append(Message(role="user", content=content))

    def say(self, content: str) -> None:
        self.messages.append(Message(role="assistant", content=content))

    def call_id(self) -> str:
        return f"call_{self.rng.getrandbits(96):024x}"

    def calls(self, calls: list[tuple[str, dict[str, Any]]], content: str | None = None) -> list[str]:
        """An assistant turn with these calls, then their results; returns the results."""
        made = [make_call(name, ordered(args), self.call_id()) for name, args in calls]
        self.messages.append(Message(role="assistant", content=content, tool_calls=made))
        results = []
        for call, (name, args) in zip(made, calls):
            result = self.store.call(name, args)
            self.messages.append(Message(role="tool", tool_call_id=call.id, content=result))
            results.append(result)
        return results

    def answer(self, calls: list[tuple[str, dict[str, Any]]], results: list[str]) -> None:
        self.say(summarize([describe(n, a, r, self.rng) for (n, a), r in zip(calls, results)]))

    def exchange(self, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
        results = self.calls(calls)
        self.answer(calls, results)
        return results

    def existing_id(self, status: str | None = None) -> int:
        """An id the store knows (adding a task when needed), so the call succeeds."""
        ids = [i for i, t in self.store.tasks.items() if status is None or t["status"] == status]
        if ids and self.rng.random() < 0.8:
            return self.rng.choice(ids)
        task_id = self.missing_id()
        task = {"id": task_id, "title": words.title(self.rng), "status": status or "open"}
        self.store.add(task)
        return task_id

    def missing_id(self) -> int:
        while True:
            task_id = words.task_id(self.rng)
            if task_id not in self.store.tasks:
                return task_id


class TaskApiGenerator:
    """Samples conversations of each kind for the Task API tools."""

    kinds = ("single", "parallel", "multi_turn", "no_call", "clarify", "error_recovery", "relative_date")

    def __init__(self, tools: list[Tool]):
        self.tools = tools
        self.bank = Bank(POOLS)
        self._single_counter = itertools.count()
        self._combo_counters: dict[str, itertools.count] = {}

    def sample(self, kind: str, rng: random.Random, split: str) -> Conversation:
        ctx = Ctx(self, rng, split)
        getattr(self, "_" + kind)(ctx)
        return Conversation(messages=ctx.messages, tools=self.tools,
                            meta={"kind": kind, "templates": ctx.templates, "split": split})

    # ---------------- request builders: (user text, (tool, args)) ----------------
    def _combo(self, tool: str) -> list[str]:
        """The next combination of optional arguments for ``tool``, cycling through all of them."""
        opts = _OPTIONAL[tool]
        combos = [list(c) for r in range(len(opts) + 1) for c in itertools.combinations(opts, r)]
        if tool == "update_task":
            combos = [c for c in combos if c]  # an update changes something
        counter = self._combo_counters.setdefault(tool, itertools.count())
        return combos[next(counter) % len(combos)]

    def create_request(self, ctx: Ctx, opts: list[str], relative_only: bool = False,
                       core_pool: str = "create.core") -> tuple[str, dict[str, Any]]:
        t = ctx.tpl(core_pool)
        values, title = ctx.title_values(t)
        args: dict[str, Any] = {"title": title}
        parts = []
        opts = list(opts)
        ctx.rng.shuffle(opts)
        for opt in opts:
            pool = {"due_date": "create.due", "priority": "create.prio", "description": "create.desc"}[opt]
            text, a = ctx.modifier(pool, opt, relative_only and opt == "due_date")
            parts.append(text)
            args |= a
        extras = ctx.join(parts)
        if "extras" in t.slots():
            values["extras"] = extras
            return ctx.text(t, values), args
        text = ctx.text(t, values)
        if extras:
            text = text.rstrip("?.!") + ctx.rng.choice([" ", ", ", " - "]) + extras
        return text, args

    def update_request(self, ctx: Ctx, opts: list[str], task_id: int, relative_only: bool = False,
                       core_pool: str = "update.core") -> tuple[str, dict[str, Any]]:
        changes, args = self.changes(ctx, opts, relative_only)
        t = ctx.tpl(core_pool)
        return ctx.text(t, {"id": task_id, "changes": changes}), {"task_id": task_id} | args

    def changes(self, ctx: Ctx, opts: list[str], relative_only: bool = False) -> tuple[str, dict[str, Any]]:
        """"move it to Friday and make it urgent" and the update arguments it asks for."""
        args: dict[str, Any] = {}
        parts = []
        opts = list(opts)
        ctx.rng.shuffle(opts)
        for opt in opts:
            pool = {"title": "update.title", "description": "update.desc", "due_date": "update.due",
                    "priority": "update.prio"}[opt]
            text, a = ctx.modifier(pool, opt, relative_only and opt == "due_date")
            parts.append(text)
            args |= a
        return ctx.join(parts), args

    def tasks_phrase(self, ctx: Ctx, status: str | None, prio: str | None) -> str:
        noun = ctx.tpl("list.noun").text
        prio_adj = ctx.literal(ctx.tpl("list.prio"), {"prio": prio}) if prio else ""
        if status == "all":
            inner = (prio_adj + " " + noun).strip()
            # A priority filter must be said: only phrasings that carry the noun (and its adjective).
            accept = (lambda t: "noun" in t.slots()) if prio else None
            return ctx.literal(ctx.tpl("list.all", accept), {"noun": inner})
        det = ctx.tpl("list.det").text
        status_adj = ctx.tpl("list." + status).text if status else ""
        return " ".join(x for x in (det, status_adj, prio_adj, noun) if x)

    def list_request(self, ctx: Ctx, opts: list[str], core_pool: str = "list.core") -> tuple[str, dict[str, Any]]:
        status = ctx.rng.choice(["open", "done", "all"]) if "status" in opts else None
        prio = ctx.rng.choice(["low", "medium", "high"]) if "priority" in opts else None
        args = {k: v for k, v in (("status", status), ("priority", prio)) if v}
        question = f"list.q.{status or 'any'}.{prio or 'any'}"
        if question in self.bank.pools and ctx.rng.random() < 0.4:  # a whole question ("anything urgent?")
            return ctx.text(ctx.tpl(question), {}), args
        phrase = self.tasks_phrase(ctx, status, prio)
        return ctx.text(ctx.tpl(core_pool), {"tasks": phrase}), args

    def id_request(self, ctx: Ctx, tool: str) -> tuple[str, dict[str, Any]]:
        task_id = ctx.existing_id("open" if tool == "complete_task" else None)
        pool = "complete.core" if tool == "complete_task" else "delete.core"
        return ctx.text(ctx.tpl(pool), {"id": task_id}), {"task_id": task_id}

    def request(self, ctx: Ctx, tool: str, opts: list[str] | None = None) -> tuple[str, dict[str, Any]]:
        opts = self._combo(tool) if opts is None else opts
        if tool == "create_task":
            return self.create_request(ctx, opts)
        if tool == "update_task":
            return self.update_request(ctx, opts, ctx.existing_id())
        if tool == "list_tasks":
            return self.list_request(ctx, opts)
        return self.id_request(ctx, tool)

    # ---------------- kinds ----------------
    def _single(self, ctx: Ctx) -> None:
        tool = _SINGLE_CYCLE[next(self._single_counter) % len(_SINGLE_CYCLE)]
        text, args = self.request(ctx, tool)
        ctx.user(text)
        ctx.exchange([(tool, args)])

    def _relative_date(self, ctx: Ctx) -> None:
        if ctx.rng.random() < 0.6:
            opts = ["due_date"] + [o for o in ("priority", "description") if ctx.rng.random() < 0.25]
            text, args = self.create_request(ctx, opts, relative_only=True)
            tool = "create_task"
        else:
            opts = ["due_date"] + (["priority"] if ctx.rng.random() < 0.2 else [])
            text, args = self.update_request(ctx, opts, ctx.existing_id(), relative_only=True)
            tool = "update_task"
        ctx.user(text)
        ctx.exchange([(tool, args)])

    def clause(self, ctx: Ctx, kind: str, used_ids: set[int]) -> tuple[str, tuple[str, dict[str, Any]]]:
        """One short clause of a multi-request message, and the call it asks for."""
        if kind == "create":
            t = ctx.tpl("clause.create")
            values, title = ctx.title_values(t)
            args: dict[str, Any] = {"title": title}
            if "extras" in t.slots():
                arg = ctx.rng.choice(["due_date", "priority"])
                text, a = ctx.modifier("create.due" if arg == "due_date" else "create.prio", arg)
                values["extras"] = text
                args |= a
            return ctx.literal(t, values), ("create_task", args)
        if kind == "list":
            status = ctx.rng.choice([None, "open", "done"])
            prio = ctx.rng.choice([None, None, "high", "low"])
            phrase = self.tasks_phrase(ctx, status, prio)
            args = {k: v for k, v in (("status", status), ("priority", prio)) if v}
            return ctx.literal(ctx.tpl("clause.list"), {"tasks": phrase}), ("list_tasks", args)
        task_id = ctx.existing_id("open")
        while task_id in used_ids:
            task_id = ctx.existing_id("open")
        used_ids.add(task_id)
        if kind in ("complete", "delete"):
            return (ctx.literal(ctx.tpl("clause." + kind), {"id": task_id}),
                    (kind + "_task", {"task_id": task_id}))
        t = ctx.tpl("clause." + kind)
        values: dict[str, Any] = {"id": task_id}
        args = {"task_id": task_id}
        if kind == "update_prio":
            v, prio = ctx.prio_values()
            values |= v
            args["priority"] = prio
        else:
            v, due = ctx.date_values(t)
            values |= v
            args["due_date"] = due
        return ctx.literal(t, values), ("update_task", args)

    def _parallel(self, ctx: Ctx) -> None:
        r = ctx.rng.random()
        calls: list[tuple[str, dict[str, Any]]] = []
        if r < 0.35:  # same tool, one phrase
            which = ctx.rng.choice(["create_many", "create_many", "create_many3", "complete_many", "delete_many"])
            t = ctx.tpl("par." + which)
            if which.startswith("create"):
                n = 3 if which.endswith("3") else 2
                titles = words.distinct_titles(ctx.rng, n)
                values = {f"t{i + 1}": _quoted(ctx.rng, x) for i, x in enumerate(titles)}
                calls = [("create_task", {"title": x}) for x in titles]
            else:
                ids: set[int] = set()
                while len(ids) < 2:
                    ids.add(ctx.existing_id("open"))
                id1, id2 = sorted(ids, key=lambda _: ctx.rng.random())
                values = {"id1": id1, "id2": id2}
                tool = "complete_task" if which == "complete_many" else "delete_task"
                calls = [(tool, {"task_id": id1}), (tool, {"task_id": id2})]
            ctx.user(ctx.text(t, values))
        else:
            n = 3 if ctx.rng.random() < 0.3 else 2
            kinds = [ctx.rng.choice(["create", "create", "complete", "delete", "update_prio", "update_due", "list"])
                     for _ in range(n)]
            if kinds.count("list") > 1:
                kinds = [k if k != "list" else "create" for k in kinds]
                kinds[-1] = "list"
            used: set[int] = set()
            clauses = [self.clause(ctx, k, used) for k in kinds]
            join = ctx.tpl("par.join3" if n == 3 else "par.join2")
            values = dict(zip("abc", (c[0] for c in clauses)))
            ctx.user(ctx.text(join, values))
            calls = [c[1] for c in clauses]
        ctx.exchange(calls)

    def _multi_turn(self, ctx: Ctx) -> None:
        r = ctx.rng.random()
        if r < 0.55:  # create, then refer back to "it"
            text, args = self.create_request(ctx, [o for o in _OPTIONAL["create_task"] if ctx.rng.random() < 0.3])
            ctx.user(text)
            results = ctx.exchange([("create_task", args)])
            task_id = json.loads(results[0])["id"]
            follow = ctx.rng.choice(["complete", "delete", "prio", "due", "rename", "list"])
            t = ctx.tpl("follow." + follow)
            values: dict[str, Any] = {}
            if follow == "list":
                call = ("list_tasks", {"status": "open"})
            elif follow == "complete":
                call = ("complete_task", {"task_id": task_id})
            elif follow == "delete":
                call = ("delete_task", {"task_id": task_id})
            elif follow == "prio":
                v, prio = ctx.prio_values()
                values |= v
                call = ("update_task", {"task_id": task_id, "priority": prio})
            elif follow == "due":
                v, due = ctx.date_values(t)
                values |= v
                call = ("update_task", {"task_id": task_id, "due_date": due})
            else:
                v, title = ctx.title_values(t)
                values |= v
                call = ("update_task", {"task_id": task_id, "title": title})
            ctx.user(ctx.text(t, values))
            ctx.exchange([call])
        elif r < 0.9:  # list, then act on one of the listed tasks
            ctx.store = TaskStore.random(ctx.rng, ctx.today.isoformat(), n=0)
            for title in words.distinct_titles(ctx.rng, ctx.rng.randint(2, 4)):
                ctx.store.add({"id": ctx.store.next_id + ctx.rng.randint(0, 3), "title": title, "status": "open"})
            text, args = self.list_request(ctx, ctx.rng.choice([[], ["status"]]))
            if args.get("status") == "done":  # the listed tasks are open ones
                args["status"] = "open"
                text = ctx.text(ctx.tpl("list.core"), {"tasks": self.tasks_phrase(ctx, "open", None)})
            ctx.user(text)
            results = ctx.exchange([("list_tasks", args)])
            listed = json.loads(results[0])["tasks"]
            pos = ctx.rng.randrange(len(listed))
            target = listed[pos]
            if ctx.rng.random() < 0.35 and pos in (0, 1, len(listed) - 1):
                ord_word = "last" if pos == len(listed) - 1 else ("first" if pos == 0 else "second")
                ref = ctx.literal(ctx.tpl("ref.ord"), {"ord": ord_word})
            else:
                rt = ctx.tpl("ref.title")
                ref = ctx.literal(rt, {"title": _quoted(ctx.rng, target["title"]), "title_raw": target["title"]})
            follow = ctx.rng.choice(["list_complete", "list_delete"])
            ctx.user(ctx.text(ctx.tpl("follow." + follow), {"ref": ref}))
            tool = "complete_task" if follow == "list_complete" else "delete_task"
            ctx.exchange([(tool, {"task_id": target["id"]})])
        else:  # one exchange, then thanks
            tool = ctx.rng.choice(["complete_task", "delete_task", "create_task"])
            text, args = self.request(ctx, tool, opts=[])
            ctx.user(text)
            ctx.exchange([(tool, args)])
            ctx.user(ctx.text(ctx.tpl("follow.thanks"), {}))
            ctx.say(ctx.rng.choice(_THANKS))

    def _no_call(self, ctx: Ctx) -> None:
        if ctx.rng.random() < 0.15:  # a question the last result already answers: no new call
            text, args = self.list_request(ctx, ctx.rng.choice([[], ["status"], ["priority"]]))
            ctx.user(text)
            results = ctx.exchange([("list_tasks", args)])
            n = len(json.loads(results[0])["tasks"])
            ctx.user(ctx.text(ctx.tpl("follow.count"), {}))
            ctx.say(f"That's {n} task{'s' if n != 1 else ''}." if n else "None at all.")
            return
        if ctx.rng.random() < 0.25:  # a finished exchange first, then something that needs no call
            tool = ctx.rng.choice(["create_task", "complete_task"])
            text, args = self.request(ctx, tool, opts=[])
            ctx.user(text)
            ctx.exchange([(tool, args)])
            which = ctx.rng.choice(["thanks", "thanks", "oos"])
        else:
            which = ctx.rng.choice(["greet", "capab", "oos", "oos", "thanks"])
        ctx.user(ctx.text(ctx.tpl("nocall." + which), {}))
        answers = {"greet": _GREET, "capab": _CAPAB, "oos": _OOS, "thanks": _THANKS}[which]
        ctx.say(ctx.rng.choice(answers))

    def _clarify(self, ctx: Ctx) -> None:
        which = ctx.rng.choice(["create", "create", "complete", "delete", "update", "update_nofields"])
        resolve = ctx.rng.random() < 0.6
        if which == "update_nofields":  # the id is known, the change is not
            task_id = ctx.existing_id()
            ctx.user(ctx.text(ctx.tpl("clarify.update_nofields"), {"id": task_id}))
            ctx.say(f"What should I change on task {task_id}? I can update its title, description, due date "
                    "or priority.")
            if resolve:
                opts = ctx.rng.sample(["title", "description", "due_date", "priority"], ctx.rng.choice([1, 1, 2]))
                changes, args = self.changes(ctx, opts)
                ctx.user(ctx.text(ctx.tpl("clarify.answer_changes"), {"changes": changes}))
                ctx.exchange([("update_task", {"task_id": task_id} | args)])
            return
        if which == "create":
            t = ctx.tpl("clarify.create")
            args: dict[str, Any] = {}
            values: dict[str, Any] = {}
            if "extras" in t.slots():
                arg = ctx.rng.choice(["due_date", "priority"])
                text, a = ctx.modifier("create.due" if arg == "due_date" else "create.prio", arg)
                values["extras"] = text
                args |= a
            ctx.user(ctx.text(t, values))
            ctx.say(ctx.rng.choice(_ASK_TITLE))
            if resolve:
                at = ctx.tpl("clarify.answer_title")
                v, title = ctx.title_values(at)
                ctx.user(ctx.text(at, v))
                ctx.exchange([("create_task", {"title": title} | args)])
            return
        if which == "update":
            opts = ctx.rng.sample(["title", "description", "due_date", "priority"], ctx.rng.choice([1, 1, 2]))
            changes, args = self.changes(ctx, opts)
            ctx.user(ctx.text(ctx.tpl("clarify.update"), {"changes": changes}))
        else:
            ctx.user(ctx.text(ctx.tpl("clarify." + which), {}))
            args = {}
        ctx.say(_ASK_ID[which])
        if resolve:
            task_id = ctx.existing_id("open")
            ctx.user(ctx.text(ctx.tpl("clarify.answer_id"), {"id": task_id}))
            tool = {"complete": "complete_task", "delete": "delete_task", "update": "update_task"}[which]
            ctx.exchange([(tool, {"task_id": task_id} | args)])

    def _error_recovery(self, ctx: Ctx) -> None:
        r = ctx.rng.random()
        if r < 0.45:  # unknown id -> answer in words
            tool = ctx.rng.choice(["complete_task", "delete_task", "update_task"])
            task_id = ctx.missing_id()
            if tool == "update_task":
                opt = ctx.rng.choice(["due_date", "priority", "title"])
                text, args = self.update_request(ctx, [opt], task_id)
            else:
                pool = "complete.core" if tool == "complete_task" else "delete.core"
                text, args = ctx.text(ctx.tpl(pool), {"id": task_id}), {"task_id": task_id}
            ctx.user(text)
            ctx.exchange([(tool, args)])
        elif r < 0.85:  # wrong id but a title: look it up, then the corrected call
            tool = ctx.rng.choice(["complete_task", "delete_task"])
            title = words.title(ctx.rng, verb_phrase=True)
            real_id = ctx.missing_id()
            ctx.store.add({"id": real_id, "title": title, "status": "open"})
            wrong_id = ctx.missing_id()
            t = ctx.tpl("err.titled_complete" if tool == "complete_task" else "err.titled_delete")
            v, _ = ctx.title_values(t, title)
            ctx.user(ctx.text(t, v | {"id": wrong_id}))
            ctx.calls([(tool, {"task_id": wrong_id})])
            listed = ctx.calls([("list_tasks", {"status": "open"})])
            assert any(x["id"] == real_id for x in json.loads(listed[0])["tasks"])
            result = ctx.calls([(tool, {"task_id": real_id})])[0]
            done = describe(tool, {"task_id": real_id}, result, ctx.rng)
            ctx.say(f"There is no task {wrong_id}, but \"{title}\" is task {real_id}. {done}")
        else:  # completing a task that is already done
            task_id = ctx.existing_id("done")
            ctx.user(ctx.text(ctx.tpl("complete.core"), {"id": task_id}))
            ctx.exchange([("complete_task", {"task_id": task_id})])
