"""Conversation + tools -> model text, with the character spans the assistant wrote.

The Jinja chat template in ``template.py`` renders exactly the same text; a test holds
the two together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..types import Message, Tool, ToolCall
from .prompt_format import PromptFormat
from .tokens import (
    CALL_SEPARATOR,
    IM_END,
    IM_START,
    ROLE_FOR,
    SYSTEM_SEPARATOR,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    TOOLS_FOOTER,
    TOOLS_HEADER,
    TOOLS_INTRO,
)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def schema_type(schema: Any) -> str:
    """A short TypeScript-like rendering of a JSON Schema (enums, arrays, nested objects)."""
    if not isinstance(schema, dict):
        return "any"
    if "enum" in schema:
        return "|".join(_json(v) for v in schema["enum"])
    if "anyOf" in schema or "oneOf" in schema:
        return "|".join(schema_type(s) for s in schema.get("anyOf", schema.get("oneOf")))
    t = schema.get("type")
    if isinstance(t, list):
        return "|".join(str(x) for x in t)
    if t == "array":
        inner = schema_type(schema.get("items", {}))
        return ("(" + inner + ")" if "|" in inner else inner) + "[]"
    if t == "object" and "properties" in schema:
        return "{" + params_signature(schema) + "}"
    return str(t) if t else "any"


def params_signature(schema: dict[str, Any]) -> str:
    required = schema.get("required", [])
    parts = []
    for pname, pschema in schema.get("properties", {}).items():
        opt = "" if pname in required else "?"
        part = pname + opt + ": " + schema_type(pschema)
        desc = pschema.get("description") if isinstance(pschema, dict) else None
        if desc:
            part += " /*" + desc + "*/"
        parts.append(part)
    return ", ".join(parts)


def render_tool(tool: Tool, fmt: PromptFormat) -> str:
    fn = tool.function
    if fmt.tool_style == "json":
        return _json(fn.model_dump())
    line = fn.name + "(" + params_signature(fn.parameters) + ")"
    if fn.description:
        line += " - " + fn.description
    return line


def render_tools_block(tools: Sequence[Tool], fmt: PromptFormat) -> str:
    lines = [TOOLS_HEADER, TOOLS_INTRO, *(render_tool(t, fmt) for t in tools), TOOLS_FOOTER]
    return "\n".join(lines)


def render_call(call: ToolCall) -> str:
    # Arguments go in verbatim: the dataset and the server keep them canonical (dumps_args).
    return TOOL_CALL_OPEN + '{"name":' + _json(call.function.name) + ',"arguments":' + (
        call.function.arguments or "{}"
    ) + "}" + TOOL_CALL_CLOSE


def render_assistant_body(content: str | None, tool_calls: Iterable[ToolCall] | None) -> str:
    """What the model itself writes for one assistant turn (before the end marker)."""
    parts = [content] if content else []
    parts += [render_call(c) for c in tool_calls or []]
    return CALL_SEPARATOR.join(parts)


@dataclass
class Rendered:
    text: str
    assistant_spans: list[tuple[int, int]] = field(default_factory=list)
    """Character ranges the model is trained on: each assistant body plus its end marker."""


def _turn(role: str, body: str) -> str:
    return IM_START + role + "\n" + body + IM_END + "\n"


def render(
    messages: Sequence[Message],
    tools: Sequence[Tool] = (),
    fmt: PromptFormat | None = None,
    add_generation_prompt: bool = False,
) -> Rendered:
    """Render a conversation: tools first in the system turn (a shared, cacheable prefix)."""
    fmt = fmt or PromptFormat()
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0

    def emit(s: str) -> None:
        nonlocal pos
        out.append(s)
        pos += len(s)

    msgs = list(messages)
    system_text = None
    if msgs and msgs[0].role in ("system", "developer"):
        system_text = msgs.pop(0).content or ""
    if tools:
        block = render_tools_block(tools, fmt)
        system_text = block + (SYSTEM_SEPARATOR + system_text if system_text else "")
    if system_text is not None:
        emit(_turn("system", system_text))
    for m in msgs:
        role = ROLE_FOR[m.role]
        if m.role == "assistant":
            emit(IM_START + role + "\n")
            start = pos
            emit(render_assistant_body(m.content, m.tool_calls) + IM_END)
            spans.append((start, pos))
            emit("\n")
        else:
            emit(_turn(role, m.content or ""))
    if add_generation_prompt:
        emit(IM_START + "assistant\n")
    return Rendered("".join(out), spans)


def render_prompt(messages: Sequence[Message], tools: Sequence[Tool] = (), fmt: PromptFormat | None = None) -> str:
    """The text a model continues to produce the next assistant turn."""
    return render(messages, tools, fmt, add_generation_prompt=True).text
