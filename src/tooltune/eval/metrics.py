"""Pure scoring functions: (case, prediction) -> case score -> per-category metrics. No model here.

Definitions (all rates are in [0, 1]; None when nothing was there to measure):

- tool selection: the multiset of called tool names equals the expected one (no names when no call).
- exact match: the multiset of (name, arguments) equals the expected one (parallel calls in any order).
- argument accuracy: expected and produced calls are paired by name; an argument counts as right
  when both sides have it with equal values; missing, extra and wrong arguments all count against.
- JSON validity: among turns where the model tried to call a tool, no call block was malformed and
  every call's arguments parse to a JSON object.
- schema validity: among turns with calls, every call passes ``core.validate.call_errors``.
- no-call precision/recall: "no call" is the positive class (a malformed attempt counts as a call).
- clarify rate: among turns that must ask for a missing required argument, the model asked (no call,
  a question in its reply).
- multi-turn success: among conversations with two or more assistant turns, every turn is right.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from tooltune.core.types import ToolCall
from tooltune.core.validate import call_errors

from .cases import EvalCase
from .stats import RATE_METRICS, bootstrap_interval, turn_hits

NONE = "<none>"
"""Confusion-matrix label for 'no tool call'."""


@dataclass
class Prediction:
    content: str | None = None
    """Assistant text after tool-call blocks were taken out."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Calls the model made (arguments may be invalid JSON when they came from a server)."""
    malformed: list[str] = field(default_factory=list)
    """Why each broken call block was rejected (from the parser or the argument strings)."""
    raw: str = ""
    """The raw text as streamed (for failure reports)."""
    error: str | None = None
    """The request failed (engine/server error); the turn counts as wrong."""
    ttft_s: float | None = None
    """Time to first token (first streamed delta)."""
    total_s: float | None = None
    """Request latency, from sending to the last token."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


@dataclass
class CaseScore:
    id: str
    conversation_id: str
    category: str
    correct: bool
    """Right answer for this turn (exact match / right no-call / asked to clarify / BFCL checker)."""
    expected_call: bool
    predicted_call: bool
    """The model made or tried (malformed) a tool call."""
    tool_selection: bool
    exact_match: bool
    args_right: int
    args_total: int
    json_valid: bool | None
    """None when the model did not try to call a tool."""
    schema_valid: bool | None
    """None when the model made no well-formed call."""
    expects_clarification: bool
    asked_clarification: bool
    expected_names: list[str]
    predicted_names: list[str]
    reasons: list[str] = field(default_factory=list)
    """Why the turn is wrong (empty when right)."""
    ttft_s: float | None = None
    total_s: float | None = None
    completion_tokens: int | None = None


# ---------------------------------------------------------------- helpers

def args_of(call: ToolCall) -> dict[str, Any] | None:
    """A call's arguments as a dict, or None when they are not a JSON object."""
    try:
        value = json.loads(call.function.arguments or "{}")
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _norm(value: Any) -> Any:
    """Canonical value for equality: 1 == 1.0, key order ignored, strings stripped."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return tuple(_norm(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v)) for k, v in value.items()))
    return value


def values_equal(a: Any, b: Any) -> bool:
    return _norm(a) == _norm(b)


def _call_key(call: ToolCall) -> tuple[str, Any]:
    args = args_of(call)
    return call.function.name, (_norm(args) if args is not None else ("<invalid>", call.function.arguments))


def _pair_calls(expected: Sequence[ToolCall], got: Sequence[ToolCall]) -> tuple[list[tuple[ToolCall, ToolCall]], list[ToolCall], list[ToolCall]]:
    """Pair expected with produced calls of the same name, best argument overlap first.
    Returns (pairs, unmatched expected, unmatched produced)."""
    left = list(got)
    pairs: list[tuple[ToolCall, ToolCall]] = []
    missing: list[ToolCall] = []
    for exp in expected:
        same = [g for g in left if g.function.name == exp.function.name]
        if not same:
            missing.append(exp)
            continue
        ea = args_of(exp) or {}
        best = max(same, key=lambda g: sum(1 for k, v in ea.items() if k in (args_of(g) or {}) and values_equal((args_of(g) or {})[k], v)))
        left.remove(best)
        pairs.append((exp, best))
    return pairs, missing, left


def argument_counts(expected: Sequence[ToolCall], got: Sequence[ToolCall]) -> tuple[int, int]:
    """(right, total) arguments: total counts every expected argument plus every extra produced one."""
    pairs, missing, _extra = _pair_calls(expected, got)
    right = total = 0
    for exp, g in pairs:
        ea, ga = args_of(exp) or {}, args_of(g) or {}
        keys = set(ea) | set(ga)
        total += len(keys)
        right += sum(1 for k in keys if k in ea and k in ga and values_equal(ea[k], ga[k]))
    for exp in missing:
        total += len(args_of(exp) or {})
    return right, total


def is_question(text: str | None) -> bool:
    return bool(text) and "?" in text  # type: ignore[operator]


# ---------------------------------------------------------------- one case

def score_case(case: EvalCase, pred: Prediction, bfcl_result: dict[str, Any] | None = None) -> CaseScore:
    """Score one turn. ``bfcl_result`` (from ``bfcl.check``) decides correctness for BFCL cases."""
    exp_calls = list(case.expected_calls)
    got = list(pred.tool_calls)
    exp_names = sorted(c.function.name for c in exp_calls)
    if case.bfcl is not None:
        # BFCL names may hold dots; tools are offered with underscores (as for OpenAI-style models)
        exp_names = sorted(name.replace(".", "_") for ans in case.bfcl.get("possible_answer", []) for name in ans)
    got_names = sorted(c.function.name for c in got)
    predicted_call = bool(got) or bool(pred.malformed)
    reasons: list[str] = []

    bad_json = [c for c in got if args_of(c) is None]
    json_valid: bool | None = None
    if predicted_call:
        json_valid = not pred.malformed and not bad_json
        reasons += [f"malformed call: {m}" for m in pred.malformed]
        reasons += [f"{c.function.name}: arguments are not a JSON object: {c.function.arguments[:80]!r}" for c in bad_json]

    schema_valid: bool | None = None
    if got:
        errs = [e for c in got for e in call_errors(c, case.tools)]
        schema_valid = not errs
        reasons += [f"schema: {e}" for e in errs]

    selection = Counter(exp_names) == Counter(got_names) and predicted_call == case.expects_call
    if case.bfcl is None:
        exact = Counter(_call_key(c) for c in exp_calls) == Counter(_call_key(c) for c in got) and not pred.malformed
        right, total = argument_counts(exp_calls, got)
    else:
        exact = bool(bfcl_result and bfcl_result.get("valid"))
        right, total = (0, 0)
    asked = not predicted_call and is_question(pred.content)

    if pred.error:
        correct = False
        reasons.insert(0, f"request failed: {pred.error}")
    elif case.bfcl is not None:
        correct = exact
        if not correct and bfcl_result:
            reasons += [str(e) for e in bfcl_result.get("error", [])][:3]
    elif case.expects_call:
        correct = exact
        if not correct:
            if not predicted_call:
                reasons.append(f"no call; expected {', '.join(exp_names)}")
            elif Counter(exp_names) != Counter(got_names):
                reasons.append(f"called {', '.join(got_names) or 'nothing valid'}; expected {', '.join(exp_names)}")
            else:
                reasons.append("wrong arguments")
    elif case.expects_clarification:
        correct = asked
        if not correct:
            reasons.append("called a tool instead of asking" if predicted_call else "did not ask a clarifying question")
    else:
        correct = not predicted_call
        if not correct:
            reasons.append(f"called {', '.join(got_names) or 'a malformed tool call'}; expected no call")
    if pred.finish_reason == "length" and not correct:
        reasons.append("hit the token limit")

    return CaseScore(
        id=case.id, conversation_id=case.conversation_id, category=case.category, correct=correct,
        expected_call=case.expects_call, predicted_call=predicted_call, tool_selection=bool(selection) and not pred.error,
        exact_match=exact and not pred.error, args_right=right, args_total=total, json_valid=json_valid,
        schema_valid=schema_valid, expects_clarification=case.expects_clarification, asked_clarification=asked,
        expected_names=exp_names, predicted_names=got_names, reasons=reasons if not correct else [],
        ttft_s=pred.ttft_s, total_s=pred.total_s, completion_tokens=pred.completion_tokens,
    )


# ---------------------------------------------------------------- aggregates

def _rate(hits: Iterable[bool]) -> float | None:
    values = list(hits)
    return sum(values) / len(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 100]); None for no values."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def no_call_precision_recall(scores: Sequence[CaseScore]) -> tuple[float | None, float | None]:
    tp = sum(1 for s in scores if not s.expected_call and not s.predicted_call)
    fp = sum(1 for s in scores if s.expected_call and not s.predicted_call)
    fn = sum(1 for s in scores if not s.expected_call and s.predicted_call)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return precision, recall


def conversation_success(scores: Sequence[CaseScore], min_turns: int = 2) -> float | None:
    """Share of conversations with at least ``min_turns`` assistant turns where every turn is right."""
    by_conv: dict[str, list[bool]] = defaultdict(list)
    for s in scores:
        by_conv[s.conversation_id].append(s.correct)
    convs = [all(v) for v in by_conv.values() if len(v) >= min_turns]
    return _rate(convs)


def latency_stats(scores: Sequence[CaseScore]) -> dict[str, float | None]:
    totals = [s.total_s for s in scores if s.total_s is not None]
    ttfts = [s.ttft_s for s in scores if s.ttft_s is not None]
    rates = [s.completion_tokens / s.total_s for s in scores if s.completion_tokens and s.total_s]
    return {
        "latency_p50_s": percentile(totals, 50), "latency_p95_s": percentile(totals, 95),
        "ttft_p50_s": percentile(ttfts, 50), "ttft_p95_s": percentile(ttfts, 95),
        "tokens_per_s_p50": percentile(rates, 50),
    }


def summarize(scores: Sequence[CaseScore], intervals: bool = False) -> dict[str, Any]:
    """All metrics over a group of case scores; ``intervals``: with 95% bootstrap intervals of
    turn accuracy and exact match (``accuracy_ci95``, ``exact_match_ci95``, see ``stats``)."""
    right = sum(s.args_right for s in scores)
    total = sum(s.args_total for s in scores)
    precision, recall = no_call_precision_recall(scores)
    out: dict[str, Any] = {
        "n": len(scores),
        "accuracy": _rate(s.correct for s in scores),
        "tool_selection": _rate(s.tool_selection for s in scores),
        "exact_match": _rate(s.exact_match for s in scores if s.expected_call),
        "argument_accuracy": right / total if total else None,
        "json_valid": _rate(s.json_valid for s in scores if s.json_valid is not None),
        "schema_valid": _rate(s.schema_valid for s in scores if s.schema_valid is not None),
        "no_call_precision": precision,
        "no_call_recall": recall,
        "clarify_rate": _rate(s.asked_clarification for s in scores if s.expects_clarification),
        "multi_turn_success": conversation_success(scores),
    }
    out.update(latency_stats(scores))
    # The spec's latency is per tool call: turns that should make exactly one (the answers written
    # after a tool result are longer and would dominate the tail).
    single = latency_stats([s for s in scores if len(s.expected_names) == 1])
    out["single_call_latency_p50_s"] = single["latency_p50_s"]
    out["single_call_latency_p95_s"] = single["latency_p95_s"]
    if intervals:
        cases = [asdict(s) for s in scores]
        for metric in RATE_METRICS:
            out[f"{metric}_ci95"] = bootstrap_interval(turn_hits(cases, metric))
    return out


def by_category(scores: Sequence[CaseScore]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[CaseScore]] = defaultdict(list)
    for s in scores:
        groups[s.category].append(s)
    return {cat: summarize(group) for cat, group in sorted(groups.items())}


def confusion_matrix(scores: Sequence[CaseScore]) -> dict[str, dict[str, int]]:
    """counts[expected][got] over tool names, ``<none>`` for a missing or absent call.
    Same names pair first; the rest pair in sorted order; leftovers pair with ``<none>``."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for s in scores:
        exp, got = Counter(s.expected_names), Counter(s.predicted_names)
        if not s.predicted_names and s.predicted_call:
            got = Counter({"<malformed>": 1})
        common = exp & got
        for name, n in common.items():
            counts[name][name] += n
        rest_e = sorted((exp - common).elements())
        rest_g = sorted((got - common).elements())
        for i in range(max(len(rest_e), len(rest_g))):
            e = rest_e[i] if i < len(rest_e) else NONE
            g = rest_g[i] if i < len(rest_g) else NONE
            counts[e][g] += 1
        if not exp and not got:
            counts[NONE][NONE] += 1
    return {e: dict(sorted(row.items())) for e, row in sorted(counts.items())}


def failure_record(case: EvalCase, pred: Prediction, score: CaseScore) -> dict[str, Any]:
    """A failed turn, with its input, what was expected and what came back."""
    expected: dict[str, Any] = {"content": case.expected_content,
                                "tool_calls": [{"name": c.function.name, "arguments": c.function.arguments} for c in case.expected_calls]}
    if case.bfcl is not None:
        expected = {"possible_answer": case.bfcl.get("possible_answer")}
    return {
        "id": case.id, "category": case.category,
        "input": [m.to_openai() for m in case.messages],
        "expected": expected,
        "got": {"content": pred.content,
                "tool_calls": [{"name": c.function.name, "arguments": c.function.arguments} for c in pred.tool_calls],
                "malformed": pred.malformed, "raw": pred.raw, "error": pred.error},
        "reasons": score.reasons,
    }


def score_dict(score: CaseScore) -> dict[str, Any]:
    return asdict(score)
