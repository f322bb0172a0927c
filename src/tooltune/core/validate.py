"""Check tool calls and whole conversations against their tool schemas (jsonschema)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Iterable, Sequence

from jsonschema import Draft202012Validator

from .types import Conversation, Message, Tool, ToolCall


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(schema: dict, instance: object) -> list[str]:
    """Human-readable reasons ``instance`` fails ``schema`` (empty when it validates)."""
    v = _validator(json.dumps(schema, sort_keys=True))
    out = []
    for err in sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{where}: {err.message}" if where else err.message)
    return out


def call_errors(call: ToolCall, tools: Sequence[Tool]) -> list[str]:
    """Why ``call`` is not a valid call of one of ``tools`` (empty when it is)."""
    by_name = {t.name: t for t in tools}
    tool = by_name.get(call.function.name)
    if tool is None:
        return [f"unknown tool {call.function.name!r} (declared: {', '.join(by_name) or 'none'})"]
    try:
        args = call.function.parsed_arguments()
    except (ValueError, json.JSONDecodeError) as e:
        return [f"{call.function.name}: arguments are not a JSON object ({e})"]
    return [f"{call.function.name}: {e}" for e in schema_errors(tool.function.parameters, args)]


def conversation_errors(messages: Sequence[Message], tools: Sequence[Tool]) -> list[str]:
    """Every problem with a conversation: call validity, tool results answering earlier calls,
    and legal role order (optional system first; a tool turn follows calls; the chat ends
    with an assistant turn)."""
    errors: list[str] = []
    if not messages:
        return ["no messages"]
    open_calls: set[str] = set()
    seen_ids: set[str] = set()
    prev = None
    for i, m in enumerate(messages):
        where = f"message {i} ({m.role})"
        if m.role in ("system", "developer") and i != 0:
            errors.append(f"{where}: system message not at the start")
        if m.role == "user" and prev == "user":
            errors.append(f"{where}: two user turns in a row")
        if m.role == "assistant":
            if not m.content and not m.tool_calls:
                errors.append(f"{where}: assistant turn with neither content nor tool calls")
            if open_calls:
                errors.append(f"{where}: tool calls left unanswered before the next assistant turn")
                open_calls.clear()
            for call in m.tool_calls or []:
                if call.id in seen_ids:
                    errors.append(f"{where}: duplicate tool call id {call.id!r}")
                seen_ids.add(call.id)
                open_calls.add(call.id)
                errors += [f"{where}: {e}" for e in call_errors(call, tools)]
        if m.role == "tool":
            if m.tool_call_id not in open_calls:
                errors.append(f"{where}: tool result for {m.tool_call_id!r}, which no earlier call is waiting on")
            open_calls.discard(m.tool_call_id or "")
        if m.role == "user" and open_calls:
            errors.append(f"{where}: user turn while tool calls are unanswered")
            open_calls.clear()
        prev = m.role
    if messages[-1].role != "assistant":
        errors.append("conversation does not end with an assistant turn")
    return errors


def dataset_errors(convs: Iterable[Conversation]) -> list[str]:
    return [f"sample {i}: {e}" for i, c in enumerate(convs) for e in conversation_errors(c.messages, c.tools)]
