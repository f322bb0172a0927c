"""Line-by-line validation of a dataset JSONL file (``data validate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tooltune.core.dataset import parse_line
from tooltune.core.validate import conversation_errors


@dataclass
class CheckReport:
    total: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    """(1-based line number, reason) for each bad line."""


def line_errors(line: str) -> list[str]:
    """Why one JSONL line is not a valid conversation (empty when it is)."""
    conv, why = parse_line(line)
    if conv is None:
        return [str(why)]
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
