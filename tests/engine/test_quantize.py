"""int8 weight-only serving weights: both matmul paths against the float weights they stand for."""

from __future__ import annotations

import pytest
import torch

from tooltune.engine import quantize as q_mod
from tooltune.engine.quantize import (KERNEL_MAX_ROWS, BFloat16Linear, Int8WeightOnlyLinear, bfloat16_linears,
                                      int8_weight_only, quantize_model, resolve_quantize)


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("rows", [1, KERNEL_MAX_ROWS, KERNEL_MAX_ROWS + 1, 40])
def test_int8_linear_matches_its_dequantized_weight(rows, chunked):
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48, bias=True)
    q = Int8WeightOnlyLinear.from_linear(lin, chunked=chunked)
    assert q.weight_int8.dtype == torch.int8 and q.weight_int8.shape == (48, 64)
    # Per-channel scales: every row uses its full int8 range.
    assert (q.weight_int8.abs().amax(dim=1) == 127).all()
    assert (q.dequantized() - lin.weight).abs().max() <= q.scale.max() / 2 + 1e-6
    x = torch.randn(2, rows, 64)
    want = torch.nn.functional.linear(x, q.dequantized(), lin.bias)
    got = q(x)
    assert got.shape == (2, rows, 48) and got.dtype == torch.float32
    # The kernel path (<= KERNEL_MAX_ROWS rows in all, or any number in chunks) rounds
    # activations to bfloat16.
    tol = 0.05 if chunked or 2 * rows <= KERNEL_MAX_ROWS else 1e-4
    assert torch.allclose(got, want, atol=tol, rtol=tol)


def test_whole_model_keeps_its_greedy_choices(tiny_model_dir):
    from tooltune.core.models import load_model

    model, tok, _ = load_model(str(tiny_model_dir))
    model.eval()
    ids = tok("add a task to buy milk tomorrow with high priority", return_tensors="pt").input_ids
    with torch.no_grad():
        ref = model(ids).logits
        quantize_model(model, "int8")
        got = model(ids).logits
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert not linears, "every Linear layer is replaced"
    assert isinstance(model.get_output_embeddings(), Int8WeightOnlyLinear)
    # Only the head runs wide inputs through the kernel in chunks (dequantizing it costs more).
    assert model.get_output_embeddings().chunked
    assert not any(m.chunked for m in model.modules() if isinstance(m, Int8WeightOnlyLinear)
                   and m is not model.get_output_embeddings())
    assert model.get_input_embeddings().weight.dtype == torch.float32  # the embedding stays float
    assert (ref.argmax(-1) == got.argmax(-1)).float().mean() >= 0.9
    assert (ref - got).abs().max() < 0.1 * ref.abs().max()


def test_unknown_quantize_is_refused():
    with pytest.raises(ValueError, match="unknown quantize 'int4'"):
        quantize_model(torch.nn.Linear(2, 2), "int4")
    layer = torch.nn.Linear(4, 4)
    assert quantize_model(layer, None) is layer and quantize_model(layer, "none") is layer


def test_int8_weight_only_returns_the_same_module():
    seq = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    assert int8_weight_only(seq) is seq
    assert [type(m).__name__ for m in seq] == ["Int8WeightOnlyLinear", "ReLU", "Int8WeightOnlyLinear"]


def test_the_float_path_reuses_one_buffer_and_keeps_layers_apart():
    """Wide inputs dequantize into a per-thread buffer shared by every layer: results stay each
    layer's own, whatever order the layers run in."""
    torch.manual_seed(0)
    a, b = torch.nn.Linear(32, 24), torch.nn.Linear(24, 40)
    qa, qb = Int8WeightOnlyLinear.from_linear(a), Int8WeightOnlyLinear.from_linear(b)
    x = torch.randn(KERNEL_MAX_ROWS + 5, 32)
    for _ in range(2):
        ya = qa(x)
        yb = qb(ya)
        assert torch.allclose(ya, torch.nn.functional.linear(x, qa.dequantized(), a.bias), atol=1e-4)
        assert torch.allclose(yb, torch.nn.functional.linear(ya, qb.dequantized(), b.bias), atol=1e-4)


@pytest.mark.parametrize("bias", [False, True])
def test_bfloat16_linear_multiplies_in_bfloat16_and_returns_float32(bias):
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48, bias=bias)
    b = BFloat16Linear(lin.weight, lin.bias)
    assert b.weight.dtype == torch.bfloat16 and (b.bias is None or b.bias.dtype == torch.float32)
    x = torch.randn(3, 5, 64)
    got = b(x)
    assert got.dtype == torch.float32 and got.shape == (3, 5, 48)
    want = torch.nn.functional.linear(x.bfloat16(), lin.weight.bfloat16()).float() + (lin.bias if bias else 0)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(got, lin(x), atol=0.05, rtol=0.02) and not torch.equal(got, lin(x))


def test_bf16_linear_keeps_the_head_weight_and_the_residual_stream_float32(tiny_model_dir):
    from tooltune.core.models import load_model
    from tooltune.engine.bf16_head import BFloat16Head

    model, tok, _ = load_model(str(tiny_model_dir))
    model.eval()
    ids = tok("add a task to buy milk tomorrow with high priority", return_tensors="pt").input_ids
    head = model.get_output_embeddings()
    with torch.no_grad():
        ref = model(ids).logits
        assert quantize_model(model, "bf16-linear") is model
        got = model(ids).logits
    assert not [m for m in model.modules() if type(m) is torch.nn.Linear]
    new_head = model.get_output_embeddings()
    assert isinstance(new_head, BFloat16Head) and new_head.weight is head.weight  # the float32 weight, not a copy
    assert head.weight.dtype == torch.float32
    assert model.get_input_embeddings().weight.dtype == torch.float32
    assert got.dtype == torch.float32 and not torch.equal(got, ref)
    assert (ref.argmax(-1) == got.argmax(-1)).float().mean() >= 0.9
    assert (ref - got).abs().max() < 0.05 * ref.abs().max()


def test_auto_takes_bf16_linear_only_where_it_pays(monkeypatch):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    monkeypatch.setattr(q_mod, "bf16_products_pay", lambda: True)
    assert resolve_quantize("auto", model) == "bf16-linear"
    assert resolve_quantize("auto", model.to(torch.bfloat16)) is None  # not float32: left as loaded
    monkeypatch.setattr(q_mod, "bf16_products_pay", lambda: False)
    assert resolve_quantize("auto", model.float()) is None
    assert quantize_model(model, "auto") is model and type(model[0]) is torch.nn.Linear
    for explicit in (None, "none", "int8", "bf16-linear"):
        assert resolve_quantize(explicit, model) == explicit


def test_bf16_products_pay_is_a_measurement():
    assert isinstance(q_mod.bf16_products_pay(rows=8, width=32, out=32), bool)


def test_the_engine_says_what_its_weights_run_as(tiny_engine_factory, monkeypatch):
    assert tiny_engine_factory().weights == "float32"
    assert tiny_engine_factory(quantize="bf16-linear").weights == "bf16-linear"
    monkeypatch.setattr(q_mod, "bf16_products_pay", lambda: False)
    assert tiny_engine_factory(quantize="auto").weights == "float32"
