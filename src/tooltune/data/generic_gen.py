"""Conversations for ANY tools file, driven by the schemas and the tools' descriptions.

User requests are built from each tool's description ("Get the weather for a city" ->
"can you get the weather for a city? city Paris") and argument values synthesised from the
schema; phrasings come from generic template pools split train/eval like the Task API bank.
"""

from __future__ import annotations

import json
import random
from typing import Any

from tooltune.core.types import Conversation, Message, Tool, make_call
from tooltune.core.validate import schema_errors

from . import dates
from .schema_values import UnsupportedSchema, is_date_schema, value_for, words_for
from .templates import Bank, Template, pick_style, realize

POOLS: dict[str, list[str]] = {
    "g.core": ["{action} {args}", "can you {action_lc}? {args}", "please {action_lc}, {args}",
               "I need you to {action_lc} - {args}", "{args}: {action_lc}", "use {tool} with {args}",
               "could you {action_lc} for me? {args}", "hey, {action_lc} with {args}", "{action_lc} pls, {args}",
               "run {tool}: {args}", "I'd like to {action_lc}. {args}", "go ahead and {action_lc}, {args}",
               "{action_lc} using {args}", "would you {action_lc}? {args}", "quick one: {action_lc} ({args})",
               "call {tool} for {args}"],
    "g.noargs": ["{action}", "can you {action_lc}?", "please {action_lc}", "{action_lc} pls", "run {tool}",
                 "I need you to {action_lc}", "could you {action_lc} now?", "go ahead and {action_lc}"],
    "g.arg": ["{name} {value}", "{name}: {value}", "{name} = {value}", "{name}={value}", "{name} is {value}",
              "{name} set to {value}", "use {value} for {name}", "{value} as the {name}", "the {name} should be {value}",
              "{name} -> {value}"],
    "g.join2": ["{a} and {b}", "{a}, then {b}", "{a}. also {b}", "{a}; {b}", "two things: {a}, and {b}",
                "{a}, plus {b}", "first {a}, second {b}", "{a} & {b}"],
    "g.again": ["now do the same with {changes}", "again but {changes}", "same thing with {changes}",
                "and once more with {changes}", "repeat that for {changes}", "ok, now {changes}",
                "do it again, {changes}", "one more time: {changes}"],
    "g.greet": ["hi", "hello!", "hey there", "good morning", "hiya", "hi, how are you?", "yo", "good evening"],
    "g.capab": ["what can you do?", "what tools do you have?", "how can you help me?", "help",
                "what are you able to do?", "what kind of requests can you handle?", "what can I ask you?",
                "list your abilities"],
    "g.oos": ["tell me a joke", "write me a poem about the sea", "what's the meaning of life?",
              "who painted the Mona Lisa?", "sing me a song", "what's your favourite colour?",
              "recommend a good novel", "how do I tie a tie?", "what's 12 squared?", "tell me a fun fact"],
    "g.thanks": ["thanks!", "thank you", "cheers", "thx", "great, thanks a lot", "perfect", "ok cool", "awesome"],
    "g.answer": ["{value}", "it's {value}", "{name}: {value}", "use {value}", "{value} please", "{name} is {value}",
                 "make it {value}", "go with {value}"],
}

_GREET = "Hi! How can I help?"
_THANKS = ["You're welcome!", "Glad I could help!", "Anytime!"]
_OOS = "Sorry, I can't help with that. I can only use these tools: {tools}."


def _action(tool: Tool) -> str:
    desc = (tool.function.description or "").strip().split("\n")[0]
    desc = desc.split(". ")[0].rstrip(".").strip()
    return desc or words_for(tool.name)


def _lc(s: str) -> str:
    return s[:1].lower() + s[1:] if s[:2] != s[:2].upper() else s


class GenericGenerator:
    """Schema-driven samples for arbitrary tools."""

    def __init__(self, tools: list[Tool]):
        if not tools:
            raise ValueError("no tools to generate data for")
        self.tools = tools
        self.bank = Bank(POOLS)
        self.with_required = [t for t in tools if t.function.parameters.get("required")]
        self.date_args = {t.name: [p for p, s in t.function.parameters.get("properties", {}).items()
                                   if isinstance(s, dict) and is_date_schema(p, s)] for t in tools}
        kinds = ["single", "parallel", "multi_turn", "no_call", "error_recovery"]
        if self.with_required:
            kinds.insert(4, "clarify")
        if any(self.date_args.values()):
            kinds.append("relative_date")
        self.kinds = tuple(kinds)

    # ---------------- pieces ----------------
    def _tpl(self, st: dict[str, Any], pool: str) -> Template:
        t = self.bank.pick(st["rng"], pool, st["split"])
        st["templates"].append(t.id)
        return t

    def _args(self, st: dict[str, Any], tool: Tool, skip: str | None = None,
              relative_arg: str | None = None) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Arguments (required + a random subset of optional ones) and how each is said."""
        rng: random.Random = st["rng"]
        params = tool.function.parameters
        required = set(params.get("required", []))
        args: dict[str, Any] = {}
        said: list[tuple[str, str]] = []
        for pname, pschema in params.get("properties", {}).items():
            if pname == skip or (pname not in required and pname != relative_arg and rng.random() < 0.5):
                continue
            for _ in range(8):
                if pname == relative_arg:
                    phrase, value = dates.date_phrase(rng, st["today"], "due", relative_only=True)
                else:
                    value, phrase = value_for(rng, pname, pschema, st["today"])
                if not schema_errors(pschema, value) if isinstance(pschema, dict) else True:
                    break
            else:
                if pname in required:
                    raise UnsupportedSchema(f"{tool.name}: cannot synthesise a valid value for {pname!r}")
                continue
            args[pname] = value
            if isinstance(value, str) and " " in phrase and rng.random() < 0.3:
                phrase = '"' + phrase + '"'
            said.append((pname, phrase))
        return args, said

    def _say_args(self, st: dict[str, Any], said: list[tuple[str, str]]) -> str:
        rng: random.Random = st["rng"]
        parts = [realize(rng, self._tpl(st, "g.arg").text, {"name": words_for(n), "value": v}, st["style"],
                         fragment=True)
                 for n, v in said]
        rng.shuffle(parts)
        if len(parts) > 2 and rng.random() < 0.5:
            return ", ".join(parts[:-1]) + " and " + parts[-1]
        return rng.choice([", ", " and ", "; "]).join(parts)

    def _request(self, st: dict[str, Any], tool: Tool, said: list[tuple[str, str]], style: str | None = None) -> str:
        action = _action(tool)
        values = {"action": action, "action_lc": _lc(action), "tool": tool.name}
        if said:
            values["args"] = self._say_args(st, said)
            t = self._tpl(st, "g.core")
        else:
            t = self._tpl(st, "g.noargs")
        return realize(st["rng"], t.text, values, style or st["style"])

    def _call_and_result(self, st: dict[str, Any], calls: list[tuple[Tool, dict[str, Any]]],
                         error: str | None = None) -> list[str]:
        made = [make_call(t.name, a, f"call_{st['rng'].getrandbits(96):024x}") for t, a in calls]
        st["messages"].append(Message(role="assistant", tool_calls=made))
        results = []
        for call in made:
            result = json.dumps({"error": error} if error else {"status": "ok"}, separators=(",", ":"))
            st["messages"].append(Message(role="tool", tool_call_id=call.id, content=result))
            results.append(result)
        return results

    def _done(self, tool: Tool, args: dict[str, Any]) -> str:
        shown = ", ".join(f"{words_for(k)} {json.dumps(v, ensure_ascii=False)}" for k, v in list(args.items())[:3])
        return f"Done: {tool.name} succeeded" + (f" ({shown})." if shown else ".")

    def _user(self, st: dict[str, Any], text: str) -> None:
        st["messages"].append(Message(role="user", content=text))

    def _say(self, st: dict[str, Any], text: str) -> None:
        st["messages"].append(Message(role="assistant", content=text))

    # ---------------- kinds ----------------
    def sample(self, kind: str, rng: random.Random, split: str) -> Conversation:
        today = dates.random_today(rng)
        st: dict[str, Any] = {"rng": rng, "split": split, "today": today, "templates": [], "style": pick_style(rng),
                              "messages": [Message(role="system", content=dates.system_today(today))]}
        getattr(self, "_" + kind)(st)
        return Conversation(messages=st["messages"], tools=self.tools,
                            meta={"kind": kind, "templates": st["templates"], "split": split})

    def _single(self, st: dict[str, Any], tool: Tool | None = None, relative_arg: str | None = None) -> None:
        tool = tool or st["rng"].choice(self.tools)
        args, said = self._args(st, tool, relative_arg=relative_arg)
        self._user(st, self._request(st, tool, said))
        self._call_and_result(st, [(tool, args)])
        self._say(st, self._done(tool, args))
        st["last"] = (tool, args)

    def _relative_date(self, st: dict[str, Any]) -> None:
        tool = st["rng"].choice([t for t in self.tools if self.date_args[t.name]])
        self._single(st, tool, relative_arg=st["rng"].choice(self.date_args[tool.name]))

    def _parallel(self, st: dict[str, Any]) -> None:
        rng: random.Random = st["rng"]
        tools = [rng.choice(self.tools), rng.choice(self.tools)]
        pieces, calls = [], []
        for tool in tools:
            args, said = self._args(st, tool)
            pieces.append(self._request(st, tool, said, style="casual"))
            calls.append((tool, args))
        self._user(st, realize(rng, self._tpl(st, "g.join2").text, {"a": pieces[0], "b": pieces[1]}, st["style"]))
        self._call_and_result(st, calls)
        self._say(st, " ".join(self._done(t, a) for t, a in calls))

    def _multi_turn(self, st: dict[str, Any]) -> None:
        rng: random.Random = st["rng"]
        with_args = [t for t in self.tools if t.function.parameters.get("properties")]
        self._single(st, rng.choice(with_args) if with_args else None)
        tool, args = st["last"]
        if not args or rng.random() < 0.25:
            self._user(st, realize(rng, self._tpl(st, "g.thanks").text, {}, st["style"]))
            self._say(st, rng.choice(_THANKS))
            return
        props = tool.function.parameters.get("properties", {})
        changed = rng.choice(list(args))
        new_args = dict(args)
        for _ in range(8):
            value, phrase = value_for(rng, changed, props.get(changed, {}), st["today"])
            if value != args[changed] and not schema_errors(props.get(changed, {}), value):
                break
        else:
            self._user(st, realize(rng, self._tpl(st, "g.thanks").text, {}, st["style"]))
            self._say(st, rng.choice(_THANKS))
            return
        new_args[changed] = value
        changes = realize(rng, self._tpl(st, "g.arg").text, {"name": words_for(changed), "value": phrase},
                          st["style"], fragment=True)
        self._user(st, realize(rng, self._tpl(st, "g.again").text, {"changes": changes}, st["style"]))
        self._call_and_result(st, [(tool, new_args)])
        self._say(st, self._done(tool, new_args))

    def _no_call(self, st: dict[str, Any]) -> None:
        rng: random.Random = st["rng"]
        which = rng.choice(["greet", "capab", "oos", "oos", "thanks"])
        self._user(st, realize(rng, self._tpl(st, "g." + which).text, {}, st["style"]))
        if which == "greet":
            self._say(st, _GREET)
        elif which == "capab":
            self._say(st, "I can: " + "; ".join(_lc(_action(t)) for t in self.tools) + ".")
        elif which == "oos":
            self._say(st, _OOS.format(tools=", ".join(t.name for t in self.tools)))
        else:
            self._say(st, rng.choice(_THANKS))

    def _clarify(self, st: dict[str, Any]) -> None:
        rng: random.Random = st["rng"]
        tool = rng.choice(self.with_required)
        missing = rng.choice(tool.function.parameters["required"])
        args, said = self._args(st, tool, skip=missing)
        self._user(st, self._request(st, tool, said))
        self._say(st, f"Sure. What {words_for(missing)} should I use to {_lc(_action(tool))}?")
        if rng.random() < 0.6:
            pschema = tool.function.parameters.get("properties", {}).get(missing, {})
            for _ in range(8):
                value, phrase = value_for(rng, missing, pschema, st["today"])
                if not schema_errors(pschema, value):
                    break
            else:
                return
            t = self._tpl(st, "g.answer")
            self._user(st, realize(rng, t.text, {"name": words_for(missing), "value": phrase}, st["style"]))
            order = list(tool.function.parameters.get("properties", {}))
            full = {k: (value if k == missing else args[k]) for k in order if k == missing or k in args}
            self._call_and_result(st, [(tool, full)])
            self._say(st, self._done(tool, full))

    def _error_recovery(self, st: dict[str, Any]) -> None:
        rng: random.Random = st["rng"]
        tool = rng.choice(self.tools)
        args, said = self._args(st, tool)
        self._user(st, self._request(st, tool, said))
        error = rng.choice([f"{tool.name} is temporarily unavailable", "rate limit exceeded, try again later",
                            "not found", "permission denied"])
        self._call_and_result(st, [(tool, args)], error=error)
        self._say(st, f"Sorry, {tool.name} failed: {error}. " + rng.choice(
            ["Want me to try again?", "Shall I retry?", "You can try again in a moment."]))
