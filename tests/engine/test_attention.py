"""The copy-free grouped-query attention for CPU serving: same outputs as transformers' SDPA,
without repeating the KV heads."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache, LlamaConfig, LlamaForCausalLM

from tooltune.engine.attention import NAME, use_grouped_attention


def masked_multi_token_pass(model):
    """Two rows over a shared cache, the first left-padded, three new tokens each: the kind of
    pass jump-forward, drafts and batching run."""
    torch.manual_seed(0)
    prompt = torch.randint(5, 300, (2, 12))
    mask = torch.ones(2, 15, dtype=torch.long)
    mask[0, :4] = 0
    cache = DynamicCache()
    with torch.inference_mode():
        model(input_ids=prompt, attention_mask=mask[:, :12], past_key_values=cache, use_cache=True)
        out = model(input_ids=torch.randint(5, 300, (2, 3)), attention_mask=mask, past_key_values=cache, use_cache=True)
    return out.logits


def test_same_logits_as_sdpa_without_repeating_kv_heads(tiny_model_dir, monkeypatch):
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    assert model.config.num_key_value_heads < model.config.num_attention_heads
    expected = masked_multi_token_pass(reference)
    assert use_grouped_attention(model)
    assert model.config._attn_implementation == NAME

    def no_copy(*args, **kwargs):
        raise AssertionError("the KV heads were repeated")

    monkeypatch.setattr("transformers.integrations.sdpa_attention.repeat_kv", no_copy)
    torch.testing.assert_close(masked_multi_token_pass(model), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(AssertionError, match="repeated"):
        masked_multi_token_pass(reference)  # the stock path does copy them


def test_left_alone_without_grouped_heads_or_on_other_attention():
    config = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=4, max_position_embeddings=64)
    plain = LlamaForCausalLM(LlamaConfig(**config, num_key_value_heads=4, attn_implementation="sdpa"))
    assert not use_grouped_attention(plain)
    eager = LlamaForCausalLM(LlamaConfig(**config, num_key_value_heads=2, attn_implementation="eager"))
    assert not use_grouped_attention(eager) and eager.config._attn_implementation == "eager"
    assert not use_grouped_attention(object())
