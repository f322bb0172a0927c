"""int8 weights and int8 activations (W8A8) on a CPU, calibrated as SmoothQuant does.

Why: on 2 cores a prefill or a draft pass is compute-bound, and float32 matmuls there run at
about 200 GFLOPS. ``torch._int_mm`` (int8 x int8 -> int32, VNNI) does the same product about 4x
faster from 17 rows up and reads a quarter of the weight bytes at one row (``bench/quantize.py``).
Weight-only int8 (``tooltune.engine.quantize``) saves the reads but not the arithmetic.

How, per Linear layer:
- weights: int8, one scale per output channel;
- activations: int8 per row (token), scaled by the row's largest value, at run time;
- smoothing: a few input channels carry values 10-100x the others (SmolLM2's last MLP: 480
  against a median of 3), and a per-row scale set by them rounds the rest to a handful of levels.
  SmoothQuant moves that range into the weights: input channel j is divided by
  ``s_j = amax_x(j)^alpha / amax_w(j)^(1-alpha)`` and the weight's column j multiplied by it, with
  ``amax_x`` measured on calibration text. On the tuned demo model this cut the KL divergence to
  float32 per output token from 0.0056 to 0.0011 (``alpha`` 0.5, which did better than 0.65-0.9).
The LM head is quantised too: a draft pass keeps the logits of every row it verifies, and on 8
rows the float32 head took 8 of a 42 ms pass. Its smoothed int8 form added 0.0001 to that KL.
Tried and not kept: one smoothing per group of layers reading the same input (q/k/v, gate/up),
so that the group quantises it once: ~3% faster passes, a fifth more KL. The MLP's down
projection accounts for half the KL; in float32 it halves it, at 10% more time per turn, yet
exact match on the demo's full held-out split stayed at 67.8% (float32: 68.7%), so it stays int8.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from .quantize import int8_per_channel

ALPHA = 0.5
"""SmoothQuant's migration strength: 0 leaves the activations as they are, 1 moves all of their
range into the weights."""

CALIBRATION_TOKENS = 1024
"""Calibration text runs in pieces of this many tokens..."""

CALIBRATION_BATCHES = 4
"""... at most this many per text (a tuned model's prompt and replies: about 7000 tokens)."""


class Int8DynamicLinear(nn.Module):
    """A frozen Linear layer computing in int8: per-channel int8 weights, per-row int8 inputs
    quantised at run time, after dividing the inputs by the calibrated smoothing factors."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 input_amax: torch.Tensor | None = None, alpha: float = ALPHA):
        super().__init__()
        w = weight.detach().float()
        smooth_inv = None
        if input_amax is not None and alpha > 0:
            w_amax = w.abs().amax(dim=0).clamp(min=1e-5)
            smooth = (input_amax.float().clamp(min=1e-5) ** alpha / w_amax ** (1 - alpha)).clamp(min=1e-5)
            w = w * smooth[None, :]
            smooth_inv = 1.0 / smooth
        # Plain attributes, not buffers: this layer only serves, on the CPU, and each module
        # attribute lookup or view made per call costs a microsecond, on 211 layers per pass.
        self.weight_int8, scale = int8_per_channel(w)
        self.weight_t = self.weight_int8.t()  # _int_mm's [in, out] operand, a view
        self.scale = scale
        self.smooth_inv = smooth_inv
        self.bias = None if bias is None else bias.detach().float().clone()
        self.in_features = w.shape[1]
        self.out_features = w.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: float32, [..., in_features]."""
        flat = x.reshape(-1, self.in_features)
        if self.smooth_inv is not None:
            flat = flat * self.smooth_inv
        # abs().amax() rather than an inf-norm: the norm runs 3-10x slower here.
        row_scale = flat.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8).div_(127.0)
        y = torch._int_mm(torch.round(flat / row_scale).to(torch.int8), self.weight_t).mul(row_scale).mul_(self.scale)
        if self.bias is not None:
            y += self.bias
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        smooth = "smoothed" if self.smooth_inv is not None else "not smoothed"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights and inputs, {smooth}"


def _linears(model: nn.Module) -> dict[str, nn.Linear]:
    """The Linear layers to quantise, by name: all of them, the LM head included."""
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}


def input_ranges(model: nn.Module, batches: Iterable[list[int]]) -> dict[str, torch.Tensor]:
    """Per Linear layer, each input channel's largest absolute value over ``batches`` (token id
    lists run through the float model)."""
    ranges: dict[str, torch.Tensor] = {}

    def record(name: str, x: torch.Tensor) -> None:
        amax = x.reshape(-1, x.shape[-1]).abs().amax(dim=0).float()
        ranges[name] = torch.maximum(ranges[name], amax) if name in ranges else amax

    linears = _linears(model)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head_name = next((name for name, m in linears.items() if m is head), None)
    # The head reads the decoder's last hidden states: run the decoder alone and take the head's
    # range from its output, rather than computing logits for every row (200 MB per 1024 tokens
    # for a 49k vocabulary, the larger part of the peak memory while loading).
    decoder = model.get_decoder() if head_name and hasattr(model, "get_decoder") else None
    handles = [m.register_forward_hook(lambda mod, inputs, out, name=name: record(name, inputs[0]))
               for name, m in linears.items() if not (decoder is not None and name == head_name)]
    try:
        with torch.inference_mode():
            for ids in batches:
                for start in range(0, min(len(ids), CALIBRATION_BATCHES * CALIBRATION_TOKENS), CALIBRATION_TOKENS):
                    chunk = torch.tensor([ids[start:start + CALIBRATION_TOKENS]])
                    if decoder is not None:
                        record(head_name, decoder(input_ids=chunk).last_hidden_state)
                    else:
                        model(input_ids=chunk, logits_to_keep=chunk.shape[1])  # the head sees every row
    finally:
        for h in handles:
            h.remove()
    return ranges


def calibration_texts(fmt: Any, replies: list[str]) -> list[str]:
    """What the calibration runs: a prompt in the model's format with the Task API tools, then its
    sample replies (``tooltune.core.replies``; none for a base model). Channel ranges come from
    the model more than from the text: calibrating on a served conversation instead changed the
    KL divergence to float32 by under 5% on the demo model."""
    from tooltune.core.format import render_prompt
    from tooltune.core.tools import load_tools
    from tooltune.core.types import Message

    prompt = render_prompt([Message(role="user", content=CALIBRATION_REQUEST)], load_tools("taskapi"), fmt)
    return [prompt + "\n".join(replies)]


CALIBRATION_REQUEST = ("add a high-priority task to renew my passport by next Friday, and show me "
                       "everything that is still open")
"""The user turn of the calibration prompt."""


def int8_dynamic(model: nn.Module, calibration: Iterable[list[int]], alpha: float = ALPHA) -> nn.Module:
    """Replace every ``nn.Linear`` (the LM head included, untied from the input embedding) by an
    ``Int8DynamicLinear`` smoothed with the input ranges seen on ``calibration`` (token id lists),
    in place. Returns the model."""
    if not hasattr(torch, "_int_mm"):
        raise RuntimeError(f"W8A8 needs torch._int_mm, which torch {torch.__version__} lacks")
    ranges = input_ranges(model, calibration)
    targets = _linears(model)
    with torch.no_grad():
        for parent_name, parent in list(model.named_modules()):
            for name, child in list(parent.named_children()):
                full = f"{parent_name}.{name}" if parent_name else name
                if full in targets:
                    setattr(parent, name, Int8DynamicLinear(child.weight, child.bias, ranges.get(full), alpha))
    config = getattr(model, "config", None)
    if getattr(config, "tie_word_embeddings", False):
        config.tie_word_embeddings = False  # the head is its own int8 tensor now; the embedding stays float
    return model
