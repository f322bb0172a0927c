"""Loss on the assistant's tokens only, computing the LM head only where there is a loss.

The vocabulary projection (49152 x 576 for SmolLM2) costs as much as several layers when it runs
over every position; tool schemas, user text and tool results have no loss, so it runs only on
the positions that predict an assistant token."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

MIN_SHARED_PREFIX = 8


def shared_prefix_len(ids: torch.Tensor, target_mask: torch.Tensor, lengths: torch.Tensor) -> int:
    """Length of the token prefix every row shares and that has no loss position in it."""
    if ids.shape[0] < 2:
        return 0
    differs = (ids != ids[:1]).any(0)
    common = int(differs.float().argmax()) if bool(differs.any()) else ids.shape[1]
    first_target = int(target_mask.float().argmax(1).min())  # first position that predicts a loss token
    p = min(common, first_target, int(lengths.min()) - 1)
    return p if p >= MIN_SHARED_PREFIX else 0


class AssistantLoss(nn.Module):
    """Wraps a causal LM (plain or peft); ``forward(ids, mask)`` -> mean cross-entropy over the
    tokens where ``mask`` is True. Wrapped whole by ``accelerator.prepare`` (DDP/FSDP)."""

    def __init__(self, model: nn.Module, shared_prefix: bool = True):
        super().__init__()
        self.model = model
        self.shared_prefix = shared_prefix

    def _parts(self) -> tuple[Any, Any, float | None]:
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        body = base.get_decoder() if hasattr(base, "get_decoder") else base.model
        cfg = getattr(base.config, "get_text_config", lambda: base.config)()
        return body, base.get_output_embeddings(), getattr(cfg, "final_logit_softcapping", None)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        body, head, softcap = self._parts()
        target_mask = mask[:, 1:]  # position p predicts token p+1
        p = shared_prefix_len(ids, target_mask, lengths) if self.shared_prefix and self.training else 0
        if p:
            # The shared prefix (tools block) once, without gradient; every row continues from it.
            with torch.no_grad():
                cache = body(input_ids=ids[:1, :p], use_cache=True).past_key_values
            cache.batch_repeat_interleave(ids.shape[0])
            pos = torch.arange(p, ids.shape[1], device=ids.device).unsqueeze(0).expand(ids.shape[0], -1)
            hidden = body(input_ids=ids[:, p:], past_key_values=cache, position_ids=pos, use_cache=True).last_hidden_state
        else:
            hidden = body(input_ids=ids, use_cache=False).last_hidden_state
        sel = target_mask[:, p:]
        h = hidden[:, :-1][sel]
        targets = ids[:, p + 1:][sel]
        logits = head(h).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        return nn.functional.cross_entropy(logits, targets)
