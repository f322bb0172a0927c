"""Incremental parser: feed model text as it is generated, get content and tool-call events.

``finish()`` returns exactly what ``parse_output`` gives for the whole text, whatever
the chunking. Content never shows a piece of a ``<tool_call>`` tag: text that could be
the start of a tag is held back until it is known not to be.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from ..types import FunctionCall, ToolCall, new_call_id
from .parse import ParseResult, decode_call, parse_output
from .tokens import IM_END, TOOL_CALL_CLOSE, TOOL_CALL_OPEN

EventKind = Literal["content", "call_start", "call_args", "call_end", "call_invalid"]

_NAME_PREFIX = re.compile(r'\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*')


@dataclass
class StreamEvent:
    kind: EventKind
    text: str = ""
    """Content text, or an arguments fragment."""
    index: int = -1
    """Which call (0-based) a call event belongs to."""
    call_id: str = ""
    name: str = ""


def _held_back(buf: str, tags: tuple[str, ...]) -> int:
    """Length of the longest suffix of ``buf`` that is a proper prefix of one of ``tags``."""
    best = 0
    for tag in tags:
        for n in range(min(len(tag) - 1, len(buf)), 0, -1):
            if buf.endswith(tag[:n]):
                best = max(best, n)
                break
    return best


class StreamingParser:
    """Feed text chunks; get events. ``stream_arguments`` emits argument fragments as they
    arrive (use it when decoding is constrained, so the call is known to end valid);
    otherwise each call is emitted whole once its closing tag proves it valid."""

    def __init__(self, stream_arguments: bool = False) -> None:
        self.stream_arguments = stream_arguments
        self._text: list[str] = []
        self._buf = ""
        self._in_call = False
        self._done = False
        self._ids: list[str] = []
        self._pending_ws = ""
        self._emitted_content = False
        self._reset_call()

    # -- content with the same whitespace trimming as parse_output's strip()
    def _content(self, text: str, out: list[StreamEvent]) -> None:
        if not text:
            return
        if not self._emitted_content:
            text = text.lstrip()
            if not text:
                return
        core = text.rstrip()
        trail = text[len(core):]
        if core:
            out.append(StreamEvent("content", self._pending_ws + core if self._emitted_content else core))
            self._emitted_content = True
            self._pending_ws = trail
        else:
            self._pending_ws += text

    def feed(self, chunk: str) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._done or not chunk:
            return out
        self._text.append(chunk)
        self._buf += chunk
        end = self._buf.find(IM_END)
        if end >= 0:
            self._buf = self._buf[:end]
            self._done = True
        self._drain(out, final=self._done)
        return out

    def _drain(self, out: list[StreamEvent], final: bool) -> None:
        while True:
            if not self._in_call:
                i = self._buf.find(TOOL_CALL_OPEN)
                if i < 0:
                    keep = 0 if final else _held_back(self._buf, (TOOL_CALL_OPEN, IM_END))
                    self._content(self._buf[: len(self._buf) - keep], out)
                    self._buf = self._buf[len(self._buf) - keep:]
                    return
                self._content(self._buf[:i], out)
                self._buf = self._buf[i + len(TOOL_CALL_OPEN):]
                self._in_call = True
                self._reset_call()
            j = self._buf.find(TOOL_CALL_CLOSE)
            if j < 0:
                if self.stream_arguments:
                    self._stream_args(out)
                if final:
                    self._close_call(self._buf, closed=False, out=out)
                    self._buf = ""
                return
            body = self._buf[:j]
            if self.stream_arguments:
                self._stream_args(out, upto=j)
            self._buf = self._buf[j + len(TOOL_CALL_CLOSE):]
            self._close_call(body, closed=True, out=out)

    def _reset_call(self) -> None:
        """Argument-streaming state of the current call."""
        self._started = False
        self._args_pos = 0
        self._depth = 0
        self._in_str = False
        self._escape = False
        self._args_done = False

    def _stream_args(self, out: list[StreamEvent], upto: int | None = None) -> None:
        body = self._buf if upto is None else self._buf[:upto]
        if not self._started:
            m = _NAME_PREFIX.match(body)
            if not m or m.end() >= len(body) or body[m.end()] != "{":
                return  # not (yet) the canonical shape: fall back to emitting the call whole
            index = len(self._ids)
            self._ids.append(new_call_id())
            out.append(StreamEvent("call_start", index=index, call_id=self._ids[-1], name=json.loads(m.group(1))))
            self._started = True
            self._args_pos = m.end()
        if self._args_done:
            return
        start = self._args_pos
        i = start
        while i < len(body) and not self._args_done:
            c = body[i]
            if self._in_str:
                if self._escape:
                    self._escape = False
                elif c == "\\":
                    self._escape = True
                elif c == '"':
                    self._in_str = False
            elif c == '"':
                self._in_str = True
            elif c in "{[":
                self._depth += 1
            elif c in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self._args_done = True
            i += 1
        if i > start:
            out.append(StreamEvent("call_args", text=body[start:i], index=len(self._ids) - 1))
        self._args_pos = i

    def _close_call(self, body: str, closed: bool, out: list[StreamEvent]) -> None:
        self._in_call = False
        call, _ = decode_call(body)
        if self._started:
            index = len(self._ids) - 1
            if call is not None and self._args_done:
                out.append(StreamEvent("call_end", index=index, call_id=self._ids[index]))
            else:
                out.append(StreamEvent("call_invalid", index=index, call_id=self._ids[index]))
                self._ids.pop()
            return
        if call is None:
            self._content(TOOL_CALL_OPEN + body + (TOOL_CALL_CLOSE if closed else ""), out)
            return
        index = len(self._ids)
        self._ids.append(call.id)
        out.append(StreamEvent("call_start", index=index, call_id=call.id, name=call.function.name))
        out.append(StreamEvent("call_args", text=call.function.arguments, index=index))
        out.append(StreamEvent("call_end", index=index, call_id=call.id))

    def finish(self) -> tuple[list[StreamEvent], ParseResult]:
        """Flush what was held back; the final result equals ``parse_output`` of all the text."""
        out: list[StreamEvent] = []
        if not self._done:
            self._done = True
            self._drain(out, final=True)
        result = parse_output("".join(self._text))
        for call, call_id in zip(result.tool_calls, self._ids):
            call.id = call_id
        return out, result


def collect(events: list[StreamEvent]) -> tuple[str | None, list[ToolCall]]:
    """Reassemble events into (content, calls) the way an OpenAI streaming client does."""
    content = "".join(e.text for e in events if e.kind == "content") or None
    calls: dict[int, ToolCall] = {}
    args: dict[int, str] = {}
    for e in events:
        if e.kind == "call_start":
            calls[e.index] = ToolCall(id=e.call_id, function=FunctionCall(name=e.name, arguments="{}"))
            args[e.index] = ""
        elif e.kind == "call_args":
            args[e.index] += e.text
        elif e.kind == "call_invalid":
            calls.pop(e.index, None)
    for i, call in calls.items():
        call.function.arguments = args[i] or "{}"
    return content, [calls[i] for i in sorted(calls)]
