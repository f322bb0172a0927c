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
