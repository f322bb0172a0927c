"""Grouped-query attention over the KV cache without copying it, for serving on a CPU.

transformers' SDPA path repeats the key/value heads (``repeat_kv``: a copy of the whole cache,
per layer and per forward pass) whenever a pass runs more than one token under a mask, because
CUDA's fast kernels cannot take grouped heads with a mask. The CPU kernels can
(``enable_gqa=True``). Every multi-token decode pass (jump-forward runs, drafts, rows sharing a
batch) runs under a mask, so on SmolLM2 (9 query heads over 3 KV heads) that copy is most of what
a 4-token pass costs over a 1-token one: ``bench/attention.py`` measures it.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

NAME = "tooltune_sdpa_gqa"
"""The attention implementation registered with transformers."""


def _forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
             scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:
    grouped = key.shape[1] != query.shape[1]
    if attention_mask is None or not grouped or query.shape[2] == 1 or module.training:
        # transformers already avoids the copy here (no mask, or a single query token)
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, scale=scaling, enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


def use_grouped_attention(model: Any) -> bool:
    """Switch a CPU model on SDPA with grouped KV heads to the copy-free path; True if it was."""
    config = getattr(model, "config", None)
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    device = getattr(model, "device", None)
    if (config is None or getattr(config, "_attn_implementation", None) != "sdpa" or not heads
            or kv_heads == heads or getattr(device, "type", "cpu") != "cpu"
            or not hasattr(model, "set_attn_implementation")):
        return False
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, _forward)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    return True
