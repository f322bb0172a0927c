import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from tooltune.core.dataset import read_conversations
from tooltune.core.format import render_assistant_body
from tooltune.core.models import load_model
from tooltune.core.replies import load_replies
from tooltune.train.checkpoint import last_checkpoint
from tooltune.train.config import make_config
from tooltune.train.trainer import train


def _cfg(base, **kw):
    settings = dict(base=str(base), max_steps=3, batch_tokens=2048, lr=5e-3, checkpoint_every=0, log_every=1)
    settings.update(kw)
    return make_config(None, settings)


def _state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_lora_run_writes_the_run_dir_contract(tiny_model_dir, train_jsonl, eval_jsonl, tmp_path):
    run = tmp_path / "run"
    res = train(_cfg(tiny_model_dir), train_jsonl, run, eval_data=eval_jsonl, log=lambda m: None)
    model_dir = run / "model"
    for name in ("adapter_config.json", "tooltune_base.yaml", "prompt_format.yaml", "train_config.yaml",
                 "tokenizer_config.json"):
        assert (model_dir / name).is_file(), name
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3]
    assert {"loss", "lr", "tokens_per_s", "elapsed_s"} <= set(rows[0])
    assert "eval_loss" in rows[-1] and (run / "loss.png").stat().st_size > 1000
    assert res.summary["added_tokens"] == ["<tool_call>", "</tool_call>"]
    # The adapter holds the LoRA matrices and the added tokens' rows, not whole embedding matrices.
    saved = load_file(model_dir / "adapter_model.safetensors")
    assert all("lora_" in k or k.endswith("trainable_tokens_delta") for k in saved), sorted(saved)
    assert any(k.endswith("trainable_tokens_delta") for k in saved)
    # A sample of the training replies, for serving's drafts (tooltune.core.replies).
    replies = load_replies(model_dir)
    assert replies and any(r.startswith("<tool_call>") for r in replies)
    assert set(replies) <= {render_assistant_body(m.content, m.tool_calls)
                            for _, conv, _ in read_conversations(train_jsonl) for m in conv.messages if m.role == "assistant"}


def test_training_changes_trained_parameters_only(tiny_model_dir, train_jsonl, tmp_path):
    """Base weights stay bit-identical; LoRA weights and the new tool-tag rows change."""
    run = tmp_path / "run"
    train(_cfg(tiny_model_dir), train_jsonl, run, log=lambda m: None)
    base, _, _ = load_model(tiny_model_dir)
    tuned, tok, _ = load_model(run, merge_adapter=False)
    base_sd = _state(base)
    new_ids = tok.convert_tokens_to_ids(["<tool_call>", "</tool_call>"])
    n_old = base.get_input_embeddings().weight.shape[0]
    changed_lora = 0
    for name, p in tuned.named_parameters():
        if "lora_" in name:
            changed_lora += int(not torch.equal(p, torch.zeros_like(p)))
            continue
        plain = name.replace("base_model.model.", "").replace(".base_layer", "")
        if "token_adapter" in name:
            continue
        if plain in base_sd:
            old = base_sd[plain]
            if p.shape != old.shape:  # resized embedding: old rows identical
                assert torch.equal(p[:n_old], old), name
            else:
                assert torch.equal(p, old), name
    assert changed_lora > 0
    emb_after = tuned.get_input_embeddings()
    ids = torch.tensor([new_ids])
    vec = emb_after(ids)[0]
    pieces = [tok_ids for tok_ids in (base_tok_ids(tiny_model_dir, t) for t in ["<tool_call>", "</tool_call>"])]
    init = torch.stack([base.get_input_embeddings().weight[p].mean(0) for p in pieces])
    assert not torch.allclose(vec, init), "the new token rows were not trained or not saved"


def base_tok_ids(model_dir, text):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)(text, add_special_tokens=False)["input_ids"]


def test_full_fine_tuning_changes_weights(tiny_model_dir, train_jsonl, tmp_path):
    run = tmp_path / "run"
    train(_cfg(tiny_model_dir, method="full", lr=1e-3), train_jsonl, run, log=lambda m: None)
    assert (run / "model" / "config.json").is_file() and not (run / "model" / "adapter_config.json").exists()
    base, _, _ = load_model(tiny_model_dir)
    tuned, _, _ = load_model(run)
    b = base.model.layers[0].mlp.down_proj.weight
    assert not torch.equal(b, tuned.model.layers[0].mlp.down_proj.weight)


@pytest.mark.parametrize("prefix_reuse", [0, 3])
def test_same_seed_same_run_and_resume_continues(tiny_model_dir, train_jsonl, tmp_path, prefix_reuse):
    """With prefix_reuse the checkpoint carries the reused prefix KV: the resumed run still ends identical."""
    cfg = _cfg(tiny_model_dir, max_steps=4, checkpoint_every=2, keep_checkpoints=5, prefix_reuse=prefix_reuse)
    a = train(cfg, train_jsonl, tmp_path / "a", log=lambda m: None)
    b = train(cfg, train_jsonl, tmp_path / "b", log=lambda m: None)
    assert a.summary["replica_digests"] == b.summary["replica_digests"]

    # Turn b into a run stopped at step 2, then resume it: same end state as the uninterrupted run.
    ck = last_checkpoint(tmp_path / "b")
    assert ck is not None and ck.name == "step-2"
    shutil.rmtree(tmp_path / "b" / "model")
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    (tmp_path / "b" / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n")
    logs = []
    c = train(cfg, train_jsonl, tmp_path / "b", resume=True, log=logs.append)
    assert c.summary["resumed_from"] == 2
    assert any("resuming" in m and "step 2" in m for m in logs)
    assert c.summary["replica_digests"] == a.summary["replica_digests"]
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines() if "loss" in x]
    assert steps == [1, 2, 3, 4]


def test_existing_run_is_not_overwritten(tiny_model_dir, train_jsonl, tmp_path):
    from tooltune.train.trainer import TrainError

    train(_cfg(tiny_model_dir, max_steps=1), train_jsonl, tmp_path / "r", log=lambda m: None)
    with pytest.raises(TrainError, match="already holds a run"):
        train(_cfg(tiny_model_dir, max_steps=1), train_jsonl, tmp_path / "r", log=lambda m: None)


def test_lora_top_layers_adapts_only_the_last_layers(tiny_model_dir, train_jsonl, tmp_path):
    """'all-linear' with a layer subset: every Linear of the top layers gets an adapter, none below."""
    run = tmp_path / "run"
    train(_cfg(tiny_model_dir, lora_top_layers=1, add_tool_tokens=False), train_jsonl, run, log=lambda m: None)
    tuned, _, _ = load_model(run, merge_adapter=False)
    n = tuned.config.num_hidden_layers
    adapted = {name.split(".layers.")[1].split(".")[0] for name, _ in tuned.named_parameters() if "lora_A" in name}
    assert adapted == {str(n - 1)}
    kinds = {name.split(".lora_A")[0].split(".")[-1] for name, _ in tuned.named_parameters() if "lora_A" in name}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= kinds


@pytest.mark.parametrize("pays, expect", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_trains_in_bf16_only_where_it_pays(tiny_model_dir, train_jsonl, tmp_path, monkeypatch, pays, expect):
    from tooltune.core import hardware

    monkeypatch.setattr(hardware, "bf16_pays", lambda device: pays)
    seen = []
    real = torch.autocast.__init__

    def spy(self, device_type, *a, **kw):
        seen.append((kw.get("dtype"), kw.get("enabled", True)))
        real(self, device_type, *a, **kw)

    monkeypatch.setattr(torch.autocast, "__init__", spy)
    res = train(_cfg(tiny_model_dir, max_steps=2, precision="auto"), train_jsonl, tmp_path / "r", log=lambda m: None)
    assert res.summary["precision"] == expect
    bf16_on = any(dtype == torch.bfloat16 and enabled for dtype, enabled in seen)
    assert bf16_on == (expect == "bf16")
    assert (tmp_path / "r" / "model" / "adapter_model.safetensors").is_file()
