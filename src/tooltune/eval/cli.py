"""``tooltune eval``: compare models side by side on eval data and/or benchmark suites."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="Evaluate models (in-process or via an OpenAI-compatible URL) and write a report.")


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


@app.command()
def eval_command(
    model: List[str] = typer.Option(..., "--model", "-m", help="Run directory or embedded model name (repeat to compare); with --base-url, the served model name."),
    data: Optional[Path] = typer.Option(None, "--data", help="Eval JSONL (one Conversation per line, meta.kind = category)."),
    out: Path = typer.Option(Path("eval-report"), "--out", help="Directory for report.json, report.md, report.html."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Evaluate an OpenAI-compatible server (e.g. http://localhost:8000/v1)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", help="API key for --base-url (default: $OPENAI_API_KEY or a dummy)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most N conversations (data) / entries (each suite)."),
    suite: List[str] = typer.Option([], "--suite", help="bfcl:simple|multiple|parallel|parallel_multiple|irrelevance, or taskapi-e2e (repeatable)."),
    no_constrain: bool = typer.Option(False, "--no-constrain", help="Disable grammar-constrained decoding (in-process)."),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Completion token limit per turn."),
    quantize: str = typer.Option("auto", "--quantize", help="In-process weights: auto (as `tooltune serve` runs them by default), none (float32), bf16-linear, int8, w8a8 or bf16."),
    backend: str = typer.Option("transformers", "--backend", help="In-process engine: transformers, or llama.cpp (the model exported to GGUF q8_0, as `tooltune serve --backend llama.cpp` runs it)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    against_report: Optional[Path] = typer.Option(None, "--against", help="An earlier report.json (or its directory): its models join this report as the baselines of paired, turn-by-turn comparisons."),
) -> None:
    """Evaluate one or more models and write report.json / report.md / report.html."""
    from .api import EvalError, against, run_eval
    from .cases import CasesError
    from .report import write_report

    from tooltune.engine.factory import QUANTIZE_MODES

    if quantize not in ("none", *QUANTIZE_MODES):
        _fail(f"--quantize must be {', '.join(QUANTIZE_MODES)} or none, got {quantize!r}")
    if backend not in ("transformers", "llama.cpp"):
        _fail(f"--backend must be transformers or llama.cpp, got {backend!r}")
    if quantize not in ("auto", "none") and backend != "transformers":
        _fail("--quantize applies to the transformers backend (llama.cpp runs the q8_0 GGUF)")
    if data is not None and not data.is_file():
        _fail(f"eval data not found: {data}")
    earlier = _load_report(against_report) if against_report is not None else None
    try:
        report = run_eval(model, data=data, suites=suite, base_url=base_url, limit=limit,
                          constrained=not no_constrain, max_tokens=max_tokens, progress=progress, api_key=api_key,
                          quantize=None if quantize == "none" or backend != "transformers" else quantize,
                          backend=backend)
        if earlier is not None:
            report = against(report, earlier)
    except (EvalError, CasesError) as e:
        _fail(str(e))
        return
    paths = write_report(report, out)
    for m in report["models"]:
        for s, res in m["results"].items():
            summ = res["summary"]
            acc = summ["accuracy"]
            lat = summ.get("latency_p50_s")
            typer.echo(f"{m['name']:<24} {s:<24} accuracy {100 * acc:5.1f}%  (n={summ['n']})"
                       + (f"  p50 {1000 * lat:.0f} ms" if lat is not None else "") if acc is not None else f"{m['name']} {s}: no cases")
    for c in report.get("comparisons", []):
        exact = c["metrics"].get("exact_match") or c["metrics"]["accuracy"]
        ci = exact["difference_ci95"]
        typer.echo(f"{c['model']} vs {c['base']} ({c['suite']}): {exact['metric']} {100 * exact['difference']:+.1f} points"
                   + (f" (95% CI {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})" if ci else "")
                   + f", {exact['gained']} turns gained, {exact['lost']} lost of {exact['n']}")
    if earlier is not None and not report.get("comparisons"):
        typer.echo(f"note: no turns in common with {against_report}: nothing to compare", err=True)
    typer.echo(f"report: {paths['html']}")


def _load_report(path: Path) -> dict:
    """An earlier report.json for --against; a clear error for anything else."""
    import json

    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        _fail(f"--against: no report at {file}")
    try:
        report = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        _fail(f"--against: {file} is not JSON ({e})")
    from .api import EvalError, check_report

    try:
        check_report(report)
    except EvalError as e:
        _fail(f"--against: {file}: {e}")
    return report
