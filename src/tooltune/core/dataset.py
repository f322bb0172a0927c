"""Read dataset JSONL files (one ``Conversation`` per line) with line-numbered reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from .types import Conversation


def parse_line(line: str) -> tuple[Conversation | None, str | None]:
    """The conversation on one JSONL line, or why it is not one."""
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} (column {e.colno})"
    if not isinstance(raw, dict):
        return None, "not a JSON object"
    if "messages" not in raw:
        return None, "no 'messages' field"
    try:
        return Conversation.model_validate(raw), None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
        return None, f"{where}: {first['msg']}{more}"


def read_conversations(path: str | Path) -> Iterator[tuple[int, Conversation | None, str | None]]:
    """``(line number, conversation, reason)`` for every non-empty line; exactly one of the last
    two is set."""
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                conv, why = parse_line(line)
                yield n, conv, why
