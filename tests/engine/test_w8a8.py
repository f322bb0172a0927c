"""W8A8 serving weights: int8 weights and per-row int8 inputs, smoothed on calibration text."""

from __future__ import annotations

import pytest
import torch

from tooltune.engine.quantize import quantize_model
from tooltune.engine.w8a8 import (
    CALIBRATION_TOKENS,
    Int8DynamicLinear,
    calibration_texts,
    input_ranges,
    int8_dynamic,
)


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).detach().norm() / want.detach().norm())


@pytest.mark.parametrize("rows", [1, 5, 40])
def test_int8_dynamic_linear_matches_the_float_layer(rows):
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48, bias=True)
    q = Int8DynamicLinear(lin.weight, lin.bias)
    assert q.weight_int8.dtype == torch.int8 and q.weight_int8.shape == (48, 64)
    assert (q.weight_int8.abs().amax(dim=1) == 127).all()  # every output channel uses its range
    x = torch.randn(2, rows, 64)
    got = q(x)
    assert got.shape == (2, rows, 48) and got.dtype == torch.float32
    assert _relative_error(got, lin(x)) < 0.02


def test_smoothing_keeps_an_outlier_channel_from_flattening_the_rest():
    """One input channel 100x the others: unsmoothed, the per-row scale it sets rounds the other
    channels to a few levels; smoothing with the calibrated range moves it into the weight."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 32, bias=False)
    x = torch.randn(16, 64)
    x[:, 3] *= 100
    want = lin(x)
    plain = Int8DynamicLinear(lin.weight)
    smoothed = Int8DynamicLinear(lin.weight, input_amax=x.abs().amax(dim=0))
    assert smoothed.smooth_inv is not None and plain.smooth_inv is None
    assert _relative_error(smoothed(x), want) < _relative_error(plain(x), want) / 2
    # alpha 0 is no smoothing at all.
    assert Int8DynamicLinear(lin.weight, input_amax=x.abs().amax(dim=0), alpha=0).smooth_inv is None


def test_whole_model_keeps_its_greedy_choices(tiny_model_dir):
    from tooltune.core.models import load_model

    model, tok, fmt = load_model(str(tiny_model_dir))
    model.eval()
    ids = tok("add a task to buy milk tomorrow with high priority", return_tensors="pt").input_ids
    calibration = [tok.encode(t, add_special_tokens=False) for t in calibration_texts(fmt, ["hello there"])]
    with torch.no_grad():
        ref = model(ids).logits
        assert quantize_model(model, "w8a8", calibration) is model
        got = model(ids).logits
    assert isinstance(model.get_output_embeddings(), Int8DynamicLinear)
    assert not model.config.tie_word_embeddings
    assert model.get_input_embeddings().weight.dtype == torch.float32  # the embedding stays float
    layers = [m for m in model.modules() if isinstance(m, Int8DynamicLinear)]
    assert layers and not [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert all(m.smooth_inv is not None for m in layers), "calibration reached every layer"
    assert (ref.argmax(-1) == got.argmax(-1)).float().mean() >= 0.9
    assert (ref - got).abs().max() < 0.1 * ref.abs().max()


def test_input_ranges_are_the_largest_values_seen_and_leave_no_hooks(tiny_model_dir):
    from tooltune.core.models import load_model

    model, tok, _ = load_model(str(tiny_model_dir))
    short, long = tok.encode("buy milk"), tok.encode("buy milk and call the plumber about the sink tomorrow")
    one = input_ranges(model, [short])
    both = input_ranges(model, [short, long])
    assert one.keys() == both.keys() and len(one) == sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    for name in one:
        assert (both[name] >= one[name]).all()  # a running maximum
    assert all(not m._forward_hooks for m in model.modules())
    assert input_ranges(model, [[]]) == {}  # an empty batch runs nothing


def test_calibration_text_is_a_tools_prompt_then_the_replies():
    from tooltune.core.format import PromptFormat

    texts = calibration_texts(PromptFormat(), ['<tool_call>{"name":"list_tasks","arguments":{}}</tool_call>', "Done."])
    assert len(texts) == 1
    assert "create_task(" in texts[0] and "renew my passport" in texts[0]
    assert texts[0].endswith('<tool_call>{"name":"list_tasks","arguments":{}}</tool_call>\nDone.')
    assert CALIBRATION_TOKENS >= 512


def test_int8_dynamic_without_calibration_leaves_layers_unsmoothed():
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 4)

        def forward(self, input_ids=None, logits_to_keep=None):  # the calibration's call signature
            return self.b(self.a(torch.nn.functional.one_hot(input_ids, 8).float()))

    m = int8_dynamic(Tiny(), [])
    assert isinstance(m.a, Int8DynamicLinear) and m.a.smooth_inv is None
    m = int8_dynamic(Tiny(), [[1, 2, 3]])
    assert m.a.smooth_inv is not None and m.b.smooth_inv is not None


def test_load_engine_serves_w8a8(tiny_model_dir):
    from tooltune.core.tools import load_tools
    from tooltune.core.types import Message
    from tooltune.engine import GenerationRequest, SamplingParams
    from tooltune.engine.factory import load_engine

    engine = load_engine(str(tiny_model_dir), quantize="w8a8")
    try:
        assert any(isinstance(m, Int8DynamicLinear) for m in engine.model.modules())
        text, final = engine.generate_text(GenerationRequest(
            messages=[Message(role="user", content="list my tasks")], tools=load_tools("taskapi"),
            sampling=SamplingParams(max_tokens=4, temperature=0)))
        assert final.completion_tokens >= 1
    finally:
        engine.close()
