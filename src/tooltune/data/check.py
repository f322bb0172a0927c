"""Line-by-line validation of a dataset JSONL file (``data validate``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from tooltune.core.types import Conversation
from tooltune.core.validate import conversation_errors


@dataclass
class CheckReport:
    total: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    """(1-based line number, reason) for each bad line."""


def _pydantic_reason(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def line_errors(line: str) -> list[str]:
    """Why one JSONL line is not a valid conversation (empty when it is)."""
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError as e:
        return [f"invalid JSON: {e.msg} (column {e.colno})"]
    if not isinstance(raw, dict):
        return ["not a JSON object"]
    if "messages" not in raw:
        return ["no 'messages' field"]
    try:
        conv = Conversation.model_validate(raw)
    except ValidationError as e:
        return [_pydantic_reason(e)]
    return conversation_errors(conv.messages, conv.tools)


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if line.strip():
                yield i, line


def check_file(path: Path) -> CheckReport:
    report = CheckReport()
    for line_no, line in iter_lines(path):
        report.total += 1
        errors = line_errors(line)
        if errors:
            report.bad.append((line_no, "; ".join(errors)))
    return report
