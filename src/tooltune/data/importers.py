"""``data import``: convert public function-calling datasets to tooltune's format.

- glaive (glaive-function-calling-v2): ``system`` lists the functions as JSON objects;
  ``chat`` is ``USER: ... ASSISTANT: <functioncall> {"name": .., "arguments": '{..}'}
  <|endoftext|> FUNCTION RESPONSE: ... ASSISTANT: ...``.
- hermes (NousResearch hermes-function-calling-v1): ``conversations`` of ``from``
  system/human/gpt/tool; tools inside ``<tools>`` in the system turn (or a ``tools`` field),
  calls in ``<tool_call>``, results in ``<tool_response>`` (JSON or Python-literal dicts).
- xlam (Salesforce xlam-function-calling-60k): ``query``, ``tools`` and ``answers`` as JSON
  strings; parameters in the ``{"p": {"type": "str, optional", "default": ..}}`` style.
- sharegpt (LLaMA-Factory style): ``conversations`` of ``from`` human/gpt/function_call/
  observation, ``tools`` (JSON string or list) and an optional ``system``.
Every converted record is validated; records that fail are skipped with a reason.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from tooltune.core.tools import ToolsError, parse_tools
from tooltune.core.types import Conversation, Message, Tool, make_call
from tooltune.core.validate import conversation_errors

from .generate import write_jsonl


class Skip(ValueError):
    """A record that cannot be converted; the message says why."""


def _loads_lenient(text: str) -> Any:
    """JSON, or a Python literal (several datasets print dicts with single quotes)."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise Skip(f"cannot parse {text[:60]!r}") from None


def _json_field(value: Any, what: str) -> Any:
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise Skip(f"{what} is not valid JSON ({e.msg})") from None
    return value


def _tools(raw: Any, what: str = "tools") -> list[Tool]:
    try:
        return parse_tools(raw if raw is not None else [])
    except ToolsError as e:
        raise Skip(f"{what}: {e}") from None


def _args_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = _loads_lenient(value) if value.strip() else {}
    if not isinstance(value, dict):
        raise Skip("call arguments are not an object")
    return value


class _Calls:
    """Deterministic call ids, and the calls still waiting for their results."""

    def __init__(self, prefix: str):
        self.prefix, self.n, self.pending = prefix, 0, []

    def make(self, name: str, args: dict[str, Any]):
        self.n += 1
        call = make_call(name, args, f"call_{self.prefix}_{self.n}")
        self.pending.append(call.id)
        return call

    def answer(self) -> str:
        if not self.pending:
            raise Skip("a tool result without an earlier call")
        return self.pending.pop(0)


def _result_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ---------------- glaive ----------------

_GLAIVE_TURN = re.compile(r"(?:^|\n)\s*(USER|ASSISTANT|FUNCTION RESPONSE):\s?")


def _json_objects(text: str) -> list[Any]:
    """Every top-level JSON object in free text."""
    dec, out, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) != -1:
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        out.append(obj)
        i = end
    return out


def _glaive_call(text: str) -> tuple[str, dict[str, Any]]:
    m = re.search(r'"name"\s*:\s*"([^"]+)"', text)
    if not m:
        raise Skip("functioncall without a name")
    a = re.search(r'"arguments"\s*:\s*\'(.*)\'\s*}\s*$', text, re.S) or re.search(
        r'"arguments"\s*:\s*(\{.*\})\s*}\s*$', text, re.S)
    args = _args_dict(a.group(1)) if a else {}
    return m.group(1), args


def convert_glaive(rec: dict[str, Any], key: str) -> Conversation:
    system, chat = rec.get("system", ""), rec.get("chat")
    if not isinstance(chat, str) or not chat.strip():
        raise Skip("no 'chat' text")
    funcs = [o for o in _json_objects(system or "") if isinstance(o, dict) and "name" in o]
    tools = _tools(funcs, "system functions")
    messages: list[Message] = []
    if system and not funcs:
        messages.append(Message(role="system", content=re.sub(r"^SYSTEM:\s*", "", system.strip())))
    calls = _Calls(key)
    parts = _GLAIVE_TURN.split(chat.strip())
    if parts[0].strip():
        raise Skip("chat does not start with a USER/ASSISTANT/FUNCTION RESPONSE turn")
    for role, body in zip(parts[1::2], parts[2::2]):
        body = body.replace("<|endoftext|>", "").strip()
        if role == "USER":
            messages.append(Message(role="user", content=body))
        elif role == "ASSISTANT":
            if "<functioncall>" in body:
                before, _, after = body.partition("<functioncall>")
                name, args = _glaive_call(after.strip())
                messages.append(Message(role="assistant", content=before.strip() or None,
                                        tool_calls=[calls.make(name, args)]))
            else:
                messages.append(Message(role="assistant", content=body))
        else:
            messages.append(Message(role="tool", tool_call_id=calls.answer(), content=body))
    return Conversation(messages=messages, tools=tools)


# ---------------- hermes / sharegpt ----------------

def _turns(rec: dict[str, Any]) -> list[tuple[str, str]]:
    conv = rec.get("conversations", rec.get("messages"))
    if not isinstance(conv, list) or not conv:
        raise Skip("no 'conversations' list")
    out = []
    for turn in conv:
        if not isinstance(turn, dict):
            raise Skip("a conversation turn is not an object")
        who = turn.get("from", turn.get("role"))
        value = turn.get("value", turn.get("content"))
        if not isinstance(who, str) or not isinstance(value, str):
            raise Skip("a turn without 'from'/'value' strings")
        out.append((who, value))
    return out


_TAG = {name: re.compile(rf"<{name}>(.*?)</{name}>", re.S) for name in ("tools", "tool_call", "tool_response")}


def convert_hermes(rec: dict[str, Any], key: str) -> Conversation:
    turns = _turns(rec)
    tools_raw: Any = _json_field(rec["tools"], "tools") if rec.get("tools") else None
    messages: list[Message] = []
    calls = _Calls(key)
    for who, value in turns:
        if who == "system":
            # The prompt may mention "<tools></tools>" before the real block: take the last non-empty one.
            bodies = [b.strip() for b in _TAG["tools"].findall(value) if b.strip()]
            m = bodies[-1] if bodies else None
            if m and tools_raw is None:
                body = m
                parsed = _loads_lenient(body) if body.startswith("[") else [
                    _loads_lenient(x) for x in re.split(r"\n(?=\{)", body) if x.strip()]
                tools_raw = parsed
            if not m:  # a plain system prompt; the tools boilerplate is replaced by ours
                messages.append(Message(role="system", content=value))
        elif who in ("human", "user"):
            messages.append(Message(role="user", content=value))
        elif who in ("gpt", "assistant"):
            blocks = _TAG["tool_call"].findall(value)
            text = _TAG["tool_call"].sub("", value).strip() or None
            made = []
            for b in blocks:
                obj = _loads_lenient(b)
                if not isinstance(obj, dict) or "name" not in obj:
                    raise Skip("a <tool_call> without a name")
                made.append(calls.make(obj["name"], _args_dict(obj.get("arguments", {}))))
            messages.append(Message(role="assistant", content=text, tool_calls=made or None))
        elif who in ("tool", "function", "observation"):
            blocks = _TAG["tool_response"].findall(value) or [value]
            for b in blocks:
                try:
                    obj = _loads_lenient(b)
                except Skip:
                    obj = b.strip()
                if isinstance(obj, dict) and "content" in obj and "name" in obj:
                    obj = obj["content"]
                messages.append(Message(role="tool", tool_call_id=calls.answer(), content=_result_text(obj)))
        else:
            raise Skip(f"unknown turn role {who!r}")
    return Conversation(messages=messages, tools=_tools(tools_raw))


def convert_sharegpt(rec: dict[str, Any], key: str) -> Conversation:
    turns = _turns(rec)
    tools = _tools(_json_field(rec.get("tools"), "tools") if rec.get("tools") else [])
    messages: list[Message] = []
    if isinstance(rec.get("system"), str) and rec["system"].strip():
        messages.append(Message(role="system", content=rec["system"]))
    calls = _Calls(key)
    for who, value in turns:
        if who == "system":
            messages.insert(0, Message(role="system", content=value))
        elif who in ("human", "user"):
            messages.append(Message(role="user", content=value))
        elif who in ("gpt", "assistant"):
            messages.append(Message(role="assistant", content=value))
        elif who == "function_call":
            obj = _loads_lenient(value)
            items = obj if isinstance(obj, list) else [obj]
            made = []
            for item in items:
                if not isinstance(item, dict) or "name" not in item:
                    raise Skip("a function_call without a name")
                made.append(calls.make(item["name"], _args_dict(item.get("arguments", {}))))
            messages.append(Message(role="assistant", tool_calls=made))
        elif who == "observation":
            if len(calls.pending) > 1:
                try:
                    results = json.loads(value)
                except json.JSONDecodeError:
                    results = None
                if not isinstance(results, list) or len(results) != len(calls.pending):
                    raise Skip("one observation for several calls (cannot tell the results apart)")
                for r in results:
                    messages.append(Message(role="tool", tool_call_id=calls.answer(), content=_result_text(r)))
            else:
                messages.append(Message(role="tool", tool_call_id=calls.answer(), content=value))
        else:
            raise Skip(f"unknown turn role {who!r}")
    return Conversation(messages=messages, tools=tools)


# ---------------- xlam ----------------

_XLAM_TYPES = {"str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "number",
               "number": "number", "bool": "boolean", "boolean": "boolean", "dict": "object", "object": "object",
               "list": "array", "array": "array", "tuple": "array", "set": "array"}


def xlam_type_schema(type_text: str) -> tuple[dict[str, Any], bool]:
    """``"List[int], optional"`` -> (``{"type": "array", "items": {"type": "integer"}}``, optional)."""
    t = type_text.strip()
    optional = bool(re.search(r",\s*(optional|default)", t, re.I)) or t.lower().startswith("optional[")
    t = re.split(r",\s*(?=optional|default)", t, flags=re.I)[0].strip()
    m = re.fullmatch(r"(?i)optional\[(.*)\]", t)
    if m:
        t = m.group(1).strip()
    m = re.fullmatch(r"(\w+)(?:\[(.*)\])?", t)
    if not m:
        return {}, optional
    base = _XLAM_TYPES.get(m.group(1).lower())
    if base is None:  # Any, Union, Callable...: no constraint
        return {}, optional
    schema: dict[str, Any] = {"type": base}
    if base == "array" and m.group(2):
        inner, _ = xlam_type_schema(m.group(2).split(",")[0])
        if inner:
            schema["items"] = inner
    return schema, optional


def xlam_tool(fn: dict[str, Any]) -> dict[str, Any]:
    """An xlam function (param-dict style) as an OpenAI tool with a JSON Schema."""
    if not isinstance(fn, dict) or "name" not in fn:
        raise Skip("an xlam tool without a name")
    props, required = {}, []
    params = fn.get("parameters") or {}
    if isinstance(params, dict) and params.get("type") == "object" and isinstance(params.get("properties"), dict):
        return {"type": "function", "function": fn}  # already JSON Schema
    if not isinstance(params, dict):
        raise Skip(f"{fn['name']}: parameters are not an object")
    for pname, spec in params.items():
        spec = spec if isinstance(spec, dict) else {}
        schema, optional = xlam_type_schema(str(spec.get("type", "")))
        if spec.get("description"):
            schema["description"] = str(spec["description"])
        props[pname] = schema
        if not optional and "default" not in spec:
            required.append(pname)
    parameters: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        parameters["required"] = required
    return {"type": "function", "function": {"name": fn["name"], "description": fn.get("description", ""),
                                             "parameters": parameters}}


def convert_xlam(rec: dict[str, Any], key: str) -> Conversation:
    query = rec.get("query")
    if not isinstance(query, str) or not query.strip():
        raise Skip("no 'query'")
    tools_raw = _json_field(rec.get("tools", []), "tools")
    answers = _json_field(rec.get("answers", []), "answers")
    if not isinstance(tools_raw, list) or not isinstance(answers, list):
        raise Skip("'tools' and 'answers' must be lists")
    tools = _tools([xlam_tool(f) for f in tools_raw])
    calls = _Calls(key)
    made = []
    for a in answers:
        if not isinstance(a, dict) or "name" not in a:
            raise Skip("an answer without a name")
        made.append(calls.make(a["name"], _args_dict(a.get("arguments", {}))))
    if not made:
        raise Skip("no answers (nothing to learn from without a reply)")
    return Conversation(messages=[Message(role="user", content=query),
                                  Message(role="assistant", tool_calls=made)], tools=tools)


FORMATS: dict[str, Callable[[dict[str, Any], str], Conversation]] = {
    "glaive": convert_glaive, "hermes": convert_hermes, "xlam": convert_xlam, "sharegpt": convert_sharegpt,
}


# ---------------- driver ----------------

def kind_of(conv: Conversation) -> str:
    turns = [m for m in conv.messages if m.role == "assistant"]
    users = sum(m.role == "user" for m in conv.messages)
    if any(len(m.tool_calls or []) > 1 for m in turns):
        return "parallel"
    if users > 1:
        return "multi_turn"
    return "single" if any(m.tool_calls for m in turns) else "no_call"


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) from a JSONL file or a JSON list; undecodable lines come as Skip."""
    text_start = path.open(encoding="utf-8").read(1024).lstrip()
    if text_start.startswith("["):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
        for i, rec in enumerate(data):
            yield f"record {i}", rec
        return
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {i}", json.loads(line)
            except json.JSONDecodeError as e:
                yield f"line {i}", Skip(f"invalid JSON: {e.msg}")


@dataclass
class ImportReport:
    total: int = 0
    written: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def convert_record(fmt: str, rec: Any, key: str) -> Conversation:
    if isinstance(rec, Skip):
        raise rec
    if not isinstance(rec, dict):
        raise Skip("record is not a JSON object")
    try:
        conv = FORMATS[fmt](rec, key)
    except ValidationError as e:
        first = e.errors()[0]
        raise Skip(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    errors = conversation_errors(conv.messages, conv.tools)
    if errors:
        raise Skip("; ".join(errors[:3]))
    conv.meta = {"kind": kind_of(conv), "source": fmt}
    return conv


def import_file(fmt: str, src: Path, dst: Path) -> ImportReport:
    report = ImportReport()
    rows = []
    for n, (where, rec) in enumerate(read_records(src)):
        report.total += 1
        try:
            conv = convert_record(fmt, rec, str(n))
        except Skip as e:
            report.skipped.append((where, str(e)))
            continue
        rows.append(conv.to_json())
    if rows:
        write_jsonl(rows, dst)
    report.written = len(rows)
    return report
