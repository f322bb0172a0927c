"""One KV cache for every sequence being decoded, so a single forward pass advances them all.

Layout: per layer a preallocated ``[rows, kv_heads, columns, head_dim]`` buffer. All rows share
the column index (each step appends the same number of columns to every row); a 2-D attention
mask says which (row, column) holds a real token of that row, so rows of different lengths,
left padding, rolled-back tokens and idle rows simply sit under a 0 in the mask. Positions are
per row. Writing in place also spares the copy of the whole cache that ``torch.cat`` costs per
token in transformers' DynamicCache.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class _SlotLayer(DynamicLayer):
    """A cache layer that writes into a shared buffer and returns a view (no concatenation)."""

    def __init__(self, kbuf: torch.Tensor, vbuf: torch.Tensor, used: int) -> None:
        super().__init__()
        self.kbuf, self.vbuf, self.used = kbuf, vbuf, used
        self.dtype, self.device = kbuf.dtype, kbuf.device
        self.is_initialized = True
        self.keys, self.values = kbuf[:, :, :used], vbuf[:, :, :used]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        t = key_states.shape[-2]
        self.kbuf[:, :, self.used:self.used + t] = key_states
        self.vbuf[:, :, self.used:self.used + t] = value_states
        self.used += t
        self.keys, self.values = self.kbuf[:, :, :self.used], self.vbuf[:, :, :self.used]
        return self.keys, self.values


class DecodeBatch:
    """Rows of sequences sharing one slotted KV cache. Not thread-safe: the engine's worker owns it."""

    def __init__(self, model: Any, pad_id: int = 0) -> None:
        self.model = model
        self.pad_id = pad_id
        self.rows: list[Any] = []  # the owner object per row, None when free
        self.lengths: list[int] = []  # real tokens per row (= next position id)
        self.pos = 0  # columns used
        self.kbufs: list[torch.Tensor] = []
        self.vbufs: list[torch.Tensor] = []
        self.mask = torch.zeros(0, 0, dtype=torch.long)

    # ---- layout -----------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self.mask.shape[1]

    def _rebuild(self, rows: int, pos: int, capacity: int, like: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Re-lay the buffers: ``rows`` rows, ``pos`` columns used, room for ``capacity``.
        Existing rows are compacted to their real tokens, right-aligned at column ``pos``."""
        old_rows = [i for i, r in enumerate(self.rows) if r is not None]
        kbufs, vbufs = [], []
        for layer, (k, _) in enumerate(like):
            shape = (rows, k.shape[1], capacity, k.shape[3])
            kbufs.append(torch.zeros(shape, dtype=k.dtype))
            vbufs.append(torch.zeros(shape, dtype=k.dtype))
        mask = torch.zeros(rows, capacity, dtype=torch.long)
        new_rows: list[Any] = [None] * rows
        new_lengths = [0] * rows
        for new_i, old_i in enumerate(old_rows):
            cols = torch.nonzero(self.mask[old_i, :self.pos]).flatten()
            n = len(cols)
            for layer in range(len(kbufs)):
                kbufs[layer][new_i, :, pos - n:pos] = self.kbufs[layer][old_i, :, cols]
                vbufs[layer][new_i, :, pos - n:pos] = self.vbufs[layer][old_i, :, cols]
            mask[new_i, pos - n:pos] = 1
            new_rows[new_i] = self.rows[old_i]
            new_lengths[new_i] = self.lengths[old_i]
            self.rows[old_i].row = new_i
        self.kbufs, self.vbufs, self.mask = kbufs, vbufs, mask
        self.rows, self.lengths, self.pos = new_rows, new_lengths, pos

    def _live_lengths(self) -> list[int]:
        return [int(self.mask[i, :self.pos].sum()) for i, r in enumerate(self.rows) if r is not None]

    def add(self, owner: Any, layers: list[tuple[torch.Tensor, torch.Tensor]], length: int) -> None:
        """Seat ``owner`` (it gets ``owner.row``) with its prompt KV ``layers`` ([1, H, length, D])."""
        live = self._live_lengths()
        if not live and self._reusable(layers, length):
            # The buffers kept from the last sequence: seating costs one copy, no allocation. The
            # other columns hold old finite values under a 0 in the mask.
            self.rows, self.lengths, self.pos = [None], [0], length  # a kept buffer has one row
            self.mask.zero_()
        elif not live:
            self.rows, self.lengths, self.pos = [], [], 0
        free = [i for i, r in enumerate(self.rows) if r is None]
        wasteful = bool(live) and self.pos > 2 * max(live + [length]) + 64
        if not free or length > self.pos or self.pos + 16 > self.capacity or wasteful:
            # Re-lay (copies every live row once): exactly one free row, columns for the longest.
            pos = max(live + [length])
            self._rebuild(len(live) + 1, pos, pos + 96 + pos // 4, layers)
            free = [i for i, r in enumerate(self.rows) if r is None]
        row = free[0]
        for layer, (k, v) in enumerate(layers):
            self.kbufs[layer][row, :, self.pos - length:self.pos] = k[0]
            self.vbufs[layer][row, :, self.pos - length:self.pos] = v[0]
        self.mask[row, :] = 0
        self.mask[row, self.pos - length:self.pos] = 1
        self.rows[row] = owner
        self.lengths[row] = length
        owner.row = row

    def _reusable(self, layers: list[tuple[torch.Tensor, torch.Tensor]], length: int) -> bool:
        """Whether the kept buffers take a sequence of ``length`` tokens like ``layers`` (with
        room to decode before a re-lay). Only a one-row buffer: every row of a shared pass is
        computed, so spare rows would cost a whole row each."""
        if not self.kbufs or len(self.kbufs) != len(layers) or self.kbufs[0].shape[0] != 1:
            return False
        k, buf = layers[0][0], self.kbufs[0]
        return (k.shape[1], k.shape[3], k.dtype) == (buf.shape[1], buf.shape[3], buf.dtype) and \
            length + 96 <= self.capacity

    def release(self) -> None:
        """Free the buffers kept after the last sequence left (call while idle)."""
        if not self.live():
            self.rows, self.lengths, self.pos = [], [], 0
            self.kbufs, self.vbufs = [], []
            self.mask = torch.zeros(0, 0, dtype=torch.long)

    def remove(self, owner: Any) -> None:
        """Free a row. Idle rows still cost a token of compute per step, so when they outnumber
        the live ones the batch is compacted. The last one out leaves the buffers for the next
        sequence (``release`` frees them)."""
        self.rows[owner.row] = None
        self.mask[owner.row, :] = 0
        live = self._live_lengths()
        if not live:
            self.rows, self.lengths, self.pos = [], [], 0
        elif len(self.rows) - len(live) > len(live):
            pos = max(live)
            self._rebuild(len(live), pos, pos + 96 + pos // 4, list(zip(self.kbufs, self.vbufs)))

    def rollback(self, owner: Any, n: int) -> None:
        """Forget the last ``n`` real tokens of a row (their columns are masked out)."""
        if n <= 0:
            return
        cols = torch.nonzero(self.mask[owner.row, :self.pos]).flatten()
        self.mask[owner.row, cols[-n:]] = 0
        self.lengths[owner.row] -= n

    def extract(self, owner: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A row's real KV as contiguous [1, H, n, D] tensors (for the prefix cache)."""
        cols = torch.nonzero(self.mask[owner.row, :self.pos]).flatten()
        return [(k[owner.row:owner.row + 1, :, cols], v[owner.row:owner.row + 1, :, cols])
                for k, v in zip(self.kbufs, self.vbufs)]

    def length(self, owner: Any) -> int:
        return self.lengths[owner.row]

    def live(self) -> int:
        """Rows with a sequence in them (free rows wait for compaction and do not count)."""
        return sum(r is not None for r in self.rows)

    # ---- the forward pass -------------------------------------------------------------

    def step(self, feeds: dict[Any, list[int]]) -> dict[Any, torch.Tensor]:
        """Run every fed row's new tokens in one pass; returns each owner's next-token logits
        (and its draft's, see ``owner.draft``). Rows fed fewer tokens than the widest are padded
        (masked out); a lone row runs over a view of its own row only."""
        if len(feeds) == 1:
            (owner,) = feeds
            return self._pass(feeds, only=owner)
        return self._pass(feeds)

    def _pass(self, feeds: dict[Any, list[int]], only: Any = None) -> dict[Any, torch.Tensor]:
        width = max(len(t) for t in feeds.values())
        if self.pos + width > self.capacity:
            live = self._live_lengths()
            pos = max(live)
            self._rebuild(len(self.rows), pos, pos + width + 96 + pos // 4,
                          list(zip(self.kbufs, self.vbufs)))
        row_ids = [only.row] if only is not None else list(range(len(self.rows)))
        rows = len(row_ids)
        first = row_ids[0]
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        positions = torch.zeros(rows, width, dtype=torch.long)
        self.mask[:, self.pos:self.pos + width] = 0
        for j, i in enumerate(row_ids):
            owner = self.rows[i]
            tokens = feeds.get(owner) if owner is not None else None
            base = self.lengths[i]
            positions[j] = torch.arange(base, base + width)
            if tokens:
                ids[j, :len(tokens)] = torch.tensor(tokens)
                self.mask[i, self.pos:self.pos + len(tokens)] = 1
            else:
                self.mask[i, self.pos] = 1  # idle rows attend to a pad token so no attention row is empty
        sl = slice(first, first + rows)  # a view: writes land in the shared buffers
        cache = DynamicCache()
        cache.layers = [_SlotLayer(k[sl], v[sl], self.pos) for k, v in zip(self.kbufs, self.vbufs)]
        # Logits only where they are read: a single row's last token (plus its draft), every
        # column when rows of different widths share the pass.
        keep = 1 + len(getattr(only, "draft", ()) or ()) if only is not None else width
        out = self.model(input_ids=ids, attention_mask=self.mask[sl, :self.pos + width], position_ids=positions,
                         past_key_values=cache, use_cache=True, logits_to_keep=keep)
        logits = out.logits  # the last ``keep`` columns
        skipped = width - keep
        result = {}
        for j, i in enumerate(row_ids):
            owner = self.rows[i]
            tokens = feeds.get(owner) if owner is not None else None
            if tokens:
                # A speculative draft needs the logits of its positions too (``owner.draft``).
                n = 1 + len(getattr(owner, "draft", ()) or ())
                end = len(tokens) - skipped
                result[owner] = logits[j, end - n:end].float() if n > 1 else logits[j, end - 1].float()
                self.lengths[i] += len(tokens)
            else:
                self.mask[i, self.pos:self.pos + width] = 0
        self.pos += width
        return result
