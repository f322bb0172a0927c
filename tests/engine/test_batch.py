"""RaggedBatch: sequences of different lengths advanced in one pass, no padding; the same logits
as running each alone; bookkeeping of buffers, rollbacks and the views the prefix cache keeps."""

from __future__ import annotations

import pytest
import torch
from transformers import (AutoModelForCausalLM, DynamicCache, Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig,
                          LlamaForCausalLM, MistralConfig, MistralForCausalLM)

from tooltune.engine.attention import use_engine_attention
from tooltune.engine.batch import GROWTH, RaggedBatch


class _Owner:
    """Whatever the engine seats (its sequences); hashed by identity."""


def _alone(model, prompt: list[int], new: list[int]) -> torch.Tensor:
    """Stock transformers: the prompt, then ``new`` over its cache; logits of the new tokens."""
    cache = DynamicCache()
    model(input_ids=torch.tensor([prompt]), past_key_values=cache, use_cache=True)
    return model(input_ids=torch.tensor([new]), past_key_values=cache, use_cache=True).logits[0]


def _same_as_alone(model, reference) -> None:
    use_engine_attention(model)
    torch.manual_seed(0)
    prompts = [torch.randint(5, 60, (n,)).tolist() for n in (9, 3, 14)]
    feeds = [torch.randint(5, 60, (n,)).tolist() for n in (1, 5, 3)]
    owners = [_Owner() for _ in prompts]
    batch = RaggedBatch(model)
    with torch.inference_mode():
        first = {}
        for owner, prompt in zip(owners, prompts):  # the prompts in one pass too
            batch.add(owner, None, 0)
            first[owner] = prompt
        out = batch.step(first, {o: len(p) for o, p in zip(owners, prompts)})
        for owner, prompt in zip(owners, prompts):
            expected = reference(input_ids=torch.tensor([prompt])).logits[0]
            torch.testing.assert_close(out[owner], expected, rtol=1e-4, atol=1e-5)
        out = batch.step(dict(zip(owners, feeds)), {o: len(f) for o, f in zip(owners, feeds)})
        for owner, prompt, feed in zip(owners, prompts, feeds):
            torch.testing.assert_close(out[owner], _alone(reference, prompt, feed), rtol=1e-4, atol=1e-5)
            assert batch.length(owner) == len(prompt) + len(feed)


def test_a_ragged_pass_gives_each_sequence_its_own_logits(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    assert model.config.num_key_value_heads < model.config.num_attention_heads  # grouped heads covered
    _same_as_alone(model, reference)


def _mistral():
    config = MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                           sliding_window=4, attn_implementation="sdpa")
    return MistralForCausalLM, config


def _gemma3():
    config = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                              sliding_window=4, layer_types=["sliding_attention", "full_attention"],
                              attn_implementation="sdpa")
    return Gemma3ForCausalLM, config


@pytest.mark.parametrize("make", [_mistral, _gemma3], ids=["mistral-window-keyword", "gemma3-window-per-layer"])
def test_sliding_window_layers_see_only_their_window(make):
    cls, config = make()
    torch.manual_seed(1)
    model = cls(config).eval()
    reference = cls(config).eval()
    reference.load_state_dict(model.state_dict())
    _same_as_alone(model, reference)


def _kv(length: int, layers: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.randn(1, 2, length, 4), torch.randn(1, 2, length, 4)) for _ in range(layers)]


def test_seating_rollback_growth_and_extract():
    batch = RaggedBatch(model=None)
    a, b = _Owner(), _Owner()
    kv = _kv(20)
    batch.add(a, kv, 20)
    batch.add(b, _kv(5), 5)
    assert batch.live() == 2 and batch.length(a) == 20
    views = batch.extract(a)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(kv, views))
    seq = batch._seqs[a]
    capacity = seq.capacity
    # Growing past the capacity moves the buffers; what was there comes along.
    seq.reserve(capacity + 1)
    assert seq.capacity >= capacity + 1 + GROWTH
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(kv, batch.extract(a)))
    # The views taken before still hold the prompt: nothing writes below a sequence's length.
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(kv, views))
    batch.rollback(a, 3)
    assert batch.length(a) == 17 and batch.extract(a)[0][0].shape[2] == 17
    copies = batch.extract(b, copy=True)
    assert copies[0][0].untyped_storage().data_ptr() != batch._seqs[b].keys[0].untyped_storage().data_ptr()
    batch.remove(a)
    batch.remove(b)
    assert batch.live() == 0


def test_a_model_that_cannot_take_the_attention_is_refused():
    from tooltune.engine.base import EngineError
    from tooltune.engine.hf_engine import TransformersEngine

    class Stubborn(LlamaForCausalLM):
        def set_attn_implementation(self, name):
            raise ValueError("no custom attention here")

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, max_position_embeddings=64)
    with pytest.raises(EngineError, match="custom attention"):
        TransformersEngine(Stubborn(config), tokenizer=None)
