"""``data stats``: what a dataset holds (kinds, tools, calls per turn) and how long it renders."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from tooltune.core.types import Conversation

from .check import iter_lines


@dataclass
class DatasetStats:
    conversations: int = 0
    unreadable: int = 0
    kinds: Counter = field(default_factory=Counter)
    tools: Counter = field(default_factory=Counter)
    calls_per_turn: Counter = field(default_factory=Counter)
    """Assistant turns by number of calls (0 = answered in words)."""
    length_unit: str = "tokens"
    lengths: list[int] = field(default_factory=list)

    def percentiles(self) -> dict[str, int]:
        if not self.lengths:
            return {}
        xs = sorted(self.lengths)

        def pct(p: float) -> int:
            return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]

        return {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": xs[-1]}


def load_length_fn(tokenizer: str, warn: Callable[[str], None]) -> tuple[Callable[[str], int], str]:
    """A text -> length function: tokens of ``tokenizer`` when it loads, else characters."""
    if tokenizer.lower() in ("none", "chars", ""):
        return len, "characters"
    try:
        from transformers import AutoTokenizer

        from tooltune.core.models import resolve

        if Path(tokenizer).is_dir() and (Path(tokenizer) / "tokenizer_config.json").exists():
            source = tokenizer  # a bare tokenizer directory (no weights)
        else:
            resolved = resolve(tokenizer)
            source = resolved.tokenizer or resolved.weights
        tok = AutoTokenizer.from_pretrained(source)
    except Exception as e:  # any failure to load only costs the token counts
        warn(f"tokenizer {tokenizer!r} unavailable ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
             "reporting lengths in characters")
        return len, "characters"
    return (lambda text: len(tok(text, add_special_tokens=False)["input_ids"])), "tokens"


def compute_stats(path: Path, tokenizer: str = "smollm2-135m",
                  warn: Callable[[str], None] = lambda m: None) -> DatasetStats:
    from tooltune.core.format import render

    length, unit = load_length_fn(tokenizer, warn)
    s = DatasetStats(length_unit=unit)
    for _, line in iter_lines(path):
        try:
            raw: Any = json.loads(line)
            conv = Conversation.model_validate(raw)
        except (json.JSONDecodeError, ValidationError, TypeError):
            s.unreadable += 1
            continue
        s.conversations += 1
        s.kinds[str(conv.meta.get("kind", "unknown"))] += 1
        for m in conv.messages:
            if m.role != "assistant":
                continue
            calls = m.tool_calls or []
            s.calls_per_turn[len(calls)] += 1
            for c in calls:
                s.tools[c.function.name] += 1
        s.lengths.append(length(render(conv.messages, conv.tools).text))
    return s


def print_stats(s: DatasetStats, console: Any) -> None:
    from rich.table import Table

    console.print(f"{s.conversations} conversations" + (f" ({s.unreadable} unreadable lines skipped)"
                                                        if s.unreadable else ""))
    for title, counter in (("kind", s.kinds), ("tool calls", s.tools)):
        t = Table(title=None)
        t.add_column(title)
        t.add_column("count", justify="right")
        t.add_column("share", justify="right")
        total = sum(counter.values()) or 1
        for k, v in sorted(counter.items(), key=lambda kv: -kv[1]):
            t.add_row(k, str(v), f"{100 * v / total:.1f}%")
        console.print(t)
    t = Table()
    t.add_column("calls in an assistant turn")
    t.add_column("turns", justify="right")
    for k in sorted(s.calls_per_turn):
        t.add_row(str(k), str(s.calls_per_turn[k]))
    console.print(t)
    p = s.percentiles()
    if p:
        console.print(f"rendered length ({s.length_unit}): " + ", ".join(f"{k} {v}" for k, v in p.items()))
