"""``run_eval``: score one or more models on eval data and/or named suites; returns the report dict
(``report.write_report`` turns it into report.json / report.md / report.html)."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from . import bfcl
from .cases import EvalCase, load_cases
from .metrics import Prediction, by_category, confusion_matrix, failure_record, score_case, score_dict, summarize
from .runners import run_engine, run_url
from .stats import compare_results

E2E_SUITE = "taskapi-e2e"
MAX_FAILURES = 100
"""Failures kept per model and suite in the report (the counts cover all)."""

EngineFactory = Callable[[str, bool], Any]


class EvalError(ValueError):
    """Bad eval input (missing data, unknown suite, unusable model); the message says why."""


@dataclass
class Suite:
    name: str
    """``data`` (the --data file), ``bfcl:<category>``, or ``taskapi-e2e``."""
    cases: list[EvalCase]


def default_engine_factory(spec: str, constrained: bool, quantize: str | None = "auto",
                           backend: str = "transformers") -> Any:
    """The shared engine (imported lazily: it pulls torch or llama.cpp)."""
    from tooltune.engine import load_engine  # type: ignore[attr-defined]

    return load_engine(spec, constrained=constrained, quantize=quantize, backend=backend)


def model_label(spec: str) -> str:
    """Short display name: the run directory's name, or the spec itself."""
    p = Path(spec)
    if p.exists():
        p = p.resolve()
        return p.parent.name if p.name == "model" else p.name
    return spec


def training_curve(spec: str) -> dict[str, Any] | None:
    """Loss points from a run directory's ``metrics.jsonl`` (trainer log lines), if there is one."""
    p = Path(spec)
    if not p.exists():
        return None
    p = p.resolve()
    for run_dir in (p, p.parent):
        metrics = run_dir / "metrics.jsonl"
        loss_png = run_dir / "loss.png"
        if metrics.is_file() or loss_png.is_file():
            train, evals = [], []
            if metrics.is_file():
                for i, line in enumerate(metrics.read_text().splitlines()):
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    step = row.get("step", row.get("global_step", i))
                    if isinstance(row.get("loss", row.get("train_loss")), (int, float)):
                        train.append([step, row.get("loss", row.get("train_loss"))])
                    if isinstance(row.get("eval_loss"), (int, float)):
                        evals.append([step, row["eval_loss"]])
            return {"run_dir": str(run_dir), "train_loss": train, "eval_loss": evals,
                    "loss_png": str(loss_png) if loss_png.is_file() else None}
    return None


def load_suites(data: str | Path | None, suites: Sequence[str], limit: int | None) -> list[Suite]:
    out: list[Suite] = []
    if data is not None:
        out.append(Suite("data", load_cases(data, limit)))
    for s in suites:
        if s == E2E_SUITE:
            continue  # run by tooltune.agent.e2e, not from cases
        if not s.startswith("bfcl:"):
            raise EvalError(f"unknown suite {s!r} (choose bfcl:{{{','.join(bfcl.CATEGORIES)}}} or {E2E_SUITE})")
        try:
            out.append(Suite(s, bfcl.load_suite(s, limit)))
        except bfcl.BFCLError as e:
            raise EvalError(str(e)) from None
    return out


def score_suite(suite: Suite, preds: Sequence[Prediction]) -> dict[str, Any]:
    """Everything the report shows for one model on one suite."""
    scores, failures = [], []
    for case, pred in zip(suite.cases, preds):
        verdict = None
        if case.bfcl is not None:
            verdict = bfcl_verdict(case, pred)
        s = score_case(case, pred, verdict)
        scores.append(s)
        if not s.correct and len(failures) < MAX_FAILURES:
            failures.append(failure_record(case, pred, s))
    return {
        "summary": summarize(scores, intervals=True),
        "by_category": by_category(scores),
        "confusion": confusion_matrix(scores),
        "failures": failures,
        "n_failures": sum(1 for s in scores if not s.correct),
        "cases": [{**score_dict(s), "raw": p.raw} for s, p in zip(scores, preds)],
    }


def bfcl_verdict(case: EvalCase, pred: Prediction) -> dict[str, Any]:
    info = case.bfcl or {}
    calls: list[dict[str, Any]] | None = None
    if pred.tool_calls:
        try:  # like BFCL's decoder: any call whose arguments do not decode fails the whole output
            calls = [{c.function.name: json.loads(c.function.arguments or "{}")} for c in pred.tool_calls]
        except json.JSONDecodeError:
            calls = None
    return bfcl.check(info.get("functions", []), calls, info.get("possible_answer", []), info.get("category", ""))


def _run_e2e(spec: str, base_url: str | None, limit: int | None, api_key: str | None) -> dict[str, Any]:
    """The agent's Task API scenarios (tooltune.agent.e2e) against the server at ``base_url``."""
    if not base_url:
        raise EvalError(f"suite {E2E_SUITE!r} runs the agent against a server: give --base-url (e.g. `tooltune serve`)")
    try:
        from tooltune.agent.e2e import SCENARIOS, run_suite  # type: ignore[import-not-found]
    except ImportError as e:
        raise EvalError(f"suite {E2E_SUITE!r} needs tooltune.agent.e2e, which is not available ({e})") from None
    scenarios = list(SCENARIOS)[:limit] if limit else None
    return run_suite(base_url, model=spec, api_key=api_key or "unused", scenarios=scenarios)


def run_eval(
    models: Sequence[str],
    data: str | Path | None = None,
    suites: Sequence[str] = (),
    base_url: str | None = None,
    limit: int | None = None,
    constrained: bool = True,
    max_tokens: int = 512,
    progress: bool = True,
    engine_factory: EngineFactory | None = None,
    api_key: str | None = None,
    quantize: str | None = "auto",
    backend: str = "transformers",
) -> dict[str, Any]:
    """Evaluate every model on the eval file and the suites; returns the report dict.

    ``models`` are run directories / embedded model names (in-process), or, with ``base_url``,
    model names the server knows. ``limit`` caps conversations (data) and entries (each suite).
    ``quantize`` (in-process): the serving weights, as ``load_engine`` takes them: "auto" (the
    server's default), None (float32), "bf16-linear", "int8", "w8a8" or "bf16"; each model's entry
    records what its engine ran (``weights``).
    ``backend`` (in-process): "transformers" or "llama.cpp" (the model exported to GGUF).
    """
    if not models:
        raise EvalError("give at least one --model")
    if data is None and not suites:
        raise EvalError("nothing to evaluate: give --data and/or --suite")
    if E2E_SUITE in suites and not base_url:
        raise EvalError(f"suite {E2E_SUITE!r} runs the agent against a server: give --base-url (e.g. `tooltune serve`)")
    loaded = load_suites(data, suites, limit)
    factory = engine_factory or (lambda spec, constrained: default_engine_factory(spec, constrained, quantize, backend))
    report: dict[str, Any] = {
        "tool": "tooltune eval",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": {"data": str(data) if data else None, "suites": list(suites), "base_url": base_url,
                   "limit": limit, "constrained": constrained, "max_tokens": max_tokens,
                   "decoding": "greedy (temperature 0)", "weights": quantize or "float32",
                   "backend": None if base_url else backend},
        "suites": [s.name for s in loaded] + ([E2E_SUITE] if E2E_SUITE in suites else []),
        "models": [],
        "published": {f"bfcl:{k}": v for k, v in bfcl.PUBLISHED.items() if f"bfcl:{k}" in suites},
    }
    for spec in models:
        entry: dict[str, Any] = {"name": model_label(spec), "spec": str(spec),
                                 "mode": "url" if base_url else "in-process", "results": {}}
        engine = None
        if base_url is None and loaded:
            try:
                engine = factory(str(spec), constrained)
            except (ValueError, FileNotFoundError) as e:
                raise EvalError(f"cannot load model {spec!r}: {e}") from None
            entry["weights"] = getattr(engine, "weights", None)
        for i, suite in enumerate(loaded):
            label = f"{entry['name']} {suite.name}"
            warmup = i == 0  # latency is per turn of a running server: its one-off start is timed apart
            if engine is not None:
                preds = run_engine(engine, suite.cases, constrained, max_tokens, progress, label, warmup=warmup)
            else:
                preds = run_url(str(base_url), str(spec), suite.cases, max_tokens, progress, api_key, label, warmup=warmup)
            entry["results"][suite.name] = score_suite(suite, preds)
            if preds.warmup_s is not None:
                entry["results"][suite.name]["summary"]["warmup_s"] = preds.warmup_s
        if E2E_SUITE in suites:
            entry["e2e"] = _run_e2e(str(spec), base_url, limit, api_key)
        curve = training_curve(str(spec)) if base_url is None else None
        if curve:
            entry["training"] = curve
        report["models"].append(entry)
    ran = {m["weights"] for m in report["models"] if m.get("weights")}
    if len(ran) == 1:  # "auto" says what it resolved to
        report["config"]["weights"] = ran.pop()
    report["comparisons"] = comparisons(report)
    return report


def comparisons(report: dict[str, Any], pairs: Iterable[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """Per suite, every model against the first one that ran it, then each (base, model) of
    ``pairs`` not compared yet, paired turn by turn (``stats``)."""
    out, pairs = [], list(pairs)
    models = {m["name"]: m for m in report["models"]}
    for suite in report["suites"]:
        ran = [m for m in report["models"] if suite in m.get("results", {})]
        todo = [(ran[0]["name"], m["name"]) for m in ran[1:]]
        todo += [p for p in pairs if p not in todo and all(suite in models[n].get("results", {}) for n in p)]
        for base, model in todo:
            metrics = compare_results(models[base]["results"][suite], models[model]["results"][suite])
            if metrics:
                out.append({"suite": suite, "base": base, "model": model, "metrics": metrics})
    return out


def check_report(report: Any) -> None:
    """Raise ``EvalError`` unless ``report`` is a report ``run_eval`` wrote, with at least one model."""
    if not isinstance(report, dict) or report.get("tool") != "tooltune eval":
        raise EvalError("this is not a tooltune eval report")
    if not report.get("models"):
        raise EvalError("this tooltune eval report has no models: nothing to compare against")


def against(report: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Any]:
    """``report`` with the models of an ``earlier`` report placed first, as the baselines of the
    paired comparisons (e.g. float32 evaluated earlier, W8A8 now). An earlier model whose name the
    new report also uses is renamed ``NAME (earlier, WEIGHTS)``, and the model is compared with
    that earlier self too, whichever model the earlier report put first (a base model, say)."""
    check_report(earlier)
    earlier = json.loads(json.dumps(earlier, default=str))
    taken = {m["name"] for m in report["models"]}
    weights = earlier.get("config", {}).get("weights") or "float32"
    selves = []
    for m in earlier["models"]:
        if m["name"] in taken:
            selves.append((f"{m['name']} (earlier, {weights})", m["name"]))
            m["name"] = selves[-1][0]
    return merge_reports(earlier, report, pairs=selves)


def merge_reports(*reports: dict[str, Any], pairs: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """One side-by-side report from reports run separately (e.g. base earlier, tuned now).
    Results of the same model name are combined suite by suite; suites keep first-seen order.
    ``pairs``: (base, model) comparisons to make besides each model against the first."""
    if not reports:
        raise EvalError("nothing to merge")
    out = json.loads(json.dumps(reports[0], default=str))
    by_name = {m["name"]: m for m in out["models"]}
    for r in reports[1:]:
        for s in r["suites"]:
            if s not in out["suites"]:
                out["suites"].append(s)
        out["published"].update(r.get("published", {}))
        out["config"]["suites"] = list(dict.fromkeys(out["config"]["suites"] + r["config"]["suites"]))
        out["config"]["data"] = out["config"]["data"] or r["config"]["data"]
        for key in ("limit", "max_tokens", "constrained", "base_url", "weights", "backend"):
            if r["config"].get(key) != out["config"].get(key):  # parts ran differently: say so, do not pick one
                seen = [str(v) for v in (out["config"].get(key), r["config"].get(key))]
                out["config"][key] = " / ".join(dict.fromkeys(seen)) if key != "constrained" else "mixed"
        for m in r["models"]:
            if m["name"] in by_name:
                by_name[m["name"]]["results"].update(m["results"])
                for key in ("e2e", "training"):
                    if key in m:
                        by_name[m["name"]][key] = m[key]
            else:
                by_name[m["name"]] = m
                out["models"].append(m)
    out["comparisons"] = comparisons(out, pairs)
    return out
