import pytest
import yaml

from tooltune.core.format import PromptFormat, chat_template
from tooltune.core.models import BASE_FILE, ModelNotFound, load_model, resolve


def test_resolve_model_dir_and_run_dir(tiny_model_dir, tmp_path):
    r = resolve(tiny_model_dir)
    assert r.weights == str(tiny_model_dir) and r.adapter is None
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    for f in tiny_model_dir.iterdir():
        (run / "model" / f.name).write_bytes(f.read_bytes())
    assert resolve(run).weights == str(run / "model")


def test_resolve_errors(tmp_path):
    with pytest.raises(ModelNotFound, match="model not found"):
        resolve("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match="no config.json"):
        resolve(tmp_path / "empty")


def test_load_model_installs_our_template(tiny_model_dir):
    model, tok, fmt = load_model(tiny_model_dir)
    assert fmt == PromptFormat()
    assert tok.chat_template == chat_template(fmt)
    assert not model.training


def test_adapter_run_dir_loads_base_plus_adapter(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = tmp_path / "run" / "model"
    peft_model.save_pretrained(out)
    (out / BASE_FILE).write_text(yaml.safe_dump({"base": str(tiny_model_dir)}))
    PromptFormat(tool_style="json").save(out)
    r = resolve(tmp_path / "run")
    assert r.adapter == out and r.weights == str(tiny_model_dir)
    merged, tok, fmt = load_model(tmp_path / "run")
    assert fmt.tool_style == "json"
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        want = peft_model.eval()(ids).logits
        got = merged(ids).logits
    assert torch.allclose(want, got, atol=1e-5)
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        assert not torch.allclose(plain(ids).logits, got, atol=1e-4)  # the adapter really applied
