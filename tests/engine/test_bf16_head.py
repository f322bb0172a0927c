"""The bfloat16 LM head: its argmax is float32's, unconstrained and under any mask."""

from __future__ import annotations

import torch
from torch import nn

from tooltune.engine.bf16_head import BFloat16Head, head_of, use_bfloat16_head


def near_ties(rows: int = 64, vocab: int = 3000, width: int = 96, seed: int = 0) -> tuple[nn.Linear, torch.Tensor]:
    """A head and hidden rows where many tokens tie within bfloat16's error: each row's best few
    tokens are copies of one weight row, nudged by less than the rounding."""
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(width, vocab, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(vocab, width, generator=g) * 0.3)
        h = torch.randn(rows, width, generator=g) * 4
        for r in range(rows):
            base = torch.randint(0, vocab, (1,), generator=g).item()
            for k in range(1, 6):
                j = (base + 97 * k) % vocab
                lin.weight[j] = lin.weight[base] + torch.randn(width, generator=g) * 1e-3
            # aim the row at that family so the tie decides the argmax
            h[r] = lin.weight[base] / lin.weight[base].norm() * 40 + torch.randn(width, generator=g) * 0.1
    return lin, h


def test_its_argmax_is_float32s_where_plain_bfloat16_flips_it():
    lin, h = near_ties()
    exact = lin(h)
    plain = nn.functional.linear(h.bfloat16(), lin.weight.bfloat16()).float()
    assert (plain.argmax(1) != exact.argmax(1)).any()  # the case is real
    head = BFloat16Head(lin)
    got = head(h)
    assert torch.equal(got.argmax(1), exact.argmax(1))
    assert torch.equal(head.hidden, h)
    # only the entries that could win were recomputed: the rest keep bfloat16 values
    assert (got != exact).float().mean() > 0.9


def test_a_masked_row_settles_to_float32s_masked_argmax():
    lin, h = near_ties(seed=1)
    head = BFloat16Head(lin)
    logits = head(h)
    exact = lin(h)
    g = torch.Generator().manual_seed(2)
    for r in range(h.shape[0]):
        allowed = torch.rand(exact.shape[1], generator=g) < 0.3
        row = logits[r].masked_fill(~allowed, float("-inf"))
        head.settle(row, h[r])
        want = exact[r].masked_fill(~allowed, float("-inf"))
        assert row.argmax() == want.argmax()
        assert torch.isinf(row[~allowed]).all()  # masked entries stay out


def test_a_row_with_nothing_allowed_stays_masked():
    lin, h = near_ties(rows=2)
    head = BFloat16Head(lin)
    row = torch.full((lin.out_features,), float("-inf"))
    head.settle(row, h[0])
    assert torch.isinf(row).all()


def test_exact_gives_the_whole_float32_row():
    lin, h = near_ties(rows=3)
    assert torch.allclose(BFloat16Head(lin).exact(h), lin(h), atol=1e-5)


def test_only_a_plain_float32_head_is_swapped(tiny_model_dir):
    from tooltune.core.models import load_model

    model, _, _ = load_model(str(tiny_model_dir))
    assert use_bfloat16_head(model) and isinstance(head_of(model), BFloat16Head)
    assert not use_bfloat16_head(model)  # already swapped
    capped, _, _ = load_model(str(tiny_model_dir))
    capped.config.final_logit_softcapping = 30.0
    assert not use_bfloat16_head(capped) and head_of(capped) is None


def twins(head: BFloat16Head) -> None:
    """Each odd token's weight row becomes its even neighbour's, nudged by far less than
    bfloat16's rounding (the same nudges every call), and the bfloat16 copy follows."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        w = head.weight
        w[1::2] = w[0::2][: w[1::2].shape[0]] * (1 + torch.randn(w[1::2].shape, generator=g) * 1e-4)
        head.weight_bf16.copy_(w.to(torch.bfloat16))
        head.row_norm = w.norm(dim=1)
        head.max_row_norm = float(head.row_norm.max())


def _with_head(engine, head) -> None:
    engine.model.set_output_embeddings(head)
    engine._batch = None  # the worker builds its batch (and finds the head) when it starts


def test_the_engine_writes_what_a_float32_head_writes(tiny_engine_factory, strict_tools):
    """Greedy and sampled turns, constrained (masked choices settle their rows) and free, from a
    random model whose logits are full of near-ties: token for token as with the float32 head."""
    from tooltune.core.types import Message
    from tooltune.engine import GenerationRequest, SamplingParams

    ours = tiny_engine_factory(quantize="bf16-linear")
    head = head_of(ours.model)
    assert head is not None
    ref = tiny_engine_factory(quantize="bf16-linear")
    for engine in (ours, ref):  # every token gets a twin whose logit is within bfloat16's error
        twins(head_of(engine.model))
    fp32 = nn.Linear(head.in_features, head.out_features, bias=False)
    fp32.weight = head_of(ref.model).weight
    _with_head(ref, fp32)
    settled = []
    real_settle = BFloat16Head.settle

    def counting(self, logits, hidden):
        settled.append(logits.dim())
        return real_settle(self, logits, hidden)

    BFloat16Head.settle = counting
    try:
        for i in range(6):
            msgs = [Message(role="user", content=f"alarm number {i} at {i + 3} please, {'loud' * i}")]
            for choice, tools in (("required", strict_tools), ("auto", strict_tools), ("none", [])):
                for temperature in (0.0, 0.8):  # sampling reads the whole float32 row
                    r = GenerationRequest(messages=msgs, tools=tools, tool_choice=choice,
                                          sampling=SamplingParams(temperature=temperature, seed=i, max_tokens=40))
                    assert ours.generate_text(r)[0] == ref.generate_text(r)[0], (i, choice, temperature)
    finally:
        BFloat16Head.settle = real_settle
    assert 1 in settled  # masked single rows were settled, not only whole passes
