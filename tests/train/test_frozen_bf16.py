import copy

import pytest
import torch

from tooltune.core.format import PromptFormat
from tooltune.train.data import collate, load_conversations, tokenize
from tooltune.train.frozen_bf16 import frozen_linears_to_bfloat16


def test_only_the_frozen_projections_go_to_bfloat16(lora_model):
    model, _, _ = lora_model()
    before = {n: p.dtype for n, p in model.named_parameters()}
    converted = frozen_linears_to_bfloat16(model)
    after = dict(model.named_parameters())
    changed = {n for n, p in after.items() if p.dtype != before[n]}
    assert changed and converted == sum(after[n].numel() for n in changed)
    assert all(n.endswith("base_layer.weight") and after[n].dtype == torch.bfloat16 for n in changed)
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    base = model.get_base_model()
    for emb in (base.get_input_embeddings(), base.get_output_embeddings()):  # tied, with trained rows
        assert all(p.dtype == torch.float32 for p in emb.parameters())
    assert frozen_linears_to_bfloat16(model) == 0  # nothing left to convert


@pytest.mark.parametrize("shared_prefix", [True, False])
def test_bfloat16_frozen_weights_train_exactly_as_autocast_did(lora_model, loss_and_grads, train_jsonl, shared_prefix):
    model, tok, _ = lora_model()
    stored = copy.deepcopy(model)
    frozen_linears_to_bfloat16(stored)
    examples, _ = tokenize(load_conversations(train_jsonl)[:4], tok, PromptFormat(), 4096)
    ids, mask, _ = collate(examples, tok.pad_token_id)
    batch = (ids, mask, torch.tensor([len(e.ids) for e in examples]))
    loss_a, grads_a = loss_and_grads(model, batch, True, shared_prefix)
    loss_b, grads_b = loss_and_grads(stored, batch, True, shared_prefix)
    assert torch.equal(loss_a, loss_b)
    assert grads_a.keys() == grads_b.keys() and all(g is not None for g in grads_a.values())
    for name in grads_a:
        assert torch.equal(grads_a[name], grads_b[name]), name
