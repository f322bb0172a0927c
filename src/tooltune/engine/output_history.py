"""Drafts from the engine's own recent outputs (suffix decoding, as in SuffixDecoding/Arctic).

An agent's tool calls repeat their structure from turn to turn: ``"}}</tool_call>`` after a
string value, ``","due_date":"`` after a title, the same ids and statuses. Prompt lookup cannot
propose those tokens (they are not in the user's message), but the last completions hold them.
The history counts, for every recent n-gram of output tokens, which token followed it; a draft
grows while the longest matching n-gram names one follower confidently. The engine keeps a
draft only as far as greedy decoding agrees, so outputs do not change (up to float rounding,
see ``hf_engine.SPECULATE_TOKENS``), only the number of
forward passes. Drafting is not free (a pass over several tokens costs more than over one), so
only confident predictions are proposed.
"""

from __future__ import annotations

from collections import deque
from typing import Mapping, Sequence, TypeVar

K = TypeVar("K")

MAX_NGRAM = 4
"""Longest context matched; the longest n-gram seen before decides."""

MIN_SHARE = 0.6
"""A follower is proposed when it followed the n-gram at least this share of the time..."""

MIN_COUNT = 2
"""...and at least this many times."""


def confident(counts: Mapping[K, int], min_count: int, min_share: float) -> K | None:
    """The most frequent key of ``counts`` if it was seen at least ``min_count`` times and makes
    at least ``min_share`` of all; else None."""
    if not counts:
        return None
    key, k = max(counts.items(), key=lambda item: item[1])
    return key if k >= min_count and k >= min_share * sum(counts.values()) else None


class OutputHistory:
    """Next-token counts over the n-grams of the last ``max_outputs`` completions (token ids)."""

    def __init__(self, max_outputs: int = 256, max_ngram: int = MAX_NGRAM,
                 min_share: float = MIN_SHARE, min_count: int = MIN_COUNT) -> None:
        self.max_outputs = max_outputs
        self.max_ngram = max_ngram
        self.min_share = min_share
        self.min_count = min_count
        self._outputs: deque[tuple[int, ...]] = deque()
        self._next: dict[tuple[int, ...], dict[int, int]] = {}

    def __len__(self) -> int:
        return len(self._outputs)

    def add(self, tokens: Sequence[int]) -> None:
        """Count a completion; the oldest is forgotten past ``max_outputs``."""
        if self.max_outputs <= 0 or len(tokens) < 2:
            return
        out = tuple(tokens)
        self._outputs.append(out)
        self._count(out, 1)
        if len(self._outputs) > self.max_outputs:
            self._count(self._outputs.popleft(), -1)

    def _count(self, out: tuple[int, ...], sign: int) -> None:
        for end in range(1, len(out)):  # the n-grams ending at end-1, followed by out[end]
            for n in range(1, min(self.max_ngram, end) + 1):
                key = out[end - n:end]
                followers = self._next.setdefault(key, {})
                k = followers.get(out[end], 0) + sign
                if k > 0:
                    followers[out[end]] = k
                else:
                    followers.pop(out[end], None)
                    if not followers:
                        del self._next[key]

    def predict(self, context: Sequence[int]) -> int | None:
        """The confident follower of the longest n-gram of ``context`` seen before, or None."""
        for n in range(min(self.max_ngram, len(context)), 0, -1):
            followers = self._next.get(tuple(context[len(context) - n:]))
            if followers:
                return confident(followers, self.min_count, self.min_share)
        return None

    def propose(self, context: Sequence[int], limit: int) -> list[int]:
        """Up to ``limit`` tokens predicted one after another from ``context``."""
        ctx = list(context[-self.max_ngram:])
        out: list[int] = []
        while len(out) < limit:
            token = self.predict(ctx)
            if token is None:
                break
            out.append(token)
            ctx = (ctx + [token])[-self.max_ngram:]
        return out
