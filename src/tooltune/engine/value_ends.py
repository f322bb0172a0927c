"""Drafts for what follows an argument's value: ``"}}</tool_call>`` after a title, ``,"title":"``
after a task id.

Prompt lookup copies a value from the user's message (``go to the bakery``) and stops where the
message goes on with words the grammar refuses. The call's next tokens (close the string, close the
call, or open the next argument) are structure, but n-gram history cannot propose them: its context
ends with the value's last words, which no earlier output had. So the engine keeps, per tool and
argument, which tokens followed the argument's value in recent calls, up to the next value or the
end of the call. Drafted after a copied value, they let the pass that checks the copy also check the
call's end, saving the pass that would otherwise decide it.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, deque
from typing import Sequence

from tooltune.core.format.tokens import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

from .output_history import confident

MIN_COUNT = 2
"""A follow-up is proposed once it followed the argument at least this many times..."""

MIN_SHARE = 0.3
"""...and at least this share of the time. Lower than ``OutputHistory``'s bar: the draft rides on
a pass that runs anyway, so a wrong guess costs a few token slots while a right one saves a pass."""

NAME = "\x00name"
"""The argument key under which the runs after a call's name are counted."""

_NAME = re.compile(re.escape(TOOL_CALL_OPEN) + r'\s*\{\s*"name"\s*:\s*"([^"\\]*)"')
"""A call's opening up to the closing quote of its name."""

_SCALAR = frozenset("-+.eE0123456789abcdefghijklmnopqrstuvwxyz")


def argument_values(text: str) -> list[tuple[str | None, str, int, int | None]]:
    """Every argument value in the tool calls of ``text`` as (tool name, argument, start, end):
    ``start`` is the offset of the value's first character (a string's opening quote), ``end`` the
    offset just past it, None for a value still open where the text (or its call) stops."""
    found: list[tuple[str | None, str, int, int | None]] = []
    pos = 0
    while (i := text.find(TOOL_CALL_OPEN, pos)) >= 0:
        start = i + len(TOOL_CALL_OPEN)
        close = text.find(TOOL_CALL_CLOSE, start)
        stop = close if close >= 0 else len(text)
        found.extend(_scan_call(text, start, stop))
        pos = stop
    return found


def _scan_call(text: str, start: int, stop: int) -> list[tuple[str | None, str, int, int | None]]:
    """``argument_values`` of one call's JSON (``text[start:stop]``): a small JSON scanner that
    never raises (the text is model output, possibly cut off)."""
    stack: list[list] = []  # per open container: [is_object, current key, expecting a key]
    name: str | None = None
    found: list[list] = []  # [argument, start, end]
    in_string = escaped = False
    string_start = 0
    scalar = False

    def in_arguments() -> bool:
        return len(stack) == 2 and stack[0][0] and stack[0][1] == "arguments" and stack[1][0]

    for i in range(start, stop):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
                frame = stack[-1] if stack else None
                if frame is not None and frame[0] and frame[2]:  # an object key
                    frame[1], frame[2] = text[string_start + 1:i], False
                elif len(stack) == 1 and stack[0][1] == "name":
                    name = text[string_start + 1:i]
                elif in_arguments():
                    found[-1][2] = i + 1
            continue
        if scalar:
            if c in _SCALAR:
                continue
            scalar = False
            if in_arguments():
                found[-1][2] = i
        if c == '"':
            frame = stack[-1] if stack else None
            if not (frame is not None and frame[0] and frame[2]) and in_arguments():
                found.append([stack[1][1], i, None])
            in_string, string_start = True, i
        elif c in "{[":
            if in_arguments():
                found.append([stack[1][1], i, None])
            stack.append([c == "{", None, c == "{"])
        elif c in "}]":
            if stack:
                stack.pop()
            if in_arguments() and found and found[-1][2] is None:
                found[-1][2] = i + 1  # an object or array value closed
            if not stack:
                break
        elif c == ",":
            if stack and stack[-1][0]:
                stack[-1][2] = True
        elif c in _SCALAR:
            if in_arguments():
                found.append([stack[1][1], i, None])
            scalar = True
    return [(name, key, s, e) for key, s, e in found]


def _run_start(text: str, end: int) -> int:
    """Where the run after a value ending at ``end`` starts: a string's closing quote (the token
    holding it opens the run), or the character after a number."""
    return end - 1 if text[end - 1] == '"' else end


def _offsets(pieces: Sequence[str]) -> list[int]:
    """Where each piece starts in their concatenation, and where the last one ends."""
    starts = [0]
    for p in pieces:
        starts.append(starts[-1] + len(p))
    return starts


class ValueEnds:
    """Per (tool, argument): counts of the token runs that followed its value in recent calls."""

    def __init__(self, max_entries: int = 1024, min_count: int = MIN_COUNT, min_share: float = MIN_SHARE) -> None:
        self.min_count = min_count
        self.min_share = min_share
        self._entries: deque[tuple[tuple[str | None, str], tuple[int, ...]]] = deque(maxlen=max_entries)
        self._counts: dict[tuple[str | None, str], Counter[tuple[int, ...]]] = {}
        self._texts: dict[tuple[tuple[str | None, str], tuple[int, ...]], str] = {}
        """Each counted run's text (``resume`` matches by text)."""

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, tokens: Sequence[int], pieces: Sequence[str]) -> None:
        """Count what followed each finished argument value, and each call's name, in a completion
        (``pieces``: each token's text). A run starts at the token that opens with the value's end
        (the closing quote, or the character after a number) and ends with the token that opens
        the next value, or with ``</tool_call>``; values whose end shares a token with their
        content are skipped. After a name, the key is ``(name, NAME)``."""
        starts = _offsets(pieces)
        text = "".join(pieces)
        values = argument_values(text)
        ends = [(tool, key, _run_start(text, end), end)
                for tool, key, _, end in values if end is not None]
        ends += [(m.group(1), NAME, m.end() - 1, m.end()) for m in _NAME.finditer(text)]
        for tool, key, closing, end in ends:
            first = bisect.bisect_right(starts, closing) - 1
            if first >= len(tokens) or starts[first] != closing:
                continue
            close_at = text.find(TOOL_CALL_CLOSE, end)
            nxt = next((v for v in values if v[2] >= end), None)
            if nxt is not None and (close_at < 0 or nxt[2] < close_at):
                last = bisect.bisect_right(starts, nxt[2]) - 1  # the token holding the next value's first character
                if starts[last + 1] != nxt[2] + 1 or text[nxt[2]] != '"':
                    last -= 1  # it holds content too: the run stops before it
            elif close_at >= 0:
                last = bisect.bisect_right(starts, close_at + len(TOOL_CALL_CLOSE) - 1) - 1
            else:
                continue
            if last < first:
                continue
            self._count((tool, key), tuple(tokens[first:last + 1]), "".join(pieces[first:last + 1]))

    def _count(self, key: tuple[str | None, str], run: tuple[int, ...], text: str) -> None:
        if len(self._entries) == self._entries.maxlen:
            old_key, old_run = self._entries[0]
            counts = self._counts[old_key]
            counts[old_run] -= 1
            if counts[old_run] <= 0:
                del counts[old_run]
                del self._texts[old_key, old_run]
                if not counts:
                    del self._counts[old_key]
        self._entries.append((key, run))
        self._counts.setdefault(key, Counter())[run] += 1
        self._texts[key, run] = text

    def follow(self, tool: str | None, argument: str) -> list[int]:
        """The usual run after ``argument``'s value in calls of ``tool``, or [] (none common enough)."""
        run = confident(self._counts.get((tool, argument), {}), self.min_count, self.min_share)
        return list(run) if run is not None else []

    def after_copy(self, pieces: Sequence[str], copied: int, stopped: bool) -> tuple[int, list[int]]:
        """For an output (``pieces``: each token's text) whose last ``copied`` tokens are a draft
        copied from the prompt: ``(drop, run)``, drop the draft's last ``drop`` tokens, then draft
        ``run``. The run follows an argument value that the copy ends (``stopped``: the prompt
        went on with a token the call refused) or passes the end of (``"task_id":382,`` copied
        from ``382, change ...``: cut back to ``382``); (0, []) otherwise."""
        text = "".join(pieces)
        values = argument_values(text)
        if not values:
            return 0, []
        tool, argument, _, end = values[-1]
        if end is None:
            return 0, self.follow(tool, argument) if stopped else []
        starts = _offsets(pieces)
        first_copied = len(pieces) - copied
        closing = _run_start(text, end)
        j = bisect.bisect_left(starts, closing)
        if closing < starts[first_copied] or j >= len(pieces) or starts[j] != closing:
            return 0, []  # closed before the copy, or inside a token that holds value text too
        return len(pieces) - j, self.follow(tool, argument)

    def resume(self, pieces: Sequence[str]) -> str:
        """The rest of the usual run, as text, when an output stopped partway through one: the
        model ended a value and took a turn the drafted run did not (``","`` where
        ``"}}</tool_call>`` was drafted), or ended it itself (a lone ``"``). Among the runs that
        followed the value and begin with the text since its end, the confident one's remaining
        text (``due_date":"``, ``}}</tool_call>``), or "". Text, not tokens: the model may have
        split the run differently (``"`` then ``}}`` where the run was ``"}}``)."""
        text = "".join(pieces)
        call = text.rfind(TOOL_CALL_OPEN)
        if call < 0 or call < text.rfind(TOOL_CALL_CLOSE):
            return ""
        values = [v for v in argument_values(text) if v[2] > call]
        if values:
            tool, argument, _, end = values[-1]
            if end is None:
                return ""
            done = text[_run_start(text, end):]
        else:  # after the call's name: its usual arguments' opening (``{"status":"``)
            name = _NAME.match(text, call)
            if name is None:
                return ""
            tool, argument, done = name.group(1), NAME, text[name.end() - 1:]
        runs: Counter[str] = Counter()
        for run, k in self._counts.get((tool, argument), {}).items():
            run_text = self._texts[(tool, argument), run]
            if len(run_text) > len(done) and run_text.startswith(done):
                runs[run_text] += k
        run_text = confident(runs, self.min_count, self.min_share)
        return run_text[len(done):] if run_text is not None else ""
