import json
from pathlib import Path

import pytest

from tooltune.core.tools import load_tools
from tooltune.core.types import Conversation, Message, make_call


def _conversations(n: int) -> list[Conversation]:
    """Small hermetic Task API conversations: calls, tool results, text answers, parallel calls."""
    tools = load_tools("taskapi")
    titles = ["buy milk", "call mom", "pay rent", "walk dog", "fix bike", "book flight", "water plants"]
    out = []
    for i in range(n):
        title = titles[i % len(titles)]
        call = make_call("create_task", {"title": title, "priority": ["low", "medium", "high"][i % 3]}, f"call_{i}a")
        msgs = [
            Message(role="system", content=f"Today is 2026-03-{1 + i % 28:02d}."),
            Message(role="user", content=f"add a task to {title}, priority {['low', 'medium', 'high'][i % 3]}"),
            Message(role="assistant", tool_calls=[call]),
            Message(role="tool", tool_call_id=call.id, content=json.dumps({"id": i + 1, "title": title})),
            Message(role="assistant", content=f"Added task {i + 1}: {title}."),
        ]
        if i % 2:
            c1 = make_call("complete_task", {"task_id": i + 1}, f"call_{i}b")
            c2 = make_call("list_tasks", {"status": "open"}, f"call_{i}c")
            msgs += [
                Message(role="user", content=f"complete task {i + 1} and show my open tasks"),
                Message(role="assistant", tool_calls=[c1, c2]),
                Message(role="tool", tool_call_id=c1.id, content='{"ok":true}'),
                Message(role="tool", tool_call_id=c2.id, content='{"tasks":[]}'),
                Message(role="assistant", content="Done; nothing else is open."),
            ]
        out.append(Conversation(messages=msgs, tools=tools))
    return out


@pytest.fixture(scope="session")
def train_jsonl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("train-data") / "train.jsonl"
    path.write_text("".join(json.dumps(c.to_json()) + "\n" for c in _conversations(24)))
    return path


@pytest.fixture(scope="session")
def eval_jsonl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eval-data") / "eval.jsonl"
    path.write_text("".join(json.dumps(c.to_json()) + "\n" for c in _conversations(6)))
    return path


@pytest.fixture
def lora_model(tiny_model_dir):
    """Make a small LoRA model on the tiny config model, with the tool tags as trained added tokens:
    ``lora_model()`` -> (peft model, tokenizer, the added token ids)."""
    from tooltune.core.models import load_model
    from tooltune.train.config import TrainConfig
    from tooltune.train.tokens import add_tool_tokens
    from tooltune.train.trainer import wrap_lora

    def make():
        model, tok, _ = load_model(tiny_model_dir)
        new_ids = add_tool_tokens(model, tok)
        assert new_ids
        return wrap_lora(model, TrainConfig(lora_r=4, lora_alpha=8, lora_dropout=0.0), new_ids), tok, new_ids

    return make


@pytest.fixture
def loss_and_grads():
    """``loss_and_grads(model, (ids, mask, lengths), autocast, shared_prefix)`` -> (the assistant
    loss, each trained parameter's gradient), the gradients cleared from the model afterwards."""
    import torch

    from tooltune.train.loss import AssistantLoss

    def run(model, batch, autocast, shared_prefix=True):
        loss_fn = AssistantLoss(model, shared_prefix=shared_prefix).train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(*batch)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        model.zero_grad(set_to_none=True)
        return loss.detach(), grads

    return run
