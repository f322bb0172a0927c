"""``tooltune demo`` (what ``make demo`` runs): the whole pipeline on the embedded model.

data -> train (default recipe) -> eval base vs tuned -> serve the tuned model + Task API ->
end-to-end agent scenarios -> ``RUN/report.{json,md,html}`` with the headline numbers against
the spec's targets. Each stage reuses what an earlier run already built, so a second run
takes minutes. This module sits above the stages (like the CLI) and is the only one that
imports them all.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

BASE = "smollm2-135m"
SERVED_NAME = "tooltune-demo"

TARGETS: list[dict[str, Any]] = [
    {"key": "exact_match", "label": "Tool-calling accuracy (exact call match, held-out phrasings)",
     "spec": 0.95, "ours": 0.97, "higher": True, "unit": "rate"},
    {"key": "accuracy", "label": "Turn accuracy, all kinds (calls, no-call, clarify, answers)",
     "spec": None, "ours": None, "higher": True, "unit": "rate"},
    {"key": "json_valid", "label": "Valid JSON in tool calls", "spec": 0.99, "ours": 1.0, "higher": True, "unit": "rate"},
    {"key": "e2e_success", "label": "End-to-end success (judged by the database state)",
     "spec": None, "ours": 0.95, "higher": True, "unit": "rate"},
    {"key": "latency_p50_s", "label": "Latency p50, single tool-call turn", "spec": 0.5, "ours": 0.2,
     "higher": False, "unit": "s"},
    {"key": "latency_p95_s", "label": "Latency p95, single tool-call turn", "spec": None, "ours": 0.4,
     "higher": False, "unit": "s"},
]
"""Spec targets (accuracy > 95%, valid JSON > 99%, latency < 500 ms) and our own, stricter bars."""


def _fresh(path: Path, than: Path) -> bool:
    """``path`` exists and was written after ``than`` (so it describes the current model)."""
    return path.exists() and (not than.exists() or path.stat().st_mtime >= than.stat().st_mtime)


def _stage(console: Console, n: int, title: str) -> Callable[[str], None]:
    console.rule(f"[bold]{n}/5 {title}")
    start = time.perf_counter()

    def done(note: str) -> None:
        console.print(f"[green]✓[/] {title}: {note} ({time.perf_counter() - start:.0f} s)")

    return done


def headline(report: dict[str, Any], tuned: str) -> list[dict[str, Any]]:
    """The numbers the demo is about, each with its target and whether it was met."""
    model = next(m for m in report["models"] if m["name"] == tuned)
    data = model["results"]["data"]
    summary = data["summary"]
    values = {
        "exact_match": summary.get("exact_match"),
        "accuracy": summary.get("accuracy"),
        "json_valid": summary.get("json_valid"),
        "e2e_success": (model.get("e2e") or {}).get("success_rate"),
        "latency_p50_s": summary.get("single_call_latency_p50_s"),
        "latency_p95_s": summary.get("single_call_latency_p95_s"),
    }
    rows = []
    for t in TARGETS:
        v = values[t["key"]]
        row = {**t, "value": v}
        for which in ("spec", "ours"):
            bar = t[which]
            row[f"meets_{which}"] = None if bar is None or v is None else (v >= bar if t["higher"] else v <= bar)
        rows.append(row)
    return rows


def print_headline(console: Console, report: dict[str, Any]) -> None:
    from tooltune.eval.report import headline_rows

    header, rows = headline_rows(report) or ([], [])
    table = Table(title="Headline (tuned embedded model)")
    for col in header:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def run_demo(out: Path = Path("runs/demo"), n: int = 2000, seed: int = 0, eval_limit: int = 40,
             base_limit: int = 10, max_tokens: int = 128, base_max_tokens: int = 64, quantize: str | None = "auto",
             console: Console | None = None) -> dict[str, Any]:
    from tooltune.agent.e2e import run_suite
    from tooltune.core.tools import load_tools
    from tooltune.data.generate import generate, write_jsonl
    from tooltune.engine import load_engine
    from tooltune.eval.api import merge_reports, run_eval
    from tooltune.eval.report import write_report
    from tooltune.serve.app import create_app
    from tooltune.serve.background import serve_in_thread
    from tooltune.train.checkpoint import last_checkpoint
    from tooltune.train.config import make_config
    from tooltune.train.trainer import train

    console = console or Console()
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data_dir, model_dir = out / "data", out / "model"
    train_file, eval_file = data_dir / "train.jsonl", data_dir / "eval.jsonl"

    @functools.cache
    def tuned_engine() -> Any:  # loaded once: evaluated in stage 3, served in stage 4
        return load_engine(str(out), quantize=quantize)

    done = _stage(console, 1, "data")
    if train_file.exists() and eval_file.exists():
        done(f"reusing {data_dir}")
    else:
        splits = generate(load_tools("taskapi"), n=n, seed=seed)
        write_jsonl(splits["train"].rows, train_file)
        write_jsonl(splits["eval"].rows, eval_file)
        overlap = splits["train"].templates & splits["eval"].templates
        done(f"{len(splits['train'].rows)} train / {len(splits['eval'].rows)} eval conversations, "
             f"template overlap {len(overlap)}")

    done = _stage(console, 2, "train (default recipe)")
    if (model_dir / "train_config.yaml").exists():
        done(f"reusing {model_dir}")
    else:
        resume = last_checkpoint(out) is not None
        result = train(make_config(None), train_file, out, eval_data=eval_file, resume=resume, log=console.print)
        s = result.summary
        planned = s.get("planned_steps", result.steps)
        cut = f" (of {planned} planned: the time budget cut the run)" if planned != result.steps else ""
        done(f"{result.steps} steps{cut}, {s.get('tokens_per_s')} tokens/s, eval loss {s.get('eval_loss')}")

    done = _stage(console, 3, "evaluate base vs tuned")
    eval_json = out / "eval" / "report.json"
    stamp = model_dir / "train_config.yaml"
    if _fresh(eval_json, stamp):
        report = json.loads(eval_json.read_text())
        done(f"reusing {eval_json}")
    else:
        def factory(spec: str, constrained: bool) -> Any:
            if spec == str(out) and constrained:
                return tuned_engine()
            return load_engine(spec, constrained=constrained, quantize=quantize)

        # The base model rambles to max_tokens on most turns (172 s for 20 conversations at 128
        # tokens): it gets the first ``base_limit`` of the same conversations and
        # ``base_max_tokens`` (a correct Task API call fits; a call still open near the limit is
        # closed, not cut), which keeps the whole demo within its time budget. The report shows both.
        base_n = min(base_limit, eval_limit)
        base = run_eval([BASE], data=eval_file, limit=base_n, max_tokens=min(base_max_tokens, max_tokens),
                        engine_factory=factory)
        tuned_report = run_eval([str(out)], data=eval_file, limit=eval_limit, max_tokens=max_tokens,
                                engine_factory=factory)
        report = merge_reports(base, tuned_report)
        write_report(report, out / "eval")
        done(f"{base_n} held-out conversations for the base model ({min(base_max_tokens, max_tokens)} tokens per turn), "
             f"{eval_limit} for the tuned one ({max_tokens})")
    tuned = report["models"][-1]["name"]

    done = _stage(console, 4, "serve the tuned model and run the agent end to end")
    e2e_json = out / "e2e.json"
    if _fresh(e2e_json, stamp):
        e2e = json.loads(e2e_json.read_text())
        done(f"reusing {e2e_json}")
    else:
        engine = tuned_engine()
        with serve_in_thread(create_app({SERVED_NAME: engine})) as url:
            def progress(row: dict[str, Any]) -> None:
                console.print(f"  {'[green]pass[/]' if row['passed'] else '[red]FAIL[/]'} {row['name']}")

            e2e = run_suite(url + "/v1", SERVED_NAME, progress=progress)
        e2e_json.write_text(json.dumps(e2e, indent=1, default=str))
        done(f"{e2e['passed']}/{e2e['total']} scenarios")
    report["models"][-1]["e2e"] = e2e
    if "taskapi-e2e" not in report["suites"]:
        report["suites"].append("taskapi-e2e")

    done = _stage(console, 5, "report")
    report["headline"] = headline(report, tuned)
    report["demo"] = {"seconds": round(time.perf_counter() - t0, 1), "run_dir": str(out), "quantize": quantize,
                      "weights": getattr(tuned_engine(), "weights", None)}
    paths = write_report(report, out)
    print_headline(console, report)
    done(f"{paths['html']} and {paths['json']}")
    return report
