"""``data generate``: sample conversations of each kind, split train/eval, check, write JSONL."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tooltune.core.types import Conversation, Tool, dumps_args
from tooltune.core.validate import conversation_errors

KINDS = ("single", "parallel", "multi_turn", "no_call", "clarify", "error_recovery", "relative_date")
DEFAULT_MIX: dict[str, float] = {
    "single": 0.28, "parallel": 0.12, "multi_turn": 0.15, "no_call": 0.10, "clarify": 0.10,
    "error_recovery": 0.10, "relative_date": 0.15,
}


class GenerationError(RuntimeError):
    """A generated sample failed validation: a bug in a generator, never bad user input."""


class Generator(Protocol):
    kinds: tuple[str, ...]

    def sample(self, kind: str, rng: random.Random, split: str) -> Conversation: ...


def parse_mix(text: str | None, kinds: tuple[str, ...] = KINDS) -> dict[str, float]:
    """``single=0.3,parallel=0.2`` -> shares over all kinds (unnamed kinds keep their default
    weight); raises ValueError with a readable message."""
    mix = dict(DEFAULT_MIX)
    if not text:
        return mix
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"--mix: expected KIND=SHARE, got {part.strip()!r}")
        k, v = (x.strip() for x in part.split("=", 1))
        if k not in kinds:
            raise ValueError(f"--mix: unknown kind {k!r} (kinds: {', '.join(kinds)})")
        try:
            share = float(v)
        except ValueError:
            raise ValueError(f"--mix: share for {k!r} is not a number: {v!r}") from None
        if share < 0:
            raise ValueError(f"--mix: share for {k!r} is negative")
        mix[k] = share
    if sum(mix.values()) <= 0:
        raise ValueError("--mix: all shares are zero")
    return mix


def allocate(n: int, mix: dict[str, float], kinds: tuple[str, ...]) -> dict[str, int]:
    """Counts per kind summing to ``n`` (largest remainder); every kind with a share gets at
    least one sample when ``n`` allows, so small splits still cover every kind."""
    weights = {k: mix.get(k, 0.0) for k in kinds if mix.get(k, 0.0) > 0}
    total = sum(weights.values())
    if not weights or n <= 0:
        return {}
    exact = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    if n >= len(weights):
        for k in weights:
            if counts[k] == 0:
                donor = max(counts, key=counts.get)
                counts[donor] -= 1
                counts[k] += 1
    return {k: c for k, c in counts.items() if c > 0}


def make_generator(tools: list[Tool]) -> Generator:
    from .taskapi_gen import TASKAPI_TOOL_NAMES, TaskApiGenerator

    if {t.name for t in tools} == TASKAPI_TOOL_NAMES:
        return TaskApiGenerator(tools)
    from .generic_gen import GenericGenerator

    return GenericGenerator(tools)


@dataclass
class SplitResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    templates: set[str] = field(default_factory=set)


def schema_ordered(conv: Conversation) -> Conversation:
    """Put every call's arguments in the order its tool's schema lists them: constrained decoding
    (xgrammar) emits properties in schema order, so training must show that order too."""
    order = {t.name: list(t.function.parameters.get("properties", {})) for t in conv.tools}
    for m in conv.messages:
        for call in m.tool_calls or []:
            keys = order.get(call.function.name)
            if keys is None:
                continue
            args = call.function.parsed_arguments()
            ranked = sorted(args, key=lambda k: keys.index(k) if k in keys else len(keys))
            call.function.arguments = dumps_args({k: args[k] for k in ranked})
    return conv


def generate(tools: list[Tool], n: int, seed: int, eval_fraction: float = 0.15,
             mix: dict[str, float] | None = None) -> dict[str, SplitResult]:
    """Both splits, deterministic for ``seed``; each sample is validated as it is made."""
    gen = make_generator(tools)
    mix = mix or dict(DEFAULT_MIX)
    n_eval = round(n * eval_fraction)
    out: dict[str, SplitResult] = {}
    for split, size in (("train", n - n_eval), ("eval", n_eval)):
        counts = allocate(size, mix, gen.kinds)
        order = [k for k, c in counts.items() for _ in range(c)]
        random.Random(f"{seed}:{split}:order").shuffle(order)
        res = SplitResult()
        for i, kind in enumerate(order):
            rng = random.Random(f"{seed}:{split}:{i}")
            conv = schema_ordered(gen.sample(kind, rng, split))
            errors = conversation_errors(conv.messages, conv.tools)
            if errors:
                raise GenerationError(f"{split} sample {i} ({kind}) is invalid: {'; '.join(errors)}")
            res.rows.append(conv.to_json())
            res.kinds[kind] += 1
            res.templates.update(conv.meta.get("templates", []))
        out[split] = res
    return out


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    """Write atomically (a temp file renamed into place), so a failure never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
