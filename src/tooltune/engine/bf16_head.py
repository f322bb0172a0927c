"""The LM head as a bfloat16 product that still makes float32's greedy choices.

On SmolLM2 the head is a 49152 x 576 product: in float32 it takes 10.6 ms for one row and 16-23
ms for the 4-16 rows a draft or a shared pass keeps, on 2 cores here, a fifth to a third of a
decode pass; in bfloat16 3.7-5.6 ms. Plain bfloat16 logits flip near-ties, though: on 1800
positions of held-out prompts 10 greedy choices differed from float32's.

So every logit is first computed in bfloat16, with an error bound: rounding the hidden state
and the weight row to bfloat16 costs at most ``2^-7 * |h| * |w_j|`` (two relative roundings of
``2^-8`` per product, Cauchy-Schwarz over the sum), and the product's own rounding of its
output to bfloat16 ``2^-8 * |logit|``. A token whose bfloat16 logit is more than twice the
bound below the best one cannot win; the few that can (usually one, at most a thousand or so
on a flat distribution) get their exact float32 logit from their weight rows alone. The
argmax of what comes out is then float32's argmax. A grammar mask changes which tokens
compete, so a masked choice settles its row again (``settle``) over the allowed tokens;
sampling at a temperature reads the whole float32 row (``exact``).
"""

from __future__ import annotations

import torch
from torch import nn

_U = 2.0 ** -8
"""bfloat16's unit roundoff (8 significant bits)."""

_PRODUCT = 2 * _U + 2.0 ** -11
"""Relative error of the bfloat16 dot products before the output rounding: both factors
rounded, plus room for the float32 accumulation (576 terms here: ~2^-15)."""


class BFloat16Head(nn.Module):
    """A bias-free LM head: bfloat16 product, float32 weight kept for the exact logits it
    recomputes (tied to the input embedding, so it costs nothing extra). ``hidden`` holds the
    rows of the last call, aligned with its logits rows, for ``settle`` and ``exact``."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        if linear.bias is not None:
            raise ValueError("BFloat16Head takes a head without a bias")
        self.weight = linear.weight
        self.register_buffer("weight_bf16", linear.weight.detach().to(torch.bfloat16).contiguous(),
                             persistent=False)
        self.row_norm = linear.weight.detach().float().norm(dim=1)
        """Each weight row's length, for the per-token bound (a vocabulary's worth of floats)."""
        self.max_row_norm = float(self.row_norm.max())
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.hidden: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).float()
        logits = nn.functional.linear(flat.to(torch.bfloat16), self.weight_bf16).float()
        self.hidden = flat
        self.settle(logits, flat)
        return logits.reshape(*x.shape[:-1], self.out_features)

    def settle(self, logits: torch.Tensor, hidden: torch.Tensor) -> None:
        """Make the argmax of each row of ``logits`` ([rows, vocab] or [vocab], from this head;
        entries masked to -inf stay out) float32's argmax over the same entries: the entries
        that could still win get their exact logits, in place."""
        rows, h = logits.view(-1, logits.shape[-1]), hidden.view(-1, self.in_features)
        top2, best = rows.topk(2, dim=1)
        top = top2[:, 0]
        scale = _PRODUCT * h.norm(dim=1)
        # The widest bound (every weight row at the longest's norm; a candidate's |logit| is
        # below |top| + 2 bounds): most rows' runner-up is further below, and nothing can flip.
        loose = (scale * self.max_row_norm + _U * top.abs()) / (1 - 2 * _U)
        open_rows = torch.nonzero(top2[:, 1] >= top - 2 * loose).flatten().tolist()  # -inf (masked) never is
        for r in open_rows:
            j = torch.nonzero(rows[r] >= top[r] - 2 * loose[r]).flatten()
            # Each candidate's own bound: it could win only if its logit plus its bound reaches
            # the top's logit less the top's bound.
            c = rows[r, j]
            k = best[r, 0]
            reach = c + scale[r] * self.row_norm[j] + _U * c.abs()
            j = j[reach >= top[r] - scale[r] * self.row_norm[k] - _U * top[r].abs()]
            if j.numel() > 1:
                rows[r, j] = self.weight.index_select(0, j).float() @ h[r]

    def exact(self, hidden: torch.Tensor) -> torch.Tensor:
        """The float32 logits of ``hidden`` rows, all of them (for sampling)."""
        return nn.functional.linear(hidden.float(), self.weight.float())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bfloat16 product, exact argmax"


def use_bfloat16_head(model: nn.Module) -> bool:
    """Swap a model's LM head (a bias-free float32 ``nn.Linear``) for a ``BFloat16Head``; True if
    it was. Models that scale or cap their logits after the head keep theirs."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    config = getattr(model, "config", None)
    if (type(head) is not nn.Linear or head.bias is not None or head.weight.dtype != torch.float32
            or getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None)
            or not hasattr(model, "set_output_embeddings")):
        return False
    model.set_output_embeddings(BFloat16Head(head))
    return True


def head_of(model: nn.Module) -> BFloat16Head | None:
    """The model's ``BFloat16Head``, if it has one."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return head if isinstance(head, BFloat16Head) else None
