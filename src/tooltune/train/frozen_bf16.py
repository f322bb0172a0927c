"""Frozen Linear weights stored in bfloat16 for bfloat16-autocast training on a CPU.

Under autocast each Linear product casts its float32 weight to bfloat16, and autocast keeps that
cast for the step only for weights that train. The frozen base of a LoRA run (the 30 layers'
projections of SmolLM2, 106M weights) was converted again on every forward pass, the shared
prefix's pass included: in a profile of the default recipe on 2 cores, casts took ~15% of a step.
Stored in bfloat16 once, the weights enter the same products with the same values (autocast
would round them the same way), so losses and gradients do not change. On a GPU the whole base
already loads in bfloat16.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def frozen_linears_to_bfloat16(model: Any) -> int:
    """Store every frozen ``nn.Linear`` weight of ``model`` in bfloat16 (not the input or output
    embedding, which may be tied to a Linear head); returns how many weights were converted. Only
    for a model that runs under bfloat16 autocast: outside it, a float32 input no longer matches."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    # The embeddings come wrapped (peft's trainable tokens): skip whatever sits inside them.
    skip = {id(m) for e in (base.get_input_embeddings(), base.get_output_embeddings()) if e is not None
            for m in e.modules()}
    converted = 0
    with torch.no_grad():
        for module in model.modules():
            w = getattr(module, "weight", None)
            if (isinstance(module, nn.Linear) and id(module) not in skip and isinstance(w, nn.Parameter)
                    and not w.requires_grad and w.dtype == torch.float32):
                module.weight = nn.Parameter(w.to(torch.bfloat16), requires_grad=False)
                converted += w.numel()
    return converted
