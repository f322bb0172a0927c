"""``load_engine``: one call that turns a model spec into a ready engine (serve and eval use it)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal, get_args

from .hf_engine import SPECULATE_TOKENS, TransformersEngine
from .llamacpp_engine import DEFAULT_SLOTS, GGUF_QUANT, LlamaCppEngine, gguf_for

log = logging.getLogger(__name__)

Backend = Literal["transformers", "llama.cpp"]
"""transformers: the model as trained, in PyTorch; llama.cpp: exported to GGUF and run by llama.cpp."""
BACKENDS = ("transformers", "llama.cpp")

LLAMACPP_CONTEXT = 4096
"""Context per llama.cpp slot unless asked otherwise (its KV cache is allocated up front)."""

Quantize = Literal["auto", "bf16-linear", "int8", "w8a8", "bf16"]
"""auto: bf16-linear where this CPU runs bfloat16 products fast (measured at load), else the
weights as loaded; int8: int8 weight-only Linear layers, per-channel scales (CPU); w8a8: int8 weights and
activations, smoothed on calibration text (CPU); bf16: bfloat16 weights; bf16-linear: the
Linear layers but the LM head multiply in bfloat16, everything else stays float32."""
QUANTIZE_MODES: tuple[str, ...] = get_args(Quantize)


PRIMITIVE_CACHE = "64"
"""oneDNN primitives kept (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``; its default is 1024). The
bfloat16 products run through oneDNN, which keeps a primitive, with memory of its own, for every
shape it has run, and a ragged pass's row count changes from pass to pass (1 to a few hundred
rows). On the demo model, 320 requests (160 of them 8 at once), measured in process: with 1024
the resident memory grew from 866 to 1380 MB and peaked at 1619 MB; with 64 it reached 1184-1213
MB and never passed the load's own peak (1479 MB), in the same time (71-73 s against 77 s)."""


def _limit_primitive_cache() -> None:
    """Apply ``PRIMITIVE_CACHE`` unless the environment sets it. oneDNN reads it once, when it makes
    its first primitive: a process that ran bfloat16 products before (a training run in the same
    process) keeps the capacity it started with."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", PRIMITIVE_CACHE)


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
    quantize: str | None = "auto",
    name: str | None = None,
    threads: int | None = None,
    prefix_cache_entries: int = 4,
    jump_forward: bool = True,
    max_context: int | None = None,
    speculate: int = SPECULATE_TOKENS,
    backend: str = "transformers",
    slots: int | None = None,
    gguf_quant: str = GGUF_QUANT,
) -> TransformersEngine | LlamaCppEngine:
    """Load a model (embedded name, run dir, merged dir, HF id/path) as an engine.

    ``constrained``: apply grammar constraints (requests can still opt out);
    ``quantize``: "auto" (bfloat16 products where the CPU runs them fast, else as loaded), None
    (as loaded, float32), "bf16-linear", "int8", "w8a8" or "bf16"; ``threads``: torch intra-op threads (process-wide);
    ``name``: the name the engine reports (default: the spec as given); ``speculate``: draft length
    for greedy requests, from the prompt and from recent outputs (0 turns drafting off; outputs
    are the same either way).
    ``backend="llama.cpp"``: the model exported to GGUF once (cached) and run by llama.cpp with
    ``slots`` concurrent sequences and ``gguf_quant`` weights (f16 or q8_0); ``quantize``,
    ``speculate`` and the cache options are the transformers engine's and do not apply.
    Raises ``tooltune.core.models.ModelNotFound`` for specs that name no model."""
    if backend == "llama.cpp":
        return _load_llamacpp(spec, constrained=constrained, name=name, threads=threads,
                              max_context=max_context, slots=slots, quant=gguf_quant)
    if backend != "transformers":
        raise ValueError(f"unknown backend {backend!r} (use {' or '.join(BACKENDS)})")
    import torch

    from tooltune.core.models import load_model, resolve
    from tooltune.core.replies import load_replies

    from .openmp import release_thread_team
    from .quantize import AS_LOADED, quantize_model, resolve_quantize  # imports torch: only for this backend

    if threads:
        torch.set_num_threads(threads)
    _limit_primitive_cache()
    model, tokenizer, fmt = load_model(spec)
    replies = load_replies(resolve(spec).fmt_dir)
    quantize = resolve_quantize(quantize, model)
    if quantize in AS_LOADED:
        quantize = None
    log.info("weights: %s", quantize or "as loaded")
    calibration = []
    if quantize == "w8a8":
        from .w8a8 import calibration_texts

        calibration = [tokenizer.encode(t, add_special_tokens=False) for t in calibration_texts(fmt, replies)]
    model = quantize_model(model, quantize, calibration)
    _release_freed_memory()
    release_thread_team()  # loading ran torch here; this thread's idle OpenMP team would slow the engine's
    engine = TransformersEngine(
        model, tokenizer, fmt,
        name=name or str(spec),
        constrained=constrained,
        max_context=max_context,
        prefix_cache_entries=prefix_cache_entries,
        jump_forward=jump_forward,
        speculate=speculate,
    )
    if quantize:  # otherwise the engine's own reading of the model's dtype stands
        engine.weights = quantize
    # A tuned model's training replies seed the drafts from recent outputs (tooltune.core.replies).
    engine.seed_drafts(replies)
    return engine


def _load_llamacpp(spec: str | Path, *, constrained: bool, name: str | None, threads: int | None,
                   max_context: int | None, slots: int | None, quant: str) -> LlamaCppEngine:
    import json

    from tooltune.core.models import load_prompt_format, load_tokenizer, resolve

    resolved = resolve(spec)
    fmt = load_prompt_format(resolved)
    tokenizer = load_tokenizer(resolved, fmt)
    gguf = gguf_for(spec, quant)
    config = Path(resolved.weights) / "config.json"
    longest = LLAMACPP_CONTEXT
    if config.is_file():
        longest = int(json.loads(config.read_text()).get("max_position_embeddings", LLAMACPP_CONTEXT))
    return LlamaCppEngine(
        gguf, tokenizer, fmt, name=name or str(spec), constrained=constrained,
        max_context=max_context or min(longest, LLAMACPP_CONTEXT), slots=slots or DEFAULT_SLOTS, threads=threads,
    )
