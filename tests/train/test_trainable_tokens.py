import copy

import pytest
import torch

from tooltune.core.format import PromptFormat
from tooltune.train.data import collate, load_conversations, tokenize
from tooltune.train.frozen_bf16 import frozen_linears_to_bfloat16
from tooltune.train.loss import AssistantLoss
from tooltune.train.trainable_tokens import cheap_trainable_tokens


def _batch(tok, train_jsonl):
    examples, _ = tokenize(load_conversations(train_jsonl)[:4], tok, PromptFormat(), 4096)
    ids, mask, _ = collate(examples, tok.pad_token_id, decision_weight=4.0)
    return ids, mask, torch.tensor([len(e.ids) for e in examples])


def test_the_embedding_and_the_tied_head_get_it_once(lora_model):
    model, _, _ = lora_model()
    assert cheap_trainable_tokens(model) == 2
    assert cheap_trainable_tokens(model) == 0


@pytest.mark.parametrize("autocast,shared_prefix", [(True, True), (True, False), (False, True)])
def test_same_loss_and_gradients_as_peft(lora_model, loss_and_grads, train_jsonl, autocast, shared_prefix):
    model, tok, _ = lora_model()
    if autocast:
        frozen_linears_to_bfloat16(model)  # as the trainer runs bf16 autocast on a CPU
    cheap = copy.deepcopy(model)
    cheap_trainable_tokens(cheap)
    batch = _batch(tok, train_jsonl)
    assert bool(torch.isin(batch[0], torch.tensor(tok.convert_tokens_to_ids(["<tool_call>"]))).any())
    loss_a, grads_a = loss_and_grads(model, batch, autocast, shared_prefix)
    loss_b, grads_b = loss_and_grads(cheap, batch, autocast, shared_prefix)
    assert torch.equal(loss_a, loss_b)
    assert grads_a.keys() == grads_b.keys()
    delta = [n for n in grads_a if "trainable_tokens_delta" in n]
    assert delta and all(grads_a[n].abs().sum() > 0 for n in delta)  # both rows appear and train
    for name in grads_a:
        if name in delta:  # the rows' own gradient: a smaller product, the same sums in another order
            torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-5, atol=1e-7)
        else:
            assert torch.equal(grads_a[name], grads_b[name]), name


def test_training_steps_follow_peft_and_save_the_same_adapter(lora_model, train_jsonl, tmp_path):
    model, tok, new_ids = lora_model()
    cheap = copy.deepcopy(model)
    cheap_trainable_tokens(cheap)
    batch = _batch(tok, train_jsonl)
    losses = []
    for m in (model, cheap):
        loss_fn = AssistantLoss(m).train()
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
        run = []
        for _ in range(3):  # the rows change every step: the head's copy must follow them
            loss = loss_fn(*batch)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            run.append(loss.item())
        losses.append(run)
    assert losses[0] == pytest.approx(losses[1], rel=1e-5) and losses[0][0] > losses[0][-1]
    emb = cheap.get_base_model().get_input_embeddings()
    trained = emb.token_adapter.trainable_tokens_delta["default"].detach()
    # what the model now computes for the new tokens is the trained rows, in and out
    ids = torch.tensor([new_ids])
    assert torch.equal(emb(ids)[0], trained)
    h = torch.randn(3, trained.shape[1])
    head = cheap.get_base_model().get_output_embeddings()
    torch.testing.assert_close(head(h)[:, new_ids], h @ trained.t())
    cheap.save_pretrained(tmp_path / "a")
    model.save_pretrained(tmp_path / "b")
    from safetensors.torch import load_file

    a, b = (load_file(tmp_path / d / "adapter_model.safetensors") for d in ("a", "b"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)


def test_a_merged_adapter_takes_peft_path(lora_model):
    model, _, new_ids = lora_model()
    cheap_trainable_tokens(model)
    emb = model.get_base_model().get_input_embeddings()
    with torch.no_grad():
        emb.token_adapter.trainable_tokens_delta["default"].add_(1.0)
    ids = torch.tensor([[new_ids[0], 5]])
    before = emb(ids).detach()
    emb.token_adapter.merge()
    torch.testing.assert_close(emb(ids), before)
    emb.token_adapter.unmerge()
    torch.testing.assert_close(emb(ids), before)
