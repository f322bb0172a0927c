"""Model output -> (content, tool calls), in one go or incrementally.

Neither parser ever raises on model output: a block that is not a valid call stays in
the content, verbatim, and the result is flagged (as vLLM's tool parsers do).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..types import FunctionCall, Message, ToolCall, dumps_args, new_call_id
from .tokens import IM_END, IM_START, ROLE_FOR, SYSTEM_SEPARATOR, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOLS_FOOTER, TOOLS_HEADER


@dataclass
class ParseResult:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    """Why each rejected <tool_call> block was rejected (its text stays in content)."""

    @property
    def ok(self) -> bool:
        return not self.malformed


def decode_call(block: str) -> tuple[ToolCall | None, str | None]:
    """The call in one ``<tool_call>`` body, or the reason it is not one."""
    try:
        obj = json.loads(block)
    except (json.JSONDecodeError, RecursionError) as e:
        return None, f"invalid JSON in tool call: {getattr(e, 'msg', e)}"
    if not isinstance(obj, dict):
        return None, "tool call is not a JSON object"
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None, "tool call has no 'name' string"
    args: Any = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):  # some models double-encode the arguments
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None, "tool-call arguments string is not JSON"
    if not isinstance(args, dict):
        return None, "tool-call arguments are not a JSON object"
    return ToolCall(id=new_call_id(), function=FunctionCall(name=name, arguments=dumps_args(args))), None


def _clean(text: str) -> str | None:
    text = text.strip()
    return text or None


def parse_output(text: str) -> ParseResult:
    """Split one assistant turn's raw text into content and calls."""
    text = text.split(IM_END, 1)[0]
    content: list[str] = []
    calls: list[ToolCall] = []
    bad: list[str] = []
    pos = 0
    while True:
        start = text.find(TOOL_CALL_OPEN, pos)
        if start < 0:
            content.append(text[pos:])
            break
        content.append(text[pos:start])
        body_start = start + len(TOOL_CALL_OPEN)
        end = text.find(TOOL_CALL_CLOSE, body_start)
        closed = end >= 0
        body = text[body_start:end] if closed else text[body_start:]
        after = end + len(TOOL_CALL_CLOSE) if closed else len(text)
        call, why = decode_call(body)
        if call is not None:
            calls.append(call)
        else:
            content.append(text[start:after])
            bad.append(why if closed else f"unterminated tool call: {why}")
        pos = after
    return ParseResult(_clean("".join(content)), calls, bad)


def parse_conversation(text: str) -> list[Message]:
    """Rendered text back to messages (the inverse of ``render`` for its own output).

    Call ids are new (they are not part of the text); each tool turn answers the
    earliest call not yet answered.
    """
    messages: list[Message] = []
    pending: list[str] = []
    for chunk in text.split(IM_START)[1:]:
        header, _, body = chunk.partition("\n")
        body = body.split(IM_END, 1)[0]
        role = header.strip()
        if role == "system":
            if body.startswith(TOOLS_HEADER):
                _, _, rest = body.partition(TOOLS_FOOTER)
                if not rest:
                    continue  # the system turn held only the tools
                body = rest[len(SYSTEM_SEPARATOR):]
            messages.append(Message(role="system", content=body))
        elif role == "assistant":
            result = parse_output(body)
            messages.append(Message(role="assistant", content=result.content, tool_calls=result.tool_calls or None))
            pending = [c.id for c in result.tool_calls]
        elif role == "tool":
            call_id = pending.pop(0) if pending else new_call_id()
            messages.append(Message(role="tool", content=body, tool_call_id=call_id))
        elif role in ROLE_FOR:
            messages.append(Message(role=role, content=body))  # type: ignore[arg-type]
    return messages
