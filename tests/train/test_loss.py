import torch

from tooltune.core.format import PromptFormat
from tooltune.core.models import load_model
from tooltune.train.data import collate, load_conversations, tokenize
from tooltune.train.loss import AssistantLoss, shared_prefix_len


def _batch(train_jsonl, tok, n=4):
    examples, _ = tokenize(load_conversations(train_jsonl)[:n], tok, PromptFormat(), 4096)
    ids, mask, _ = collate(examples, tok.pad_token_id)
    return ids, mask, torch.tensor([len(e.ids) for e in examples])


def test_shared_prefix_gives_the_same_loss_as_full_forward(tiny_model_dir, train_jsonl):
    model, tok, _ = load_model(tiny_model_dir)
    ids, mask, lengths = _batch(train_jsonl, tok)
    assert shared_prefix_len(ids, mask[:, 1:], lengths) > 100  # the tools block
    with_prefix = AssistantLoss(model, shared_prefix=True).train()
    without = AssistantLoss(model, shared_prefix=False).train()
    a, b = with_prefix(ids, mask, lengths), without(ids, mask, lengths)
    assert torch.allclose(a, b, atol=1e-5)


def test_loss_matches_transformers_labels_loss(tiny_model_dir, train_jsonl):
    """Same value as the model's own loss with non-assistant labels set to -100."""
    model, tok, _ = load_model(tiny_model_dir)
    ids, mask, lengths = _batch(train_jsonl, tok, n=1)
    ours = AssistantLoss(model, shared_prefix=False)(ids, mask, lengths)
    labels = ids.masked_fill(~mask, -100)
    assert torch.allclose(ours, model(input_ids=ids, labels=labels).loss, atol=1e-5)


def test_reused_prefix_lags_the_weights_for_at_most_n_steps(tiny_model_dir, train_jsonl):
    model, tok, _ = load_model(tiny_model_dir)
    ids, mask, lengths = _batch(train_jsonl, tok)
    fresh = AssistantLoss(model, shared_prefix=True).train()
    reuse = AssistantLoss(model, shared_prefix=True, prefix_reuse=2).train()
    # Same weights: the reused keys/values give the same loss, step after step.
    first = reuse(ids, mask, lengths)
    assert torch.allclose(first, fresh(ids, mask, lengths), atol=1e-6)
    assert torch.allclose(reuse(ids, mask, lengths), first, atol=1e-6)
    # Change the weights: the next reuse still sees the old prefix (different loss from fresh),
    # and the one after the limit recomputes it (the same as fresh again).
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.05)
    want = fresh(ids, mask, lengths)
    assert not torch.allclose(reuse(ids, mask, lengths), want, atol=1e-4)  # second reuse: stale
    assert torch.allclose(reuse(ids, mask, lengths), want, atol=1e-6)  # limit reached: recomputed
    # Another prefix (other tools) is never served the held one.
    other = ids.clone()
    other[:, 5] = (other[:, 5] + 1) % 50
    assert torch.allclose(reuse(other, mask, lengths), fresh(other, mask, lengths), atol=1e-6)


def test_a_weighted_mask_gives_the_weighted_mean(tiny_model_dir, train_jsonl):
    model, tok, _ = load_model(tiny_model_dir)
    ids, mask, lengths = _batch(train_jsonl, tok, n=2)
    loss = AssistantLoss(model, shared_prefix=True).train()
    plain = loss(ids, mask, lengths)
    assert torch.allclose(loss(ids, mask.float(), lengths), plain, atol=1e-6)  # all weights 1: the same mean
    weights = mask.float()
    weights[0, mask[0].nonzero()[0, 0]] = 5.0  # one decision token weighs 5
    with torch.no_grad():
        labels = ids.masked_fill(~mask, -100)
        logits = model(input_ids=ids).logits[:, :-1].float()
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                               reduction="none", ignore_index=-100).view_as(labels[:, 1:])
        w = weights[:, 1:]
        want = (ce * w).sum() / w.sum()
    assert torch.allclose(loss(ids, weights, lengths), want, atol=1e-5)
    assert not torch.allclose(want, plain, atol=1e-4)


def test_prefix_attention_gives_the_repeated_caches_loss_and_gradients(tiny_model_dir, train_jsonl):
    model, tok, _ = load_model(tiny_model_dir)
    ids, mask, lengths = _batch(train_jsonl, tok)
    loss = AssistantLoss(model, shared_prefix=True).train()
    assert loss.prefix_attention  # a plain causal model on the CPU takes it
    runs = []
    for one_copy in (True, False):  # False: the prefix cache repeated per row, through SDPA
        loss.prefix_attention = one_copy
        model.zero_grad()
        value = loss(ids, mask, lengths)
        value.backward()
        runs.append((value.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (a, grads_a), (b, grads_b) = runs
    assert torch.allclose(a, b, atol=1e-5)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-5, rtol=1e-3), name


def test_models_with_windows_or_capped_logits_keep_sdpa(tiny_model_dir):
    from tooltune.train.prefix_attention import use_prefix_attention

    model, _, _ = load_model(tiny_model_dir)
    model.config.sliding_window = 64
    assert not use_prefix_attention(model)
    model.config.sliding_window = None
    model.config.attn_logit_softcapping = 50.0
    assert not use_prefix_attention(model)
