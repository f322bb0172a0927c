"""Picking the next token from logits: greedy, temperature and nucleus (top-p) sampling."""

from __future__ import annotations

import os
from typing import Any

GREEDY_BELOW = 1e-5
"""Temperatures below this decode greedily."""


def make_generator(seed: int | None) -> Any:
    import torch

    gen = torch.Generator()
    gen.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1))
    return gen


def sample(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    """One token id from 1-D float ``logits`` (masked entries are -inf)."""
    import torch

    if temperature < GREEDY_BELOW:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        sorted_probs[before >= top_p] = 0.0  # keep the smallest set whose mass reaches top_p
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))
