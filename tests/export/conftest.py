import pytest
import yaml


def make_run_dir(root, base_dir, seed: int = 1, tool_tokens: bool = False):
    """A run directory as `tooltune train` writes it: RUN/model/ = LoRA adapter (with non-zero
    B matrices, so merging changes the logits) + tooltune_base.yaml + tokenizer + prompt_format.
    ``tool_tokens``: <tool_call>/</tool_call> added as non-special tokens (train's default), the
    resized embedding saved with the adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tooltune.core.format import PromptFormat
    from tooltune.core.replies import save_replies

    torch.manual_seed(seed)
    model_dir = root / "model"
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    tok = AutoTokenizer.from_pretrained(base_dir)
    extra = {}
    if tool_tokens:
        tok.add_tokens(["<tool_call>", "</tool_call>"], special_tokens=False)
        base.resize_token_embeddings(len(tok), mean_resizing=False)
        extra = {"modules_to_save": ["embed_tokens"]}
    peft_model = get_peft_model(
        base,
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], lora_dropout=0.0, **extra),
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    PromptFormat().save(model_dir)
    (model_dir / "tooltune_base.yaml").write_text(yaml.safe_dump({"base": str(base_dir)}))
    (model_dir / "train_config.yaml").write_text("{}\n")
    save_replies(model_dir, ['<tool_call>{"name":"list_tasks","arguments":{}}</tool_call>', "Done."])
    return root


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory, tiny_model_dir):
    return make_run_dir(tmp_path_factory.mktemp("run"), tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_run_dir_tool_tokens(tmp_path_factory, tiny_model_dir):
    return make_run_dir(tmp_path_factory.mktemp("run-tt"), tiny_model_dir, seed=2, tool_tokens=True)


@pytest.fixture(scope="session", params=["plain", "tool_tokens"])
def any_run_dir(request):
    """Both run-directory shapes: plain vocabulary, and with the tool tags added as tokens."""
    return request.getfixturevalue("tiny_run_dir" if request.param == "plain" else "tiny_run_dir_tool_tokens")


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
