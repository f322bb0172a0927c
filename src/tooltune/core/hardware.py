"""What the machine computes fast, measured rather than guessed from CPU flags (shared by
training's and serving's ``auto`` precision)."""

from __future__ import annotations

import functools

import torch
from torch import nn

BF16_MIN_SPEEDUP = 1.5
"""``auto`` takes bfloat16 where its products beat float32 by at least this much."""


@functools.cache
def bf16_products_pay(rows: int = 64, width: int = 576, out: int = 1536) -> bool:
    """Whether this CPU multiplies a [rows, width] input by a [width, out] weight clearly faster in
    bfloat16 than in float32: measured (best of five, ~20 ms), not guessed from CPU flags. Where the
    CPU has bfloat16 dot products (AVX512-BF16, AMX) oneDNN runs them ~4x faster at 64 rows (3x at
    8); without, bfloat16 is emulated and slower than float32."""
    import time

    def best(dtype: torch.dtype) -> float:
        x, w = torch.randn(rows, width, dtype=dtype), torch.randn(out, width, dtype=dtype)
        times = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(4):
                nn.functional.linear(x, w)
            times.append(time.perf_counter() - start)
        return min(times[2:])

    return best(torch.float32) >= BF16_MIN_SPEEDUP * best(torch.bfloat16)


def bf16_pays(device: torch.device | str = "cpu") -> bool:
    """bfloat16 compute pays on ``device``: a CUDA GPU that supports it, or a CPU where
    ``bf16_products_pay``."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bf16_products_pay()
