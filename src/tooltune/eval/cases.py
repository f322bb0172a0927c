"""Dataset conversations -> evaluation cases.

Every assistant turn, with the conversation before it as context (the gold history, not the
model's own earlier turns), is one case. A conversation counts as a multi-turn success only
when every one of its turns is right (see ``metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable


from tooltune.core.dataset import read_conversations
from tooltune.core.types import Conversation, Message, Tool, ToolCall

KINDS = ("single", "parallel", "multi_turn", "no_call", "clarify", "error_recovery", "relative_date")
"""The ``meta.kind`` values the data stage writes; any other kind is kept as its own category."""


class CasesError(ValueError):
    """An eval file that cannot be read; the message says where and why."""


@dataclass
class EvalCase:
    id: str
    """Unique id: ``<conversation id>#<turn>``."""
    conversation_id: str
    """Cases of one conversation share it (for multi-turn success)."""
    turn: int
    """Index of this assistant turn among the conversation's assistant turns (0-based)."""
    category: str
    """``meta.kind`` of the conversation (or a suite category such as ``bfcl:simple``)."""
    messages: list[Message]
    """Context the model sees: everything before the expected assistant turn."""
    tools: list[Tool]
    """Tools declared for the conversation."""
    expected_content: str | None = None
    """What the reference assistant said (when it did not call a tool)."""
    expected_calls: list[ToolCall] = field(default_factory=list)
    """The reference tool calls of this turn (empty: the model must not call a tool)."""
    expects_clarification: bool = False
    """A required argument is missing, so the right answer is a question, not a call."""
    bfcl: dict[str, Any] | None = None
    """For BFCL cases: ``{"functions": [...], "possible_answer": [...], "category": ...}``."""

    @property
    def expects_call(self) -> bool:
        return bool(self.expected_calls) or bool(self.bfcl and self.bfcl.get("possible_answer"))


def cases_from_conversation(conv: Conversation, conversation_id: str) -> list[EvalCase]:
    """One case per assistant turn of ``conv``."""
    kind = str(conv.meta.get("kind") or "unknown")
    out: list[EvalCase] = []
    turn = 0
    for i, msg in enumerate(conv.messages):
        if msg.role != "assistant":
            continue
        calls = list(msg.tool_calls or [])
        clarify = kind == "clarify" and not calls and "?" in (msg.content or "")
        out.append(EvalCase(
            id=f"{conversation_id}#{turn}", conversation_id=conversation_id, turn=turn, category=kind,
            messages=list(conv.messages[:i]), tools=list(conv.tools), expected_content=msg.content,
            expected_calls=calls, expects_clarification=clarify,
        ))
        turn += 1
    return out


def load_conversations(path: str | Path, limit: int | None = None) -> list[tuple[str, Conversation]]:
    """``(id, Conversation)`` per line of a JSONL file (id from ``meta.id`` or the line number)."""
    p = Path(path)
    if not p.is_file():
        raise CasesError(f"eval data not found: {p}")
    out: list[tuple[str, Conversation]] = []
    for lineno, conv, why in read_conversations(p):
        if conv is None:
            raise CasesError(f"{p}:{lineno}: {why}")
        out.append((str(conv.meta.get("id") or f"line{lineno}"), conv))
        if limit is not None and len(out) >= limit:
            break
    return out


def load_cases(path: str | Path, limit: int | None = None) -> list[EvalCase]:
    """Cases from an eval JSONL file; ``limit`` caps the number of conversations read."""
    return cases_from_conversations(load_conversations(path, limit))


def cases_from_conversations(convs: Iterable[tuple[str, Conversation]]) -> list[EvalCase]:
    cases: list[EvalCase] = []
    seen: dict[str, int] = {}
    for cid, conv in convs:
        n = seen.get(cid, 0)
        seen[cid] = n + 1
        cases += cases_from_conversation(conv, cid if n == 0 else f"{cid}.{n}")
    return cases
