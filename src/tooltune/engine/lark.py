"""The same output constraint as ``constraint.py``, written for llama.cpp: an llguidance grammar.

llama.cpp (as the ``xllamacpp`` wheel builds it) samples under llguidance grammars: Lark syntax,
``%json`` for JSON Schema, ``<|name|>`` for special tokens. What the model may write follows
``tool_choice`` exactly as for the transformers engine:

- ``auto``: free text without ``<tool_call>``, or calls. Unlike the transformers engine, text
  *then* calls is refused: llguidance's lexer is greedy and cannot end free text at a ``<`` it
  has already taken (our training data never puts text before calls);
- ``required``: one or more calls; a tool name: exactly that call; ``none``: free text only.

Calls are compact ``<tool_call>{"name":"NAME","arguments":ARGS}</tool_call>`` blocks separated by
``\\n``; the turn ends with the end-of-turn token, which the grammar names so that llama.cpp stops
there (its grammar would otherwise refuse it in favour of the tokenizer's EOS).
"""

from __future__ import annotations

import json
from typing import Any

from tooltune.core.format.tokens import CALL_SEPARATOR, IM_END, TOOL_CALL_CLOSE, TOOL_CALL_OPEN

from .base import EngineError, GenerationRequest
from .constraint import _response_schema, forced_tool

_COMPACT = {"whitespace_flexible": False, "key_separator": ":", "item_separator": ","}
"""llguidance's JSON options: no free whitespace (every space is a decoding step)."""


def _lit(s: str) -> str:
    return json.dumps(s)


def _json_rule(schema: dict[str, Any], strict: bool = True) -> str:
    schema = dict(schema)
    if strict and schema.get("type") == "object":
        schema.setdefault("additionalProperties", False)
    return "%json " + json.dumps(schema | {"x-guidance": _COMPACT})


def _call_schema(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    params = dict(parameters)
    if params.get("type") == "object":
        params.setdefault("additionalProperties", False)  # undeclared keys refused, as with xgrammar
    return {"type": "object", "properties": {"name": {"const": name}, "arguments": params},
            "required": ["name", "arguments"], "additionalProperties": False}


def lark_grammar(request: GenerationRequest, end_token: str = IM_END) -> str | None:
    """The llguidance grammar for ``request``, or None when the output is unconstrained.
    Raises EngineError for a tool_choice naming no declared tool or a bad response_format."""
    forced = forced_tool(request)
    response = _response_schema(request.response_format)
    tools = list(request.tools)
    if forced is not None:
        tools = [t for t in tools if t.name == forced]
    rules: list[str] = []
    choice = request.tool_choice
    text = f"TEXT: /(.|\\n)+/ & ~/(.|\\n)*{TOOL_CALL_OPEN}(.|\\n)*/"
    if response is not None:
        rules.append("content: " + _json_rule(*response))
    if not tools or choice == "none":
        if response is not None:
            body = "content"
        elif tools:  # "none" with tools declared: text that never completes "<tool_call>"
            body, rules = "TEXT?", rules + [text]
        else:
            return None
    else:
        names = []
        for i, tool in enumerate(tools):
            rules.append(f"tool{i}: " + _json_rule(_call_schema(tool.name, tool.function.parameters)))
            names.append(f"tool{i}")
        rules.append(f"call: {_lit(TOOL_CALL_OPEN)} ({' | '.join(names)}) {_lit(TOOL_CALL_CLOSE)}")
        single = forced is not None or not request.parallel_tool_calls
        rules.append("calls: call" + ("" if single else f" ({_lit(CALL_SEPARATOR)} call)*"))
        if choice == "auto":
            if response is not None:
                body = "(content | calls)"
            else:
                body, rules = "(TEXT | calls)?", rules + [text]
        else:
            body = "calls"
    return "\n".join(["%llguidance {}", f"start: {body} {end_token}", *rules]) + "\n"


def check_grammar(grammar: str) -> None:
    """Raise EngineError if llguidance cannot parse ``grammar``: llama.cpp would only log the
    error and generate unconstrained."""
    try:
        from llguidance import LLMatcher
    except ImportError:  # the grammars we build are tested; checking needs the llguidance wheel
        return
    error = LLMatcher.validate_grammar(grammar)
    if error:
        raise EngineError(f"cannot build the output constraint: {error.strip().splitlines()[0]}")
