"""``load_engine``: one call that turns a model spec into a ready engine (serve and eval use it)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from .hf_engine import SPECULATE_TOKENS, TransformersEngine

log = logging.getLogger(__name__)

Quantize = Literal["int8", "bf16"]
"""int8: dynamic int8 quantisation of every Linear layer, per-channel weight scales (CPU); bf16: bfloat16 weights."""


def quantize_model(model: Any, quantize: str | None) -> Any:
    import torch

    if quantize in (None, "", "none", "fp32", "float32"):
        return model
    if quantize == "int8":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notice; the kernels are current
            # inplace: no deep copy of the float model (it would double the peak memory)
            # Per-channel weight scales: per-tensor ones (the default) cost most of the tuned
            # model's accuracy on this 135M model.
            spec = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
            model = torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
            # The float tensors left (embeddings, norms) still point into the memory-mapped
            # safetensors file, which keeps the whole file resident: copy them out so it unmaps.
            with torch.no_grad():
                for p in list(model.parameters()) + list(model.buffers()):
                    p.data = p.data.clone()
            return model
    if quantize == "bf16":
        return model.to(torch.bfloat16)
    raise ValueError(f"unknown quantize {quantize!r} (use int8, bf16 or none)")


def _release_freed_memory() -> None:
    """Hand the float weights freed by quantisation back to the OS (glibc keeps them otherwise)."""
    import ctypes
    import gc

    gc.collect()  # the float Linear weights are gone now
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def load_engine(
    spec: str | Path,
    *,
    constrained: bool = True,
    quantize: str | None = None,
    name: str | None = None,
    threads: int | None = None,
    prefix_cache_entries: int = 4,
    jump_forward: bool = True,
    max_context: int | None = None,
    speculate: int = SPECULATE_TOKENS,
) -> TransformersEngine:
    """Load a model (embedded name, run dir, merged dir, HF id/path) as a TransformersEngine.

    ``constrained``: apply grammar constraints (requests can still opt out);
    ``quantize``: None, "int8" or "bf16"; ``threads``: torch intra-op threads (process-wide);
    ``name``: the name the engine reports (default: the spec as given); ``speculate``: prompt-lookup
    draft length for greedy requests (0 turns it off; outputs are the same either way).
    Raises ``tooltune.core.models.ModelNotFound`` for specs that name no model."""
    import torch

    from tooltune.core.models import load_model

    if threads:
        torch.set_num_threads(threads)
    model, tokenizer, fmt = load_model(spec)
    model = quantize_model(model, quantize)
    _release_freed_memory()
    return TransformersEngine(
        model, tokenizer, fmt,
        name=name or str(spec),
        constrained=constrained,
        max_context=max_context,
        prefix_cache_entries=prefix_cache_entries,
        jump_forward=jump_forward,
        speculate=speculate,
    )
