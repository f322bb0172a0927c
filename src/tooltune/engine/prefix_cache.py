"""Prefix caching: keep the KV cache of recent token sequences and reuse the longest shared
prefix for a new prompt. Agents send the same tools (rendered first, in the system turn) and the
same history every turn, so most of a prompt is usually cached.

Stored tensors are never written to: the transformers DynamicCache appends by concatenation
(new tensors) and crops by slicing, so entries can be shared without copying.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import numpy as np


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    diff = np.nonzero(a[:n] != b[:n])[0]
    return int(diff[0]) if len(diff) else n


class PrefixCache:
    """LRU of (token ids -> per-layer (keys, values)) with at most ``max_entries`` entries."""

    def __init__(self, max_entries: int = 8) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[int, tuple[np.ndarray, list[tuple[Any, Any]]]] = OrderedDict()
        self._next = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, ids: Sequence[int]) -> tuple[int, list[tuple[Any, Any]] | None]:
        """(n, layers): the first ``n`` tokens of ``ids`` have cached KV in ``layers`` (sliced to n).
        ``n`` stays below ``len(ids)`` so the caller always runs the model on at least one token."""
        if self.max_entries <= 0 or not self._entries:
            return 0, None
        query = np.asarray(ids, dtype=np.int64)
        best_key, best_n = None, 0
        for key, (tokens, _) in self._entries.items():
            n = common_prefix(tokens, query)
            if n > best_n:
                best_key, best_n = key, n
        best_n = min(best_n, len(ids) - 1)
        if best_key is None or best_n <= 0:
            return 0, None
        self._entries.move_to_end(best_key)
        _, layers = self._entries[best_key]
        return best_n, [(k[..., :best_n, :], v[..., :best_n, :]) for k, v in layers]

    def store(self, ids: Sequence[int], layers: list[tuple[Any, Any]]) -> None:
        """Remember the KV of ``ids`` (``layers`` must hold exactly len(ids) positions)."""
        if self.max_entries <= 0 or not ids:
            return
        tokens = np.asarray(ids, dtype=np.int64)
        for key, (old, _) in list(self._entries.items()):
            if len(old) <= len(tokens) and common_prefix(old, tokens) == len(old):
                del self._entries[key]  # the new entry extends it
            elif len(old) > len(tokens) and common_prefix(old, tokens) == len(tokens):
                self._entries.move_to_end(key)
                return  # already covered by a longer entry
        self._entries[self._next] = (tokens, layers)
        self._next += 1
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
