"""How much an eval number can be trusted: bootstrap intervals and paired model comparisons.

Turns of one conversation are not independent (a model that misreads a request tends to miss its
follow-ups too), so the bootstrap resamples whole conversations, not turns. A comparison of two
models on the same turns is paired: it counts the turns whose outcome changed and bootstraps the
difference over conversations, which is tighter than comparing two separate intervals. On the
demo's held-out split (300 conversations, 323 turns that expect a call) exact match is 68.7%
(63.5-73.7) in float32, and W8A8 serving's -0.9 points are 6 turns gained and 9 lost, with an
interval of -3.2 to +1.5 points: a 0.5-point bar is finer than this eval can resolve.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, Sequence

RESAMPLES = 2000
"""Bootstrap resamples per interval (the 2.5th and 97.5th percentiles of the resampled statistic)."""

SEED = 0
"""Fixed, so the same report always shows the same interval."""

RATE_METRICS = {"accuracy": "correct", "exact_match": "exact_match"}
"""Report metric -> the per-turn field that decides it (exact match counts only turns that expect a call)."""


def turn_hits(cases: Iterable[Mapping[str, Any]], metric: str) -> list[tuple[str, bool]]:
    """(conversation id, hit) for every turn that ``metric`` counts."""
    field = RATE_METRICS[metric]
    return [(c["conversation_id"], bool(c[field])) for c in cases
            if metric != "exact_match" or c.get("expected_call")]


def _interval(groups: Sequence[Sequence[int]], statistic: Callable[[list], float], resamples: int, seed: int) -> list[float] | None:
    """95% percentile interval of ``statistic`` over resamples of ``groups`` (one per
    conversation, drawn with replacement); None with fewer than 2 conversations."""
    if len(groups) < 2:
        return None
    rng = random.Random(seed)
    values = sorted(statistic(rng.choices(groups, k=len(groups))) for _ in range(resamples))
    lo = values[int(0.025 * (len(values) - 1))]
    hi = values[int(round(0.975 * (len(values) - 1)))]
    return [round(lo, 6), round(hi, 6)]


def bootstrap_interval(hits: Sequence[tuple[str, bool]], resamples: int = RESAMPLES, seed: int = SEED) -> list[float] | None:
    """95% interval of the hit rate, resampling conversations; None with fewer than 2 conversations."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # hits, turns
    for conv, hit in hits:
        groups[conv][0] += hit
        groups[conv][1] += 1
    return _interval(list(groups.values()), lambda drawn: sum(g[0] for g in drawn) / sum(g[1] for g in drawn),
                     resamples, seed)


def _same_case(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Ids are positions in the eval file: a turn with the same id must also ask for the same thing."""
    return a.get("category") == b.get("category") and a.get("expected_names") == b.get("expected_names")


def paired_comparison(base: Sequence[Mapping[str, Any]], other: Sequence[Mapping[str, Any]], metric: str,
                      resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Any] | None:
    """``other`` against ``base`` on the turns both were scored on (matched by case id).

    Returns the two rates, their difference (other - base) with a 95% interval from resampling
    conversations, and how many turns changed: ``gained`` (now right) and ``lost`` (now wrong).
    None when the two share no turn, or when a shared id is not the same case (another eval file)."""
    before = {c["id"]: c for c in base}
    pairs = [(before[c["id"]], c) for c in other if c["id"] in before]
    if not all(_same_case(a, b) for a, b in pairs):
        return None
    a_hits = turn_hits([a for a, _ in pairs], metric)
    b_hits = turn_hits([b for _, b in pairs], metric)
    if not a_hits:
        return None
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # base hits, other hits, turns
    gained = lost = 0
    for (conv, a), (_, b) in zip(a_hits, b_hits):
        g = groups[conv]
        g[0] += a
        g[1] += b
        g[2] += 1
        gained += b and not a
        lost += a and not b
    n = len(a_hits)
    rate_a = sum(g[0] for g in groups.values()) / n
    rate_b = sum(g[1] for g in groups.values()) / n
    interval = _interval(list(groups.values()), lambda drawn: sum(g[1] - g[0] for g in drawn) / sum(g[2] for g in drawn),
                         resamples, seed)
    return {"metric": metric, "n": n, "conversations": len(groups), "base": round(rate_a, 6), "other": round(rate_b, 6),
            "difference": round(rate_b - rate_a, 6), "difference_ci95": interval, "gained": gained, "lost": lost}


def compare_results(base: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Paired comparisons of two models' results on one suite (``score_suite`` dicts), per rate metric."""
    out = {}
    for metric in RATE_METRICS:
        cmp = paired_comparison(base.get("cases", []), other.get("cases", []), metric)
        if cmp is not None:
            out[metric] = cmp
    return out
