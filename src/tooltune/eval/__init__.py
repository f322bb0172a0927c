"""Evaluation: score models (in-process or via an OpenAI-compatible URL) on eval data and BFCL,
and write a side-by-side report.

``run_eval(models, data=..., suites=...)`` returns the report dict; ``write_report(report, out_dir)``
writes report.json, report.md and report.html.
"""

from .api import EvalError, merge_reports, run_eval
from .report import write_report

__all__ = ["EvalError", "merge_reports", "run_eval", "write_report"]
