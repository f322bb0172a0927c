"""Which recipe? Train several variants of a recipe on the same data, evaluate each on the same
held-out conversations, and print one table (exact call match, turn accuracy, eval loss, steps).

Training runs one variant at a time (on the GPU if there is one); evaluation then runs the finished
runs in parallel worker processes (``--eval-workers`` x ``--eval-threads`` CPU threads). Results
go to ``OUT/results.jsonl`` as they come; a second call skips what is already trained or scored,
so an interrupted sweep continues where it stopped.

    tooltune data generate --tools taskapi --n 2000 --seed 0 --out /tmp/sweep/data
    python bench/recipe_sweep.py --data /tmp/sweep/data --out /tmp/sweep \\
        --variants '{"default": {}, "seed1": {"seed": 1}, "ep1": {"epochs": 1.0}, "r64": {"lora_r": 64, "lora_alpha": 128}}'

Each variant is a set of recipe overrides (any ``TrainConfig`` field, plus ``recipe`` to start
from another shipped recipe or YAML file). Compare variants against the seed spread, not against
one run: on 99 turns two seeds of the same recipe differed by 4 points of exact match.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any


def train_variant(name: str, overrides: dict[str, Any], data: Path, runs: Path) -> dict[str, Any]:
    from tooltune.train.config import make_config
    from tooltune.train.trainer import train

    overrides = dict(overrides)
    cfg = make_config(overrides.pop("recipe", None), overrides)
    run_dir = runs / name
    t0 = time.perf_counter()
    train(cfg, data / "train.jsonl", run_dir, eval_data=data / "eval.jsonl", log=lambda line: None)
    print(f"trained {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return json.loads((run_dir / "train_summary.json").read_text())


def evaluate_run(job: tuple[str, str, str, int, int, int]) -> dict[str, Any]:
    """One finished run on the eval split (in a worker process with its own thread count)."""
    name, run_dir, eval_file, limit, max_tokens, threads = job
    import torch

    torch.set_num_threads(threads)
    from tooltune.eval.api import run_eval

    t0 = time.perf_counter()
    report = run_eval([run_dir], data=eval_file, limit=limit, max_tokens=max_tokens, progress=False)
    data = report["models"][0]["results"]["data"]
    s = data["summary"]
    train_summary = json.loads((Path(run_dir) / "train_summary.json").read_text())
    return {
        "name": name, "exact_match": s["exact_match"], "accuracy": s["accuracy"],
        "tool_selection": s["tool_selection"], "argument_accuracy": s["argument_accuracy"],
        "no_call_recall": s["no_call_recall"], "turns": s["n"],
        "by_category": {k: round(v["accuracy"], 3) for k, v in data["by_category"].items()},
        "steps": train_summary["steps"], "train_seconds": train_summary["train_seconds"],
        "eval_loss": train_summary.get("eval_loss"), "eval_seconds": round(time.perf_counter() - t0),
    }


def pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| variant | steps | train s | eval loss | exact match | turn accuracy | tool selection | arguments |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['steps']} | {r['train_seconds']} | {r['eval_loss']} | {pct(r['exact_match'])} "
                     f"| {pct(r['accuracy'])} | {pct(r['tool_selection'])} | {pct(r['argument_accuracy'])} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="directory with train.jsonl and eval.jsonl")
    ap.add_argument("--out", type=Path, required=True, help="runs/<variant>/ and results.jsonl go here")
    ap.add_argument("--variants", required=True, help="JSON object {name: {override: value}} or a file holding one")
    ap.add_argument("--eval-limit", type=int, default=40, help="held-out conversations per run (the demo's 40)")
    ap.add_argument("--max-tokens", type=int, default=128, help="completion tokens per turn (the demo's 128)")
    ap.add_argument("--eval-workers", type=int, default=1, help="runs evaluated at once")
    ap.add_argument("--eval-threads", type=int, default=2, help="torch threads per evaluation worker")
    args = ap.parse_args()

    text = Path(args.variants).read_text() if Path(args.variants).is_file() else args.variants
    try:
        variants = json.loads(text)
        if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
            raise ValueError("expected {name: {override: value}}")
    except ValueError as e:
        sys.exit(f"--variants: {e}")
    for f in ("train.jsonl", "eval.jsonl"):
        if not (args.data / f).is_file():
            sys.exit(f"--data: {args.data / f} not found (tooltune data generate --out {args.data})")

    runs = args.out / "runs"
    results_path = args.out / "results.jsonl"
    runs.mkdir(parents=True, exist_ok=True)
    done = {}
    if results_path.is_file():
        for line in results_path.read_text().splitlines():
            row = json.loads(line)
            done[row["name"]] = row
    for name, overrides in variants.items():
        if not (runs / name / "train_summary.json").is_file():
            train_variant(name, overrides, args.data, runs)

    jobs = [(name, str(runs / name), str(args.data / "eval.jsonl"), args.eval_limit, args.max_tokens, args.eval_threads)
            for name in variants if name not in done]
    if jobs:
        with mp.get_context("spawn").Pool(min(args.eval_workers, len(jobs))) as pool, results_path.open("a") as out:
            for row in pool.imap_unordered(evaluate_run, jobs):
                out.write(json.dumps(row) + "\n")
                out.flush()
                done[row["name"]] = row
                print(f"scored {row['name']}: exact {pct(row['exact_match'])}", flush=True)
    print(table([done[name] for name in variants]))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
