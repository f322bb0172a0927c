"""End-to-end scenarios: the agent on a real Task API, scored by the final database state.

Each scenario seeds tasks, sends one or more user messages through the Agents SDK, then
reads every task back and checks the state it must have reached — never the text the
model wrote. Seeded tasks a scenario does not mention must come out unchanged. Messages
name seeded tasks as ``{t0}``, ``{t1}``, ... (their real ids) and ``{missing}`` (an id that
does not exist). "Today" is fixed, so relative dates have one right answer (the rules are
the data generator's: "Friday" is the next one after today, "next Friday" the one in next week).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

from .tools import TaskTools, task_view

TODAY = dt.date(2026, 3, 4)  # a Wednesday

Check = Callable[["State"], list[str]]


@dataclass
class State:
    """The final tasks, and which of them were seeded."""

    tasks: list[dict[str, Any]]
    seed_ids: list[int]

    def seed(self, i: int) -> dict[str, Any] | None:
        """Seeded task number ``i`` now, or None when it was deleted."""
        return next((t for t in self.tasks if t["id"] == self.seed_ids[i]), None)

    @property
    def new(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t["id"] not in self.seed_ids]


@dataclass
class Scenario:
    name: str
    messages: list[str]
    """User turns, sent in order in one conversation."""
    check: Check
    """Problems with the final state (empty: passed)."""
    seed: list[dict[str, Any]] = field(default_factory=list)
    """Tasks present before the first message (``status: done`` ones are completed)."""
    touches: tuple[int, ...] = ()
    """Seeded tasks the scenario may change or delete; all others must come out unchanged."""


# --- state predicates -------------------------------------------------------------------

def _norm(text: str | None) -> str:
    return " ".join((text or "").lower().replace("'", "").replace('"', "").strip(" .!").split())


def _has_words(task: dict[str, Any], words: tuple[str, ...]) -> bool:
    title = _norm(task.get("title"))
    return all(w in title for w in words)


def _fields_problems(task: dict[str, Any], label: str, expect: dict[str, Any]) -> list[str]:
    out = []
    for key, want in expect.items():
        got = task.get(key)
        if key == "title" and _norm(got) != _norm(want) or key != "title" and got != want:
            out.append(f"{label}: {key} is {got!r}, expected {want!r}")
    return out


def new_tasks(*specs: dict[str, Any]) -> Check:
    """Exactly ``len(specs)`` new tasks, each matching one spec: ``words`` (all in the title,
    any case) plus exact fields (``priority``, ``due_date``, ``status``; ``status`` defaults
    to open), and ``desc_words`` in the description."""

    def check(state: State) -> list[str]:
        new = list(state.new)
        if len(new) != len(specs):
            return [f"{len(new)} new task(s) {[t.get('title') for t in new]}, expected {len(specs)}"]
        problems = []
        for spec in specs:
            words = tuple(spec.get("words", ()))
            match = next((t for t in new if _has_words(t, words)), None)
            if match is None:
                problems.append(f"no new task with {' + '.join(map(repr, words))} in its title "
                                f"(new: {[t.get('title') for t in new]})")
                continue
            new.remove(match)
            expect = {k: v for k, v in spec.items() if k not in ("words", "desc_words")}
            expect.setdefault("status", "open")
            problems += _fields_problems(match, repr(match["title"]), expect)
            desc = _norm(match.get("description"))
            problems += [f"{match['title']!r}: description {match.get('description')!r} lacks {w!r}"
                         for w in spec.get("desc_words", ()) if w not in desc]
        return problems

    return check


def seeded(i: int, **expect: Any) -> Check:
    """Seeded task ``i`` still exists and has these field values."""

    def check(state: State) -> list[str]:
        task = state.seed(i)
        if task is None:
            return [f"task {state.seed_ids[i]} was deleted"]
        return _fields_problems(task, f"task {state.seed_ids[i]}", expect)

    return check


def deleted(i: int) -> Check:
    def check(state: State) -> list[str]:
        return [] if state.seed(i) is None else [f"task {state.seed_ids[i]} still exists"]

    return check


def no_new_tasks(state: State) -> list[str]:
    return [f"unexpected new task(s): {[t.get('title') for t in state.new]}"] if state.new else []


def all_of(*checks: Check) -> Check:
    return lambda state: [p for c in checks for p in c(state)]


# --- the scenarios ----------------------------------------------------------------------

HOME = [
    {"title": "buy groceries", "priority": "medium"},
    {"title": "call the dentist", "priority": "high", "due_date": "2026-03-05"},
    {"title": "renew car insurance", "priority": "low", "due_date": "2026-03-20"},
    {"title": "water the plants", "priority": "low", "status": "done"},
]

SCENARIOS: list[Scenario] = [
    # create
    Scenario("create_simple", ["Add a task to buy milk."], new_tasks({"words": ("milk",)}), HOME),
    Scenario("create_high_priority", ["add a high-priority task to renew my passport"],
             new_tasks({"words": ("passport",), "priority": "high"})),
    Scenario("create_iso_date", ["Create a task 'submit tax return' due 2026-04-15."],
             new_tasks({"words": ("tax return",), "due_date": "2026-04-15"}), HOME),
    Scenario("create_full", ["Add a low priority task 'clean the garage' due 2026-03-14."],
             new_tasks({"words": ("garage",), "priority": "low", "due_date": "2026-03-14"})),
    Scenario("create_with_description",
             ["Create a task called 'prepare slides' with the description 'for the board meeting'."],
             new_tasks({"words": ("prepare slides",), "desc_words": ("board meeting",)}), HOME),
    Scenario("create_several", ["Add three tasks: wash the car, pay rent, and call grandma."],
             new_tasks({"words": ("car",)}, {"words": ("rent",)}, {"words": ("grandma",)}), HOME),
    # relative dates against the fixed today (Wednesday 2026-03-04)
    Scenario("relative_tomorrow", ["Remind me to call the plumber tomorrow."],
             new_tasks({"words": ("plumber",), "due_date": "2026-03-05"}), HOME),
    Scenario("relative_next_friday", ["Add a task to book the team lunch, due next Friday."],
             new_tasks({"words": ("lunch",), "due_date": "2026-03-13"})),
    Scenario("relative_in_days", ["I need to return the library books in 3 days, add it please."],
             new_tasks({"words": ("library",), "due_date": "2026-03-07"}), HOME),
    # act on a task by id
    Scenario("complete_by_id", ["Mark task {t1} as done."], all_of(seeded(1, status="done"), no_new_tasks),
             HOME, touches=(1,)),
    Scenario("complete_two", ["Tasks {t0} and {t2} are done."],
             all_of(seeded(0, status="done"), seeded(2, status="done"), no_new_tasks), HOME, touches=(0, 2)),
    Scenario("delete_by_id", ["Delete task {t0}."], all_of(deleted(0), no_new_tasks), HOME, touches=(0,)),
    Scenario("rename_by_id", ["Rename task {t0} to 'buy groceries and snacks'."],
             all_of(seeded(0, title="buy groceries and snacks", status="open"), no_new_tasks), HOME, touches=(0,)),
    Scenario("update_priority", ["Set the priority of task {t2} to high."],
             all_of(seeded(2, priority="high", title="renew car insurance", due_date="2026-03-20"), no_new_tasks),
             HOME, touches=(2,)),
    Scenario("update_due_date", ["Move task {t1} to 2026-03-10."],
             all_of(seeded(1, due_date="2026-03-10", priority="high"), no_new_tasks), HOME, touches=(1,)),
    Scenario("complete_and_create", ["Mark task {t1} as done and add a task to buy a birthday card."],
             all_of(seeded(1, status="done"), new_tasks({"words": ("birthday card",)})), HOME, touches=(1,)),
    # list, then act on what came back (the user names a task by its title or position)
    Scenario("list_then_complete", ["What do I still have to do?", "I called the dentist, tick that one off."],
             all_of(seeded(1, status="done"), no_new_tasks), HOME, touches=(1,)),
    Scenario("list_then_delete", ["Show me my tasks.", "Delete the groceries one."],
             all_of(deleted(0), no_new_tasks), HOME, touches=(0,)),
    Scenario("list_then_ordinal", ["What's on my list?", "Mark the first one as done."],
             all_of(seeded(0, status="done"), no_new_tasks), HOME, touches=(0,)),
    # several turns
    Scenario("create_then_complete", ["Add a task to book flights.", "I just booked them, mark it as done."],
             new_tasks({"words": ("flights",), "status": "done"}), HOME),
    Scenario("create_then_reprioritize", ["Add a task to fix the bike.", "Actually make that high priority."],
             new_tasks({"words": ("bike",), "priority": "high"})),
    # failures the model must react to
    Scenario("unknown_id_then_corrected", ["Complete task {missing}.", "Sorry, I meant task {t2}."],
             all_of(seeded(2, status="done"), no_new_tasks), HOME, touches=(2,)),
    Scenario("wrong_id_with_title", ["I finished 'renew car insurance', it's task {missing}."],
             all_of(seeded(2, status="done"), no_new_tasks), HOME, touches=(2,)),
    Scenario("invalid_date_then_corrected",
             ["Add a task 'file the report' due 2026-02-30.", "Sorry, add 'file the report' due 2026-02-27 then."],
             new_tasks({"words": ("report",), "due_date": "2026-02-27"}), HOME),
    # no tool needed: the database must not change
    Scenario("no_tool_greeting", ["Hi! What can you do?"], no_new_tasks, HOME),
    Scenario("no_tool_thanks", ["Thanks, that's all for now."], no_new_tasks, HOME),
    Scenario("read_only_list", ["What do I still have to do?"], no_new_tasks, HOME),
]


# --- running ----------------------------------------------------------------------------

class _TaskApiSession:
    """A Task API for one scenario: a fresh SQLite file served in a thread (ids start at 1),
    or a given URL wiped of all tasks."""

    def __init__(self, url: str | None, api_key: str | None, workdir: Path, index: int) -> None:
        self.server = None
        if url is None:
            from tooltune.taskapi import create_app
            from tooltune.taskapi.background import BackgroundServer

            self.server = BackgroundServer(create_app(f"sqlite:///{workdir / f'scenario-{index:02d}.db'}")).start()
            url = self.server.url
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, timeout=30,
                                   headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
        if self.server is None:
            for task in self.tasks():
                self.client.delete(f"/tasks/{task['id']}").raise_for_status()

    def seed(self, tasks: list[dict[str, Any]]) -> list[int]:
        ids = []
        for spec in tasks:
            body = {k: v for k, v in spec.items() if k != "status"}
            r = self.client.post("/tasks", json=body)
            r.raise_for_status()
            ids.append(r.json()["id"])
            if spec.get("status") == "done":
                self.client.post(f"/tasks/{ids[-1]}/complete").raise_for_status()
        return ids

    def tasks(self) -> list[dict[str, Any]]:
        r = self.client.get("/tasks")
        r.raise_for_status()
        return [task_view(t) for t in r.json()["data"]]

    def close(self) -> None:
        self.client.close()
        if self.server is not None:
            self.server.stop()


def _tool_calls(items: list[Any]) -> list[str]:
    out = []
    for item in items:
        if getattr(item, "type", None) == "tool_call_item":
            raw = item.raw_item
            name = raw.get("name") if isinstance(raw, dict) else getattr(raw, "name", "?")
            args = raw.get("arguments") if isinstance(raw, dict) else getattr(raw, "arguments", "")
            out.append(f"{name}({args})")
        elif getattr(item, "type", None) == "tool_call_output_item":
            out.append(f"  -> {item.output}")
    return out


async def _converse(make_agent: Callable[[Any], Any], base_url: str, api_key: str, messages: list[str],
                    max_turns: int) -> tuple[list[str], str, str | None]:
    """Send ``messages`` as one conversation; returns (trace, last answer, error or None)."""
    from agents import Runner
    from openai import AsyncOpenAI

    from .model import run_config

    history: list[Any] = []
    trace: list[str] = []
    final = ""
    # Closed inside its own loop; no retries: a deterministic model fails the same way again.
    async with AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0) as client:
        agent = make_agent(client)
        for message in messages:
            trace.append(f"user: {message}")
            try:
                result = await Runner.run(agent, [*history, {"role": "user", "content": message}],
                                          max_turns=max_turns, run_config=run_config())
            except Exception as exc:  # the run failed: record why, the scenario fails
                run_data = getattr(exc, "run_data", None)  # the SDK's partial run, when it has one
                trace += _tool_calls(getattr(run_data, "new_items", None) or [])
                return trace, final, f"{type(exc).__name__}: {exc}"
            trace += _tool_calls(result.new_items)
            final = str(result.final_output or "")
            trace.append(f"assistant: {final}")
            history = result.to_input_list()
    return trace, final, None


def run_scenario(scenario: Scenario, base_url: str, model: str, *, taskapi_url: str | None = None,
                 taskapi_key: str | None = None, api_key: str = "unused", today: dt.date = TODAY,
                 max_turns: int = 6, workdir: Path | None = None, index: int = 0) -> dict[str, Any]:
    """Run one scenario; ``passed`` is decided by the database state alone (plus a run
    that did not crash)."""
    from .model import build_agent

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tooltune-e2e-") as tmp:
        api = _TaskApiSession(taskapi_url, taskapi_key, Path(workdir or tmp), index)
        try:
            ids = api.seed(scenario.seed)
            before = api.tasks()
            values = {f"t{i}": tid for i, tid in enumerate(ids)} | {"missing": max(ids, default=0) + 40}
            messages = [m.format(**values) for m in scenario.messages]
            tools = TaskTools(api.url, api_key=taskapi_key, today=today)

            def make_agent(client: Any) -> Any:
                return build_agent(tools, base_url=base_url, model=model, today=today, client=client)

            trace, final, error = asyncio.run(_converse(make_agent, base_url, api_key, messages, max_turns))
            state = State(api.tasks(), ids)
        finally:
            api.close()
    problems = [f"run failed: {error}"] if error else []
    problems += scenario.check(state)
    for i, old in enumerate(before):
        if i not in scenario.touches and state.seed(i) != old:
            problems.append(f"task {ids[i]} changed or deleted: {old} -> {state.seed(i)}")
    return {
        "name": scenario.name,
        "passed": not problems,
        "reason": "; ".join(problems),
        "messages": messages,
        "trace": trace,
        "final_output": final,
        "final_tasks": state.tasks,
        "seconds": round(time.perf_counter() - start, 3),
    }


def run_suite(base_url: str, model: str | None = None, taskapi_url: str | None = None, *,
              api_key: str = "unused", taskapi_key: str | None = None, today: dt.date = TODAY,
              only: list[str] | None = None, scenarios: list[Scenario] | None = None, max_turns: int = 6,
              progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the scenarios against the model server at ``base_url`` (OpenAI-compatible, ending
    in /v1). Without ``taskapi_url`` each scenario gets its own Task API on a temp SQLite file;
    with it, that Task API is wiped before each scenario. Returns per-scenario results and the
    success rate."""
    from .model import default_model_name

    chosen = scenarios if scenarios is not None else SCENARIOS
    if only is not None:
        chosen = [s for s in chosen if s.name in set(only)]
    name = model or default_model_name(base_url, api_key)
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tooltune-e2e-") as tmp:
        for i, scenario in enumerate(chosen):
            row = run_scenario(scenario, base_url, name, taskapi_url=taskapi_url, taskapi_key=taskapi_key,
                               api_key=api_key, today=today, max_turns=max_turns, workdir=Path(tmp), index=i)
            rows.append(row)
            if progress is not None:
                progress(row)
    passed = sum(r["passed"] for r in rows)
    return {
        "suite": "taskapi-e2e",
        "model": name,
        "base_url": base_url,
        "today": today.isoformat(),
        "total": len(rows),
        "passed": passed,
        "success_rate": passed / len(rows) if rows else 0.0,
        "seconds": round(time.perf_counter() - start, 3),
        "scenarios": rows,
    }
