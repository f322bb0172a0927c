"""Command-line arguments shared by the benches that time forward passes per input width."""

from __future__ import annotations

import argparse


def width_parser(doc: str | None, widths: str) -> argparse.ArgumentParser:
    """--model, --widths (default ``widths``), --threads and --repeats."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--widths", default=widths, help="input rows (tokens) per pass, comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    return ap


def parse_widths(ap: argparse.ArgumentParser, text: str) -> list[int]:
    """The --widths list; exits with a one-line usage error when it is not positive integers."""
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        ap.error(f"--widths: expected integers like 1,4,8, got {text!r}")
    if min(widths) < 1:
        ap.error("--widths must be positive")
    return widths
