"""QLoRA (4-bit NF4 base via bitsandbytes, LoRA adapters in bf16) on a CUDA GPU, and its export:
the adapter trained against the 4-bit base is merged into the float base by
``tooltune export --format hf``. Skipped cleanly where there is no CUDA GPU or no bitsandbytes
(``pip install bitsandbytes==0.50.2`` on CUDA machines; see docs/gpu.md)."""

import pytest
import torch
import yaml

if not torch.cuda.is_available():
    pytest.skip("QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels)", allow_module_level=True)
pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes (pip install bitsandbytes==0.50.2)")


def test_qlora_steps_then_export_merges_into_the_float_base(tiny_model_dir, tool_prompt, tmp_path):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from tooltune.core.format import PromptFormat, render, tokenize_with_mask
    from tooltune.export import export_hf

    bnb = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, quantization_config=bnb, device_map={"": 0})
    assert getattr(model, "is_loaded_in_4bit", False)
    model = prepare_model_for_kbit_training(model)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0))
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)

    messages, tools = tool_prompt
    ids, mask = tokenize_with_mask(tok, render(messages, tools))
    input_ids = torch.tensor([ids], device="cuda")
    labels = torch.where(torch.tensor([mask], device="cuda"), input_ids, torch.full_like(input_ids, -100))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(5):
        loss = model(input_ids=input_ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]

    run = tmp_path / "run" / "model"
    model.save_pretrained(run)
    tok.save_pretrained(run)
    PromptFormat().save(run)
    (run / "tooltune_base.yaml").write_text(yaml.safe_dump({"base": str(tiny_model_dir)}))
    out = export_hf(run.parent, tmp_path / "hf")
    merged = AutoModelForCausalLM.from_pretrained(out)  # plain float weights, no bitsandbytes
    assert getattr(merged.config, "quantization_config", None) is None
    with torch.no_grad():
        q_logits = model(input_ids=input_ids).logits[0, -1].float().cpu()
        f_logits = merged(input_ids.cpu()).logits[0, -1]
    # trained against NF4-rounded base weights, merged into the float ones: close, not identical
    assert torch.nn.functional.cosine_similarity(q_logits, f_logits, dim=0) > 0.9
