"""Serving weights on a CPU: bfloat16 products in the Linear layers, int8 weight-only Linear
layers, or bfloat16 throughout.

Where the CPU has bfloat16 dot products (AVX512-BF16 here, AMX on recent Xeons), oneDNN runs a
64-row bfloat16 product ~4x faster than float32 (3x at 8 rows, 1.2x at one): prefills and
draft-verifying passes are such products. ``bfloat16_linears`` takes that for every Linear layer
and keeps the rest of the model (residual stream, norms, attention) in float32; the LM head runs
in bfloat16 too, but makes float32's greedy choices (``tooltune.engine.bf16_head``). ``auto``,
the serving default, picks it where it measurably pays.

Decoding a small model on a CPU spends most of each forward pass reading Linear weights. int8
weights (one scale per output channel) read a quarter of the bytes of float32 ones. Only the
weights are quantised: activations keep their precision, unlike ``torch.ao``'s dynamic int8,
whose per-tensor int8 activations cost the tuned SmolLM2 17 points of exact match here.

Measured on 2 cores, the 30 layers' Linear weights of SmolLM2-135M (``bench/quantize.py``):
PyTorch's int8 kernel (``_weight_int8pack_mm``, bfloat16 activations) wins for up to 12 rows (the
decode and speculation passes) and loses beyond: it reads the weight once per call but computes
slowly. Longer inputs (prefill) convert the int8 weight to float32 into a reused buffer for the
matmul instead and scale the output, close to the cost of float32 weights. The LM head is the
exception: converting its 49152 x 576 weight (113 MB in float32) costs far more than the matmul,
so it runs any number of rows through the kernel, 12 at a time (a draft or a shared pass keeps
logits for every column it verifies).
"""

from __future__ import annotations

import threading

from typing import Any, Iterable

import torch
from torch import nn

from tooltune.core.hardware import bf16_products_pay

KERNEL_MAX_ROWS = 12
"""Inputs with at most this many rows use the int8 kernel; longer ones a float32 matmul (except
in a ``chunked`` layer: the kernel, this many rows per call)."""

_scratch = threading.local()


def _float_weight(q: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``q`` converted to ``dtype`` in a per-thread buffer reused from call to call: a fresh
    multi-megabyte tensor per layer and pass costs page faults as well as the copy."""
    buf = getattr(_scratch, "buf", None)
    if buf is None or buf.numel() < q.numel() or buf.dtype != dtype:
        buf = _scratch.buf = torch.empty(q.numel(), dtype=dtype)
    w = buf[:q.numel()].view(q.shape)
    w.copy_(q)
    return w


def int8_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``weight`` [out, in] as int8 with one float32 scale per output channel (each row uses its
    full range): ``(int8 weight, scale)``."""
    w = weight.detach().float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    return torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous(), scale


class Int8WeightOnlyLinear(nn.Module):
    """A frozen Linear layer with int8 weights and one float scale per output channel."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, chunked: bool = False):
        super().__init__()
        self.chunked = chunked
        """Run every input through the kernel, ``KERNEL_MAX_ROWS`` rows per call (the LM head)."""
        w = weight.detach().float()
        q, scale = int8_per_channel(w)
        self.register_buffer("weight_int8", q)
        # bfloat16 scales for the kernel, float32 ones for the long-input path (a few KB each).
        self.register_buffer("scale_bf16", scale.to(torch.bfloat16))
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.in_features = w.shape[1]
        self.out_features = w.shape[0]

    @classmethod
    def from_linear(cls, linear: nn.Linear, chunked: bool = False) -> "Int8WeightOnlyLinear":
        return cls(linear.weight, linear.bias, chunked=chunked)

    def dequantized(self) -> torch.Tensor:
        """The float32 weight these int8 values stand for."""
        return self.weight_int8.float() * self.scale[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        rows = flat.shape[0]
        if rows <= KERNEL_MAX_ROWS or self.chunked:
            y = torch.cat([self._kernel(flat[i:i + KERNEL_MAX_ROWS]) for i in range(0, rows, KERNEL_MAX_ROWS)]) \
                if rows > KERNEL_MAX_ROWS else self._kernel(flat)
            y = y.to(x.dtype)
        else:
            y = nn.functional.linear(flat, _float_weight(self.weight_int8, flat.dtype)) * self.scale.to(flat.dtype)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y.reshape(*x.shape[:-1], self.out_features)

    def _kernel(self, flat: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(flat.to(torch.bfloat16), self.weight_int8, self.scale_bf16)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights"


def int8_weight_only(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` (the LM head included, untied from the input embedding, which
    stays float) by an ``Int8WeightOnlyLinear``, in place. Returns the model."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    with torch.no_grad():
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, nn.Linear):
                    setattr(module, name, Int8WeightOnlyLinear.from_linear(child, chunked=child is head))
    unmap_float_tensors(model)
    config = getattr(model, "config", None)
    if getattr(config, "tie_word_embeddings", False):
        config.tie_word_embeddings = False  # the head is its own int8 tensor now
    return model


class BFloat16Linear(nn.Module):
    """A frozen Linear layer whose product runs in bfloat16: the weight is stored in bfloat16 and
    the input rounded to it; the output comes back in the input's dtype, so everything between the
    Linear layers (residual stream, norms, attention, sampling) keeps float32."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("weight", weight.detach().to(torch.bfloat16).contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.out_features, self.in_features = weight.shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.linear(x.to(torch.bfloat16), self.weight).to(x.dtype)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bfloat16 products"


def bfloat16_linears(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` but the LM head by a ``BFloat16Linear``, in place, and the head
    by a ``BFloat16Head`` (``tooltune.engine.bf16_head``): a bfloat16 product whose greedy
    choices are float32's. Returns the model. A plain bfloat16 head would flip near-ties (145 of
    150 held-out turns came out as in float32 with one; 149 with the float32 head)."""
    from .bf16_head import use_bfloat16_head

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    with torch.no_grad():
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, nn.Linear) and child is not head:
                    setattr(module, name, BFloat16Linear(child.weight, child.bias))
    unmap_float_tensors(model)
    use_bfloat16_head(model)
    return model


def unmap_float_tensors(model: nn.Module) -> None:
    """Copy the float tensors a quantised model keeps (embeddings, norms) out of the memory-mapped
    safetensors file they may still point into, which keeps the whole file resident."""
    with torch.no_grad():
        for p in list(model.parameters()) + list(model.buffers()):
            if p.dtype.is_floating_point:
                p.data = p.data.clone()


AS_LOADED = (None, "", "none", "fp32", "float32")
"""``quantize`` values that leave the weights as loaded."""


def resolve_quantize(quantize: str | None, model: Any) -> str | None:
    """``auto`` -> "bf16-linear" for a float32 model on a CPU where bfloat16 products pay
    (``bf16_products_pay``), else None (the weights as loaded). Other values pass through."""
    if quantize != "auto":
        return quantize
    first = next(iter(model.parameters()), None)
    if first is None or first.device.type != "cpu" or first.dtype != torch.float32:
        return None
    return "bf16-linear" if bf16_products_pay() else None


def quantize_model(model: Any, quantize: str | None, calibration: Iterable[list[int]] = ()) -> Any:
    """``None``/"none": as loaded (float32); "int8": int8 weight-only Linear layers; "w8a8": int8
    weights and activations (``tooltune.engine.w8a8``), smoothed with the input ranges seen on
    ``calibration`` (token id lists); "bf16": bfloat16; "bf16-linear": bfloat16 products in the
    Linear layers but the LM head (``bfloat16_linears``); "auto": ``resolve_quantize``."""
    quantize = resolve_quantize(quantize, model)
    if quantize in AS_LOADED:
        return model
    if quantize == "int8":
        return int8_weight_only(model)
    if quantize == "w8a8":
        from .w8a8 import int8_dynamic

        int8_dynamic(model, calibration)
        unmap_float_tensors(model)
        return model
    if quantize == "bf16":
        return model.to(torch.bfloat16)
    if quantize == "bf16-linear":
        return bfloat16_linears(model)
    raise ValueError(f"unknown quantize {quantize!r} (use auto, bf16-linear, int8, w8a8, bf16 or none)")
