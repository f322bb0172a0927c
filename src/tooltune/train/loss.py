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

    def __init__(self, model: nn.Module, shared_prefix: bool = True, prefix_reuse: int = 0):
        super().__init__()
        self.model = model
        self.shared_prefix = shared_prefix
        self.prefix_reuse = prefix_reuse
        self._prefix: tuple[torch.Tensor, Any, int] | None = None  # (token ids, KV cache, times reused)
        self.prefix_attention = False
        """The rows attend over one copy of the prefix's keys/values (``tooltune.train.prefix_attention``)
        instead of a cache repeated per row: where the model's attention allows it."""
        if shared_prefix:
            from .prefix_attention import use_prefix_attention

            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            self.prefix_attention = use_prefix_attention(base)

    def carried_state(self) -> dict[str, Any] | None:
        """The reused prefix KV and its age: checkpoints keep it so a resumed run continues exactly."""
        if self._prefix is None:
            return None
        ids, cache, age = self._prefix
        return {"ids": ids, "cache": cache, "age": age}

    def load_carried_state(self, state: dict[str, Any] | None) -> None:
        self._prefix = None if state is None else (state["ids"], state["cache"], int(state["age"]))

    def _prefix_cache(self, body: nn.Module, prefix: torch.Tensor) -> Any:
        """KV of the shared prefix: computed now, or (``prefix_reuse`` > 0) the one computed for the
        same tokens at most ``prefix_reuse`` steps ago, when the weights were nearly the same."""
        import copy

        # A cache handed to the model grows by the rows' keys, so the held one goes out as a copy;
        # the prefix attention only reads it, and one cache serves both.
        own = (lambda cache: cache) if self.prefix_attention else copy.deepcopy
        held = self._prefix
        if held is not None and held[2] < self.prefix_reuse and torch.equal(held[0], prefix):
            self._prefix = (held[0], held[1], held[2] + 1)
            return own(held[1])
        with torch.no_grad():
            cache = body(input_ids=prefix.unsqueeze(0), use_cache=True).past_key_values
        if self.prefix_reuse:
            self._prefix = (prefix.clone(), own(cache), 0)
        return cache

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
            cache = self._prefix_cache(body, ids[0, :p])
            pos = torch.arange(p, ids.shape[1], device=ids.device).unsqueeze(0).expand(ids.shape[0], -1)
            if self.prefix_attention:
                hidden = body(input_ids=ids[:, p:], position_ids=pos, shared_prefix=cache,
                              use_cache=False).last_hidden_state
            else:
                cache.batch_repeat_interleave(ids.shape[0])
                hidden = body(input_ids=ids[:, p:], past_key_values=cache, position_ids=pos,
                              use_cache=True).last_hidden_state
        else:
            hidden = body(input_ids=ids, use_cache=False).last_hidden_state
        sel = target_mask[:, p:] > 0
        h = hidden[:, :-1][sel]
        targets = ids[:, p + 1:][sel]
        logits = head(h).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        if mask.dtype == torch.bool:
            return nn.functional.cross_entropy(logits, targets)
        weights = target_mask[:, p:][sel].float()  # a weighted mask (``collate``'s decision_weight)
        return (nn.functional.cross_entropy(logits, targets, reduction="none") * weights).sum() / weights.sum()
