"""The engine's attention: ragged passes (``tooltune.engine.batch``) and grouped-query attention
over the KV cache without copying it.

A ragged pass hands its ``RaggedPass`` to the attention as the ``ragged`` keyword, which
transformers passes through to the attention function: each sequence's queries attend over its
own buffers, grouped heads included (``enable_gqa``).

Any other pass (the model used outside the engine) takes the copy-free grouped path below:

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
"""The grouped-query attention registered with transformers."""

ENGINE = "tooltune_engine"
"""The engine's attention (ragged passes, else as ``NAME``) registered with transformers."""


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


def _engine_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                    scaling: float | None = None, is_causal: bool | None = None, ragged: Any = None,
                    **kwargs: Any) -> tuple[Any, None]:
    if ragged is None:
        return _forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                        is_causal=is_causal, **kwargs)
    # Models pass their window as a keyword (Mistral) or keep it on the layer (Gemma 3).
    window = kwargs.get("sliding_window") or getattr(module, "sliding_window", None)
    return ragged.attend(module.layer_idx, query, scaling, window), None


def use_engine_attention(model: Any) -> bool:
    """Switch a transformers model to the engine's attention (ragged passes need it); False for
    objects that are not transformers models (test doubles that read ``ragged`` themselves)."""
    from transformers import AttentionInterface, PreTrainedModel
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if not isinstance(model, PreTrainedModel):
        return False
    AttentionInterface.register(ENGINE, _engine_forward)
    AttentionMaskInterface.register(ENGINE, sdpa_mask)
    model.set_attn_implementation(ENGINE)
    return True


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
