"""One forward pass for every sequence in flight: prompts being prefilled and replies being
decoded advance together, their new tokens laid end to end in one row ("ragged", no padding).

Each sequence keeps its own KV buffers per layer (``[kv_heads, capacity, head_dim]``, grown by a
copy when full). The model runs its projections and MLPs over all the pass's tokens as one
sequence; attention runs per sequence over that sequence's own buffer
(``tooltune.engine.attention``). A sequence fed 1 token next to one fed 40 costs 41 token-slots,
not 2 x 40, and a sequence that joins or leaves copies nobody else's cache. The padded layout
this replaces (one column index shared by all rows) ran every row to the widest row's width, and
in an 8-client run on two cores spent 12% of the time re-laying the cache as requests came and went.

A sequence writes only at positions at or past its length, and its length never drops below its
prompt: the prefix cache may keep views of a prompt's keys and values.
"""

from __future__ import annotations

from typing import Any

import torch

GROWTH = 96
"""Spare positions a buffer gets beyond what it holds (plus a quarter), so decoding rarely copies."""


class _Sequence:
    """A sequence's KV buffers, one per layer, and how many positions are real."""

    __slots__ = ("keys", "values", "length", "capacity")

    def __init__(self) -> None:
        self.keys: list[torch.Tensor | None] = []
        self.values: list[torch.Tensor | None] = []
        self.length = 0
        self.capacity = 0

    def reserve(self, needed: int) -> None:
        """Room for ``needed`` positions: layers already allocated move to larger buffers."""
        if needed <= self.capacity:
            return
        capacity = needed + GROWTH + needed // 4
        for buffers in (self.keys, self.values):
            for i, old in enumerate(buffers):
                if old is not None:
                    new = old.new_empty(old.shape[0], capacity, old.shape[2])
                    new[:, :self.length] = old[:, :self.length]
                    buffers[i] = new
        self.capacity = capacity

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Store ``[kv_heads, n, head_dim]`` new positions at ``length`` (which moves on after the pass)."""
        while len(self.keys) <= layer:
            self.keys.append(None)
            self.values.append(None)
        if self.keys[layer] is None:
            shape = (keys.shape[0], self.capacity, keys.shape[2])
            self.keys[layer] = keys.new_empty(shape)
            self.values[layer] = values.new_empty(shape)
        n = keys.shape[1]
        self.keys[layer][:, self.length:self.length + n] = keys
        self.values[layer][:, self.length:self.length + n] = values


class RaggedPass:
    """The sequences of one forward pass: ``(sequence, start, n)``, the ``n`` new tokens at
    ``start`` of the pass. The model gets it as its cache (``update`` files each sequence's new keys
    and values) and the attention gets it as the ``ragged`` keyword (``attend``)."""

    def __init__(self, segments: list[tuple[_Sequence, int, int]]) -> None:
        self.segments = segments
        self._masks: dict[tuple[int, int | None], torch.Tensor | None] = {}

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        for seq, start, n in self.segments:
            seq.write(layer_idx, key_states[0, :, start:start + n], value_states[0, :, start:start + n])
        return key_states, value_states

    def get_seq_length(self, layer_idx: int = 0) -> int:
        # Read only by models that derive positions from the cache; the engine passes position_ids.
        return 0

    def mask(self, i: int, window: int | None) -> torch.Tensor | None:
        """Segment ``i``'s attention mask over its sequence's positions (None: attend to all):
        causal among the new tokens, and within ``window`` positions on sliding-window layers."""
        key = (i, window)
        if key not in self._masks:
            seq, _, n = self.segments[i]
            total = seq.length + n
            if n == 1 and (window is None or total <= window):
                self._masks[key] = None
            else:
                cols = torch.arange(total)
                rows = torch.arange(seq.length, total).unsqueeze(1)
                allowed = cols <= rows
                if window is not None:
                    allowed &= cols > rows - window
                self._masks[key] = allowed
        return self._masks[key]

    def attend(self, layer: int, query: torch.Tensor, scaling: float | None, window: int | None) -> torch.Tensor:
        """Attention of every segment's queries (``query``: [1, heads, tokens, head_dim]) over its
        own sequence; [1, tokens, heads, head_dim] as transformers' attention functions return it."""
        outs = []
        for i, (seq, start, n) in enumerate(self.segments):
            end = seq.length + n
            keys = seq.keys[layer][:, :end].unsqueeze(0)
            values = seq.values[layer][:, :end].unsqueeze(0)
            q = query[:, :, start:start + n]
            outs.append(torch.nn.functional.scaled_dot_product_attention(
                q, keys, values, attn_mask=self.mask(i, window), scale=scaling,
                enable_gqa=keys.shape[1] != q.shape[1]))
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
        return out.transpose(1, 2).contiguous()


_NO_MASK = torch.ones(1, 1, 1, 1, dtype=torch.bool)
"""Handed to the model as a ready 4-D mask so transformers builds none: ``RaggedPass`` masks per sequence."""


class RaggedBatch:
    """The sequences the engine is running, by owner. Not thread-safe: the engine's worker owns it."""

    def __init__(self, model: Any) -> None:
        from .bf16_head import head_of

        self.model = model
        self._seqs: dict[Any, _Sequence] = {}
        self.head = head_of(model)
        """The model's ``BFloat16Head``, if it has one: its logits are exact only at each row's
        unconstrained top, and a masked choice settles its row with the hidden state."""
        self.hidden: dict[Any, torch.Tensor] = {}
        """Each owner's hidden rows behind the last ``step``'s logits (with a ``BFloat16Head``)."""

    def add(self, owner: Any, layers: list[tuple[torch.Tensor, torch.Tensor]] | None, length: int) -> None:
        """Seat ``owner`` with the keys/values of its first ``length`` prompt tokens (``layers``:
        [1, kv_heads, length, head_dim] per layer, from the prefix cache; None when ``length`` is 0)."""
        seq = _Sequence()
        seq.reserve(length + 1)
        if layers:
            for i, (k, v) in enumerate(layers):
                seq.write(i, k[0, :, :length], v[0, :, :length])
        seq.length = length
        self._seqs[owner] = seq

    def remove(self, owner: Any) -> None:
        self._seqs.pop(owner, None)

    def rollback(self, owner: Any, n: int) -> None:
        """Forget the last ``n`` positions of a sequence (the next pass writes over them)."""
        if n > 0:
            self._seqs[owner].length -= n

    def length(self, owner: Any) -> int:
        return self._seqs[owner].length

    def live(self) -> int:
        return len(self._seqs)

    def extract(self, owner: Any, length: int | None = None, copy: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The first ``length`` positions (default: all) of a sequence's keys/values per layer,
        [1, kv_heads, length, head_dim]: views into its buffers, or compact copies (``copy``) for
        an entry that outlives the sequence without keeping its spare capacity alive."""
        seq = self._seqs[owner]
        n = seq.length if length is None else length
        out = []
        for k, v in zip(seq.keys, seq.values):
            k, v = k[:, :n].unsqueeze(0), v[:, :n].unsqueeze(0)
            out.append((k.clone(), v.clone()) if copy else (k, v))
        return out

    def step(self, feeds: dict[Any, list[int]], keep: dict[Any, int]) -> dict[Any, torch.Tensor]:
        """Run every fed sequence's new tokens in one pass; returns each owner's logits at its last
        ``keep[owner]`` positions, [keep, vocab] (a draft needs the logits of its positions too)."""
        segments, ids, positions, picks = [], [], [], []
        for owner, tokens in feeds.items():
            seq = self._seqs[owner]
            n = len(tokens)
            seq.reserve(seq.length + n)
            start = len(ids)
            segments.append((seq, start, n))
            ids.extend(tokens)
            positions.extend(range(seq.length, seq.length + n))
            picks.extend(range(start + n - keep[owner], start + n))
        ragged = RaggedPass(segments)
        out = self.model(input_ids=torch.tensor([ids]), position_ids=torch.tensor([positions]),
                         attention_mask=_NO_MASK, past_key_values=ragged, use_cache=True,
                         logits_to_keep=torch.tensor(picks), ragged=ragged)
        logits = out.logits[0]
        hidden = self.head.hidden if self.head is not None else None
        self.hidden = {}
        result, i = {}, 0
        for (owner, tokens), (seq, _, n) in zip(feeds.items(), segments):
            result[owner] = logits[i:i + keep[owner]].float()
            if hidden is not None:
                self.hidden[owner] = hidden[i:i + keep[owner]]
            i += keep[owner]
            seq.length += n
        return result
