"""The added tokens' rows (``<tool_call>``, ``</tool_call>``) trained without rebuilding the vocabulary.

peft's trainable tokens (``TrainableTokensLayer``) put the trained rows into the model by writing
them into a copy of the whole embedding matrix on every forward pass (``index_copy``: 49154 x 576
for SmolLM2), once for the input embedding and once more for the tied LM head. Under bfloat16
autocast the head's copy is cast again, and the backward pass computes the gradient of the whole
matrix to keep two of its rows. In a profile of the default recipe on 2 cores those copies and
that product were the largest cost of a step after the layers' own products.

``cheap_trainable_tokens`` gives each such layer a forward that reads the frozen matrix as it is
and uses the trained rows only where they count: the input embedding overwrites the positions that
hold a new token, the head computes the new tokens' logits from the trained rows and writes them
over their columns. The head keeps one copy of the matrix in its product's dtype (bfloat16 under
autocast; cast again only if the frozen matrix changes), writes the trained rows into it when they
change, and computes their gradient from their own columns. The same parameters train and are
saved; the loss and the gradients reaching the layers are peft's, bit for bit, and the trained
rows' gradients equal peft's up to the order of floating-point sums. A merged or disabled adapter,
or several active at once, takes peft's own path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def _layers(model: Any) -> list[Any]:
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

    return [m for m in model.modules() if isinstance(m, TrainableTokensLayer)]


class _Cheap:
    """The replacement forward of one ``TrainableTokensLayer`` (kept as an attribute so the layer's
    original forward stays reachable)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.original = layer.forward
        self._lookup: dict[tuple[str, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}
        self._cast: tuple[int, int, torch.dtype, torch.Tensor] | None = None
        self._written: tuple[int, int] | None = None

    def _index(self, name: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(token ids, vocabulary-sized table: a token's row in the delta, or -1)."""
        key = (name, device)
        if key not in self._lookup:
            ids = torch.tensor(self.layer.token_indices[name], device=device)
            table = torch.full((self.layer.base_layer.weight.shape[0],), -1, dtype=torch.long, device=device)
            table[ids] = torch.arange(len(ids), device=device)
            self._lookup[key] = (ids, table)
        return self._lookup[key]

    def _head_weight(self, weight: torch.Tensor, delta: torch.Tensor, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The merged matrix in ``dtype`` (the product's), as peft builds it, without rebuilding it:
        the frozen matrix is cast once per version of it, and the trained rows are written in when
        they have changed since the last write."""
        key = (weight._version, weight.data_ptr(), dtype)
        if self._cast is None or self._cast[:3] != key:
            with torch.no_grad():
                self._cast = (*key, weight.to(dtype, copy=True))
            self._written = None
        merged = self._cast[3]
        # Only when the rows changed (once per optimizer step): a write bumps the copy's version,
        # which a graph still holding it would refuse in its backward pass.
        if self._written != (delta._version, delta.data_ptr()):
            with torch.no_grad():
                merged[ids] = delta.to(dtype)
            self._written = (delta._version, delta.data_ptr())
        return merged

    def __call__(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        layer = self.layer
        active = layer.active_adapters
        base = layer.base_layer
        if (args or kwargs or layer.disable_adapters or layer.merged or len(active) != 1
                or not isinstance(base, (nn.Embedding, nn.Linear))):
            return self.original(x, *args, **kwargs)
        delta = layer.trainable_tokens_delta[active[0]]
        ids, table = self._index(active[0], x.device)
        if isinstance(base, nn.Embedding):
            out = F.embedding(x, base.weight, base.padding_idx, base.max_norm, base.norm_type,
                              base.scale_grad_by_freq, base.sparse)
            at = table[x]
            hit = at >= 0
            if bool(hit.any()):
                out[hit] = delta[at[hit]].to(out.dtype)
            scale = layer._get_embed_scale() if hasattr(layer, "_get_embed_scale") else None
            return out * scale.to(out.dtype) if scale is not None else out
        # A head tied to the embedding (peft wraps it as a Linear): logits without the bias, as peft's.
        device_type = x.device.type
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else x.dtype
        merged = self._head_weight(base.weight, delta, ids, dtype)
        return _MergedHead.apply(x, delta, merged, ids)


class _MergedHead(torch.autograd.Function):
    """``x @ merged.T`` where ``merged`` holds ``delta``'s rows at ``ids``: the product and the input's
    gradient as peft's merged matrix gives them, and ``delta``'s gradient from its own columns
    only (peft computes the whole matrix's gradient and keeps those rows)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, delta: torch.Tensor, merged: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        xc = x.to(merged.dtype)
        ctx.save_for_backward(xc, merged, ids)
        ctx.x_dtype, ctx.delta_dtype = x.dtype, delta.dtype
        return xc @ merged.t()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        xc, merged, ids = ctx.saved_tensors
        grad = grad.to(merged.dtype)
        grad_x = (grad @ merged).to(ctx.x_dtype) if ctx.needs_input_grad[0] else None
        grad_delta = None
        if ctx.needs_input_grad[1]:
            g = grad.reshape(-1, grad.shape[-1]).index_select(1, ids)
            grad_delta = (g.t() @ xc.reshape(-1, xc.shape[-1])).to(ctx.delta_dtype)
        return grad_x, grad_delta, None, None


def cheap_trainable_tokens(model: Any) -> int:
    """Install the cheap forward on every trainable-tokens layer of ``model`` (the input embedding
    and a tied head); returns how many layers got it. Calling it again changes nothing."""
    count = 0
    for layer in _layers(model):
        if not isinstance(layer.forward, _Cheap):
            layer.forward = _Cheap(layer)
            count += 1
    return count
