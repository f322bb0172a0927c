"""Sample replies saved next to a tuned model: what its assistant turns look like.

Training writes a sample of the training data's assistant turns (as the model writes them: text,
``<tool_call>`` blocks) to ``sample_replies.jsonl`` in the model directory; the serving engine reads
them back to seed its drafts from recent outputs (``tooltune.engine.output_history``,
``tooltune.engine.value_ends``). A fresh server then drafts a call's structure (``"}}</tool_call>``,
``","due_date":"``) from its first request instead of after a few dozen: the tuned model writes
what it was trained on. Drafts are verified against greedy decoding, so outputs do not change
(up to the float rounding that ``tooltune.engine.hf_engine`` describes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from .format.render import render_assistant_body
from .types import Conversation

REPLIES_FILE = "sample_replies.jsonl"
"""One JSON string per line: an assistant turn's body."""

SAMPLE_SIZE = 256
"""Replies kept: as many as the engine's output history holds."""


def sample_replies(conversations: Iterable[Conversation], limit: int = SAMPLE_SIZE) -> list[str]:
    """Up to ``limit`` assistant turns of ``conversations``, spread evenly over them (the data's
    mix of calls, answers and questions), in order."""
    bodies = [render_assistant_body(m.content, m.tool_calls)
              for conv in conversations for m in conv.messages if m.role == "assistant"]
    bodies = [b for b in bodies if b]
    if len(bodies) <= limit:
        return bodies
    step = len(bodies) / limit
    return [bodies[int(i * step)] for i in range(limit)]


def save_replies(directory: Path, replies: list[str]) -> None:
    (directory / REPLIES_FILE).write_text("".join(json.dumps(r) + "\n" for r in replies))


def load_replies(directory: Path | None) -> list[str]:
    """The replies saved in ``directory``; [] when there are none. A damaged file is not an error
    (the replies only speed decoding up): unreadable lines are skipped."""
    path = directory / REPLIES_FILE if directory is not None else None
    if path is None or not path.is_file():
        return []
    replies = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(reply, str) and reply:
            replies.append(reply)
    return replies


def copy_replies(source: Path | None, target: Path) -> None:
    """Carry the replies saved in ``source`` (if any) to the model directory ``target``
    (``tooltune merge``, ``tooltune export``)."""
    replies = load_replies(source)
    if replies:
        save_replies(target, replies)
