"""Grammar constraints for one request, built with xgrammar structural tags.

What the model may write, by ``tool_choice``:

- ``auto``: free text (never the string ``<tool_call>``), then optionally tool calls;
- ``required``: one or more calls and nothing else; a tool name: exactly that one call;
- ``none``: free text only (``<tool_call>`` can never be completed).

Each call is ``<tool_call>{"name":"NAME","arguments":ARGS}</tool_call>`` with ARGS compact JSON
(no free whitespace, schema key order) that matches the tool's JSON Schema; parallel calls are
separated by ``\\n``; after the last call only the end-of-turn token may follow.
``response_format`` json_object / json_schema constrains the content the same way.

The grammar works on strings, so it holds whether or not ``<tool_call>`` is a single added
token in the tokenizer. Compiled grammars are cached per (tools, choice, parallel, format).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Sequence

from tooltune.core.format.tokens import CALL_SEPARATOR, IM_END, IM_START, TOOL_CALL_CLOSE, TOOL_CALL_OPEN
from tooltune.core.types import Tool

from .base import EngineError, GenerationRequest

_SEPARATORS = (",", ":")


def _json_ebnf(schema: dict[str, Any], strict: bool = True) -> str:
    """EBNF for compact JSON matching ``schema`` (strict: undeclared keys are refused)."""
    import xgrammar as xgr

    grammar = xgr.Grammar.from_json_schema(
        json.dumps(schema), any_whitespace=False, separators=_SEPARATORS, strict_mode=strict
    )
    # xgrammar keeps ", " between the items of schema-less (any) arrays and objects even when
    # asked for compact separators; compact JSON everywhere saves the model steps.
    ebnf = str(grammar).replace('(", " basic_', '("," basic_')
    # Its rule for strings with min/maxLength lets raw control characters through (invalid JSON):
    # exclude them as its plain string rule does. And no raw "<" inside strings: every marker of
    # the format (<tool_call>, </tool_call>, <|im_end|>, <|im_start|>) starts with one, and a string
    # holding a marker would end the call or the turn early. "<" stays writable as \u003c.
    ebnf = ebnf.replace(r'[^\"\\\r\n]', r'[^\0-\x1f\"\\\r\n]')
    return ebnf.replace(r'[^\0-\x1f\"\\\r\n]', r'[^\0-\x1f\"\\\r\n<]')


def _call_tag(tool: Tool) -> Any:
    from xgrammar.structural_tag import GrammarFormat, TagFormat

    try:
        ebnf = _json_ebnf(tool.function.parameters)
    except Exception as e:  # xgrammar raises plain RuntimeErrors for schemas it cannot convert
        raise EngineError(f"cannot build a constraint for tool {tool.name!r}: {e}") from None
    begin = TOOL_CALL_OPEN + '{"name":' + json.dumps(tool.name) + ',"arguments":'
    return TagFormat(begin=begin, content=GrammarFormat(grammar=ebnf), end="}" + TOOL_CALL_CLOSE)


def _response_schema(response_format: dict[str, Any] | None) -> tuple[dict[str, Any], bool] | None:
    """(JSON Schema the content must match, strict), or None when the content is free text."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "object"}, False
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise EngineError("response_format json_schema needs a 'json_schema.schema' object")
        return schema, spec.get("strict") is not False
    raise EngineError(f"unsupported response_format type {kind!r} (use text, json_object or json_schema)")


def forced_tool(request: GenerationRequest) -> str | None:
    """The tool name ``tool_choice`` forces, if any; EngineError if it names no declared tool."""
    choice = request.tool_choice
    if choice in ("auto", "none", "required"):
        if choice == "required" and not request.tools:
            raise EngineError("tool_choice 'required' needs at least one tool")
        return None
    if choice not in {t.name for t in request.tools}:
        raise EngineError(f"tool_choice names unknown tool {choice!r}")
    return str(choice)


def structural_tag(request: GenerationRequest) -> Any | None:
    """The xgrammar StructuralTag for this request, or None when output is unconstrained."""
    from xgrammar.structural_tag import (
        AnyTextFormat,
        GrammarFormat,
        OptionalFormat,
        OrFormat,
        SequenceFormat,
        StructuralTag,
        TagsWithSeparatorFormat,
    )

    forced = forced_tool(request)
    response = _response_schema(request.response_format)
    content = None
    if response is not None:
        try:
            content = GrammarFormat(grammar=_json_ebnf(*response))
        except Exception as e:
            raise EngineError(f"cannot build a constraint for response_format: {e}") from None
    text = AnyTextFormat(excludes=[TOOL_CALL_OPEN, IM_START, IM_END])
    tools = list(request.tools)
    choice = request.tool_choice
    if forced is not None:
        tools = [t for t in tools if t.name == forced]
    if not tools or choice == "none":
        if content is not None:
            return StructuralTag(format=content)
        # "none" with tools declared: free text that can never complete "<tool_call>".
        return StructuralTag(format=text) if tools else None
    single = forced is not None or not request.parallel_tool_calls
    calls = TagsWithSeparatorFormat(
        tags=[_call_tag(t) for t in tools], separator=CALL_SEPARATOR, at_least_one=True, stop_after_first=single
    )
    if choice == "auto":
        if content is not None:
            return StructuralTag(format=OrFormat(elements=[content, calls]))
        return StructuralTag(format=SequenceFormat(elements=[text, OptionalFormat(content=calls)]))
    return StructuralTag(format=calls)


def constraint_key(request: GenerationRequest) -> str:
    """What a request's grammar depends on, as a string: the key of every engine's grammar cache."""
    tools = [[t.name, t.function.parameters] for t in request.tools]
    return json.dumps([tools, request.tool_choice, request.parallel_tool_calls, request.response_format],
                      sort_keys=True, default=str)


class ConstraintCompiler:
    """Compiles (and caches) the grammar of a request against one tokenizer."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: Sequence[int], cache_size: int = 64) -> None:
        import xgrammar as xgr

        self.tokenizer_info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=list(stop_token_ids)
        )
        self.vocab_size = vocab_size
        self._compiler = xgr.GrammarCompiler(self.tokenizer_info, cache_enabled=True)
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def compile(self, request: GenerationRequest) -> Any | None:
        """The CompiledGrammar for ``request`` (None: nothing to constrain). Raises EngineError."""
        key = constraint_key(request)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        tag = structural_tag(request)
        compiled = None
        if tag is not None:
            try:
                compiled = self._compiler.compile_structural_tag(tag)
            except Exception as e:
                raise EngineError(f"cannot compile the output constraint: {e}") from None
        with self._lock:
            self._cache[key] = compiled
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return compiled

    def matcher(self, compiled: Any) -> Any:
        import xgrammar as xgr

        return xgr.GrammarMatcher(compiled)
