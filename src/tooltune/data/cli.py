"""``tooltune data``: generate, validate, stats, import."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code=code)


@app.command()
def generate(
    tools: str = typer.Option(..., "--tools", help="Tools JSON file, or a catalog name (taskapi)."),
    n: int = typer.Option(2000, "--n", help="Total number of conversations (train + eval)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same files."),
    out: Path = typer.Option(..., "--out", help="Output directory for train.jsonl and eval.jsonl."),
    eval_fraction: float = typer.Option(0.15, "--eval-fraction", help="Share of samples in eval.jsonl."),
    mix: str = typer.Option("", "--mix", help="Kind shares, e.g. single=0.3,parallel=0.2 (others keep defaults)."),
) -> None:
    """Synthesize a tool-calling dataset (train.jsonl + eval.jsonl)."""
    from tooltune.core.tools import ToolsError, load_tools

    from .generate import GenerationError, generate as run, make_generator, parse_mix, write_jsonl

    if n < 1:
        fail("--n must be at least 1")
    if not 0 <= eval_fraction < 1:
        fail("--eval-fraction must be in [0, 1)")
    try:
        tool_list = load_tools(tools)
    except ToolsError as e:
        fail(str(e))
    kinds = make_generator(tool_list).kinds
    try:
        shares = parse_mix(mix, kinds)
    except ValueError as e:
        fail(str(e))
    try:
        splits = run(tool_list, n, seed, eval_fraction, shares)
    except GenerationError as e:
        fail(f"generator bug: {e}", code=1)
    except ValueError as e:  # tools whose schemas no value can be synthesised for
        fail(str(e))
    for split, res in splits.items():
        write_jsonl(res.rows, out / f"{split}.jsonl")

    table = Table(title=f"generated {n} conversations ({', '.join(t.name for t in tool_list)})")
    table.add_column("kind")
    table.add_column("train", justify="right")
    table.add_column("eval", justify="right")
    for kind in kinds:
        table.add_row(kind, str(splits["train"].kinds.get(kind, 0)), str(splits["eval"].kinds.get(kind, 0)))
    table.add_row("total", str(len(splits["train"].rows)), str(len(splits["eval"].rows)), style="bold")
    console.print(table)
    overlap = splits["train"].templates & splits["eval"].templates
    console.print(f"templates: train {len(splits['train'].templates)}, eval {len(splits['eval'].templates)}, "
                  f"overlap {len(overlap)}")
    if overlap:
        fail(f"train/eval template overlap: {', '.join(sorted(overlap)[:10])}", code=1)
    console.print(f"wrote {out / 'train.jsonl'} and {out / 'eval.jsonl'}")


@app.command()
def validate(file: Path = typer.Argument(..., help="A dataset JSONL file.")) -> None:
    """Check every line: declared tools, argument schemas, tool results, role order."""
    from .check import check_file

    if not file.is_file():
        fail(f"file not found: {file}")
    report = check_file(file)
    for line_no, reason in report.bad[:200]:
        typer.echo(f"line {line_no}: {reason}")
    if len(report.bad) > 200:
        typer.echo(f"... and {len(report.bad) - 200} more bad lines")
    typer.echo(f"{file}: {report.total} lines, {report.total - len(report.bad)} ok, {len(report.bad)} bad")
    if report.bad:
        raise typer.Exit(code=1)


@app.command()
def stats(
    file: Path = typer.Argument(..., help="A dataset JSONL file."),
    tokenizer: str = typer.Option("smollm2-135m", "--tokenizer",
                                  help="Model whose tokenizer measures lengths ('none' to skip)."),
) -> None:
    """Counts per kind and tool, calls per turn, token-length percentiles."""
    from .stats import compute_stats, print_stats

    if not file.is_file():
        fail(f"file not found: {file}")
    try:
        s = compute_stats(file, tokenizer, warn=lambda m: err_console.print(m, markup=False))
    except ValueError as e:
        fail(str(e))
    print_stats(s, console)


@app.command("import")
def import_(
    from_: str = typer.Option(..., "--from", help="Source format: glaive, hermes, xlam or sharegpt."),
    input_path: Path = typer.Argument(..., metavar="IN", help="Input file (JSONL or a JSON list)."),
    output: Path = typer.Argument(..., metavar="OUT", help="Output JSONL in tooltune format."),
) -> None:
    """Convert a public function-calling dataset to tooltune's format (and validate it)."""
    from .importers import FORMATS, import_file

    if from_ not in FORMATS:
        fail(f"unknown format {from_!r} (choose: {', '.join(FORMATS)})")
    if not input_path.is_file():
        fail(f"file not found: {input_path}")
    if output.resolve() == input_path.resolve():
        fail("OUT must differ from IN (never overwrite the source)")
    try:
        report = import_file(from_, input_path, output)
    except ValueError as e:
        fail(str(e))
    for where, reason in report.skipped[:200]:
        typer.echo(f"skipped {where}: {reason}")
    if len(report.skipped) > 200:
        typer.echo(f"... and {len(report.skipped) - 200} more skipped")
    typer.echo(f"imported {report.written} of {report.total} records from {input_path} -> {output} "
               f"({len(report.skipped)} skipped)")
    if report.written == 0:
        raise typer.Exit(code=1)
