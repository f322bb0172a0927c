import pytest
import yaml


def make_run_dir(root, base_dir, seed: int = 1):
    """A run directory as `tooltune train` writes it: RUN/model/ = LoRA adapter (with non-zero
    B matrices, so merging changes the logits) + tooltune_base.yaml + tokenizer + prompt_format."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tooltune.core.format import PromptFormat

    model_dir = root / "model"
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], lora_dropout=0.0)
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(model_dir)
    PromptFormat().save(model_dir)
    (model_dir / "tooltune_base.yaml").write_text(yaml.safe_dump({"base": str(base_dir)}))
    (model_dir / "train_config.yaml").write_text("{}\n")
    return root


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory, tiny_model_dir):
    return make_run_dir(tmp_path_factory.mktemp("run"), tiny_model_dir)


@pytest.fixture(scope="session")
def tool_prompt():
    """A tool prompt in our format (system with the Task API tools, a user turn, a tool round)."""
    from tooltune.core.tools import load_tools
    from tooltune.core.types import Message, make_call

    tools = load_tools("taskapi")
    call = make_call("create_task", {"title": "buy milk", "due_date": "2026-03-06", "priority": "high"}, "c1")
    messages = [
        Message(role="system", content="Today is 2026-03-05 (Thursday)."),
        Message(role="user", content="add a task to buy milk tomorrow with high priority"),
        Message(role="assistant", content=None, tool_calls=[call]),
        Message(role="tool", tool_call_id="c1", content='{"id": 3, "title": "buy milk"}'),
        Message(role="user", content="and list my open tasks"),
    ]
    return messages, tools
