"""Write a report dict (from ``run_eval``) as report.json, report.md and a self-contained
report.html (plots embedded as base64 PNG; no external files, scripts or fonts)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import Any

METRICS = [
    ("accuracy", "Turn accuracy", "rate"),
    ("tool_selection", "Tool selection", "rate"),
    ("exact_match", "Exact call match", "rate"),
    ("argument_accuracy", "Argument accuracy", "rate"),
    ("json_valid", "Valid JSON arguments", "rate"),
    ("schema_valid", "Schema-valid calls", "rate"),
    ("no_call_precision", "No-call precision", "rate"),
    ("no_call_recall", "No-call recall", "rate"),
    ("clarify_rate", "Clarifying-question rate", "rate"),
    ("multi_turn_success", "Multi-turn success", "rate"),
    ("latency_p50_s", "Latency p50", "ms"),
    ("latency_p95_s", "Latency p95", "ms"),
    ("ttft_p50_s", "Time to first token p50", "ms"),
    ("ttft_p95_s", "Time to first token p95", "ms"),
    ("tokens_per_s_p50", "Generated tokens/s p50", "num"),
    ("warmup_s", "First request (untimed warm-up: tools prefill, first-call costs)", "ms"),
]
"""(key, label, unit) of the summary rows, in display order."""

FAILURES_SHOWN = 15

COMPARISON_NOTE = ("Paired comparison on the same turns. Intervals: 95%, bootstrapped over conversations; "
                   "a difference whose interval spans zero is within this eval's noise.")


def fmt(value: Any, unit: str = "rate") -> str:
    if value is None:
        return "–"
    if unit == "rate":
        return f"{100 * value:.1f}%"
    if unit == "ms":
        return f"{1000 * value:.0f} ms" if value < 10 else f"{value:.1f} s"
    return f"{value:.1f}"


# ---------------------------------------------------------------- plots

def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_chart(report: dict[str, Any], suite: str) -> str | None:
    """Grouped bars: turn accuracy per category, one bar per model (plus published references)."""
    models = [m for m in report["models"] if suite in m["results"]]
    if not models:
        return None
    cats = sorted({c for m in models for c in m["results"][suite]["by_category"]})
    cats = cats + (["overall"] if len(cats) > 1 else [])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cats) * max(1, len(models)) ** 0.5 + 2), 3.6))
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        res = m["results"][suite]
        vals = [100 * ((res["summary"] if c == "overall" else res["by_category"].get(c, {})).get("accuracy") or 0) for c in cats]
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(cats))]
        bars = ax.bar(xs, vals, width, label=m["name"])
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    for ref in report.get("published", {}).get(suite, []):
        ax.axhline(ref["score"], linestyle="--", linewidth=0.8, color="gray")
        ax.text(len(cats) - 0.5, ref["score"], f" {ref['model']} {ref['score']}", fontsize=7, va="center", color="dimgray")
    ax.set_xticks(range(len(cats)), [c.replace("bfcl:", "") for c in cats], rotation=20 if len(cats) > 4 else 0, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Accuracy per category — {suite}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def bfcl_chart(report: dict[str, Any]) -> str | None:
    """All BFCL categories in one chart, one bar per model, published references as markers."""
    suites = [s for s in report["suites"] if s.startswith("bfcl:")]
    if not suites:
        return None
    plt = _plt()
    models = report["models"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(suites) + 3), 3.6))
    width = 0.8 / max(1, len(models))
    for i, m in enumerate(models):
        vals = [100 * (m["results"].get(s, {}).get("summary", {}).get("accuracy") or 0) for s in suites]
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(suites))]
        bars = ax.bar(xs, vals, width, label=m["name"])
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    styles = ["--", ":", "-."]
    for j, s in enumerate(suites):
        for k, ref in enumerate(report.get("published", {}).get(s, [])):
            ax.hlines(ref["score"], j - 0.45, j + 0.45, colors="black", linestyles=styles[k % len(styles)], linewidth=1,
                      label=f"{ref['model']} {ref['score']} (published)")
    ax.set_xticks(range(len(suites)), [s.replace("bfcl:", "") for s in suites], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("BFCL (non-live, AST checker)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def latency_chart(report: dict[str, Any]) -> str | None:
    series = {}
    for m in report["models"]:
        vals = [1000 * c["total_s"] for r in m["results"].values() for c in r["cases"] if c.get("total_s") is not None]
        if vals:
            series[m["name"]] = vals
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    every = sorted(v for vals in series.values() for v in vals)
    hi, lo, mid = every[-1], max(every[0], 1e-3), every[len(every) // 2]
    spread = hi > 20 * max(mid, 1e-3)  # a long tail (e.g. a loaded machine): log axis keeps both ends readable
    if spread:
        bins = [lo * (hi / lo) ** (i / 30) for i in range(31)]
        ax.set_xscale("log")
    else:
        bins = [hi * i / 30 for i in range(31)] if hi > 0 else 10
    for name, vals in series.items():
        ax.hist(vals, bins=bins, alpha=0.55, label=name)
    ax.axvline(500, color="red", linestyle=":", linewidth=1)
    ax.text(505, ax.get_ylim()[1] * 0.95, "500 ms goal", color="red", fontsize=7, va="top")
    ax.set_xlabel("request latency (ms)" + (", log scale" if spread else ""))
    ax.set_ylabel("requests")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Latency per request")
    ax.legend(fontsize=8)
    return _png(fig)


def loss_chart(model: dict[str, Any]) -> str | None:
    training = model.get("training") or {}
    if training.get("train_loss") or training.get("eval_loss"):
        plt = _plt()
        fig, ax = plt.subplots(figsize=(6, 3))
        for key, label in (("train_loss", "train"), ("eval_loss", "eval")):
            pts = training.get(key) or []
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 50 else None, label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"Training loss — {model['name']}")
        ax.legend(fontsize=8)
        return _png(fig)
    png = training.get("loss_png")
    if png and Path(png).is_file():
        return base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return None


# ---------------------------------------------------------------- markdown

def _constraint(cfg: dict[str, Any]) -> str:
    value = cfg.get("constrained")
    return "constrained" if value is True else "unconstrained" if value is False else "mixed constrained/unconstrained"


def _with_interval(value: Any, interval: Any) -> str:
    """``68.7% (65.1–72.2)``: a rate and its 95% bootstrap interval, when there is one."""
    if value is None or not interval:
        return fmt(value)
    return f"{fmt(value)} ({100 * interval[0]:.1f}–{100 * interval[1]:.1f})"


def _summary_rows(report: dict[str, Any], suite: str) -> list[list[str]]:
    rows = []
    for key, label, unit in METRICS:
        summaries = [m["results"][suite]["summary"] if suite in m["results"] else {} for m in report["models"]]
        vals = [summ.get(key) for summ in summaries]
        if all(v is None for v in vals):
            continue
        if any(summ.get(f"{key}_ci95") for summ in summaries):
            rows.append([label + " (95% CI)"] + [_with_interval(summ.get(key), summ.get(f"{key}_ci95")) for summ in summaries])
        else:
            rows.append([label] + [fmt(v, unit) for v in vals])
    return rows


def comparison_rows(report: dict[str, Any], suite: str) -> tuple[list[str], list[list[str]]] | None:
    """Each model against the suite's first model, turn by turn (``stats.paired_comparison``)."""
    rows = []
    for c in report.get("comparisons", []):
        if c["suite"] != suite:
            continue
        for key, label, _ in METRICS:
            cmp = c["metrics"].get(key)
            if cmp is None:
                continue
            ci = cmp["difference_ci95"]
            rows.append([c["model"], f"{label}: {fmt(cmp['base'])} → {fmt(cmp['other'])}",
                         f"{100 * cmp['difference']:+.1f} points" + (f" ({100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})" if ci else ""),
                         f"+{cmp['gained']} / -{cmp['lost']} of {cmp['n']}"])
    if not rows:
        return None
    base = next(c["base"] for c in report["comparisons"] if c["suite"] == suite)
    return [f"model (against {base})", "metric", "difference (95% CI)", "turns gained / lost"], rows


def _category_rows(report: dict[str, Any], suite: str) -> list[list[str]]:
    cats = sorted({c for m in report["models"] if suite in m["results"] for c in m["results"][suite]["by_category"]})
    rows = []
    for c in cats:
        row = [c]
        for m in report["models"]:
            cat = m["results"].get(suite, {}).get("by_category", {}).get(c)
            row.append(f"{fmt(cat['accuracy'])} (n={cat['n']})" if cat else "–")
        rows.append(row)
    return rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def e2e_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """Each model's optional ``e2e`` result (tooltune.agent.e2e.run_suite), side by side:
    the success rate, then pass/fail per scenario."""
    models = [m for m in report["models"] if m.get("e2e") is not None]
    if not models:
        return None
    rows = [["success rate"] + [fmt(m["e2e"].get("success_rate")) for m in models],
            ["passed / total"] + [f"{m['e2e'].get('passed', '–')} / {m['e2e'].get('total', '–')}" for m in models],
            ["seconds"] + [str(m["e2e"].get("seconds", "–")) for m in models]]
    per_model = [{s.get("name"): s for s in m["e2e"].get("scenarios", [])} for m in models]
    for name in dict.fromkeys(n for d in per_model for n in d):
        row = [f"scenario {name}"]
        for d in per_model:
            s = d.get(name)
            row.append("–" if s is None else ("pass" if s.get("passed") else f"FAIL: {str(s.get('reason', ''))[:80]}"))
        rows.append(row)
    return ["metric"] + [m["name"] for m in models], rows


def headline_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """The demo's headline numbers (``report["headline"]``, written by ``tooltune demo``) against
    the spec's targets and our own bars."""
    rows = report.get("headline")
    if not rows:
        return None
    mark = {True: " ✓", False: " ✗", None: ""}

    def show(v: Any, unit: str) -> str:
        return fmt(v, "ms") if unit == "s" else fmt(v)

    out = []
    for r in rows:
        op = "≥ " if r["higher"] else "≤ "
        out.append([r["label"], show(r["value"], r["unit"]),
                    op + show(r["spec"], r["unit"]) + mark[r["meets_spec"]] if r["spec"] is not None else "–",
                    op + show(r["ours"], r["unit"]) + mark[r["meets_ours"]] if r["ours"] is not None else "–"])
    return ["metric", "measured", "spec target", "our bar"], out


def overview_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """One row per model: turn accuracy per suite, then JSON validity and p50 latency on the eval data."""
    suites = [s for s in report["suites"] if s != "taskapi-e2e"]
    if not suites or not report["models"]:
        return None
    header = ["model"] + [("eval data" if s == "data" else s) + " accuracy" for s in suites]
    has_data = "data" in suites
    if has_data:
        header += ["valid JSON (data)", "latency p50 (data)"]
    rows = []
    for m in report["models"]:
        row = [m["name"]] + [fmt(m["results"].get(s, {}).get("summary", {}).get("accuracy")) for s in suites]
        if has_data:
            summ = m["results"].get("data", {}).get("summary", {})
            row += [fmt(summ.get("json_valid")), fmt(summ.get("latency_p50_s"), "ms")]
        rows.append(row)
    return header, rows


def to_markdown(report: dict[str, Any]) -> str:
    names = [m["name"] for m in report["models"]]
    cfg = report["config"]
    out = ["# tooltune eval report", "",
           f"Created {report['created']} · models: {', '.join(names)} · "
           f"{_constraint(cfg)} decoding, {cfg['decoding']}"
           + (f" · via {cfg['base_url']}" if cfg.get("base_url") else " · in-process")
           + (f" · limit {cfg['limit']}" if cfg.get("limit") else ""), ""]
    head = headline_rows(report)
    if head:
        out += ["## Headline", "", _md_table(*head), ""]
    overview = overview_rows(report)
    if overview:
        out += ["## Overview", "", _md_table(*overview), ""]
    for suite in report["suites"]:
        if suite == "taskapi-e2e":
            continue
        title = f"Eval data ({cfg['data']})" if suite == "data" else suite
        out += [f"## {title}", "", _md_table(["metric"] + names, _summary_rows(report, suite)), ""]
        paired = comparison_rows(report, suite)
        if paired:
            out += [COMPARISON_NOTE, "", _md_table(*paired), ""]
        cat_rows = _category_rows(report, suite)
        if len(cat_rows) > 1 or suite == "data":
            out += ["Accuracy per category:", "", _md_table(["category"] + names, cat_rows), ""]
        refs = report.get("published", {}).get(suite)
        if refs:
            out += ["Published reference numbers (not measured here):", "",
                    _md_table(["model", "accuracy", "source"], [[r["model"], f"{r['score']}%", r["source"]] for r in refs]), ""]
        for m in report["models"]:
            res = m["results"].get(suite)
            if res and res["failures"]:
                out += [f"Failures of {m['name']} ({res['n_failures']} of {res['summary']['n']}), first {min(5, len(res['failures']))}:", ""]
                for f in res["failures"][:5]:
                    out.append(f"- `{f['id']}` ({f['category']}): {'; '.join(f['reasons'])[:300]}")
                out.append("")
    e2e = e2e_rows(report)
    if e2e:
        out += ["## Task API end to end (taskapi-e2e)", "", _md_table(*e2e), ""]
    return "\n".join(out)


# ---------------------------------------------------------------- html

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}h3{font-size:1.05rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}.meta{color:#666;font-size:.9rem}
img{max-width:100%;display:block;margin:.5rem 0}pre{background:#f8f8f8;padding:.5rem;overflow-x:auto;font-size:.78rem;white-space:pre-wrap}
td.t{text-align:left}details{margin:.3rem 0}summary{cursor:pointer}.cm td{text-align:center;min-width:2rem}.note{color:#666;font-size:.85rem}
"""


_NUMERIC = re.compile(r"^(–|-?[\d.,]+\s*(%|ms|s)?(\s*\(n=\d+\)|\s*\([\d.]+–[\d.]+\))?|\d+ / \d+)$")


def _html_table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    h = "".join(f"<th>{html.escape(str(x))}</th>" for x in header)
    cell = lambda c: f"<td>{html.escape(str(c))}</td>" if _NUMERIC.match(str(c)) else f'<td class="t">{html.escape(str(c))}</td>'  # noqa: E731
    body = "".join("<tr>" + "".join(cell(c) for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _img(b64: str | None, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">' if b64 else ""


def _confusion_html(cm: dict[str, dict[str, int]]) -> str:
    labels = sorted(set(cm) | {g for row in cm.values() for g in row})
    peak = max((n for row in cm.values() for n in row.values()), default=1)
    head = "".join(f"<th>{html.escape(g)}</th>" for g in labels)
    rows = []
    for e in labels:
        cells = []
        for g in labels:
            n = cm.get(e, {}).get(g, 0)
            alpha = 0.15 + 0.85 * n / peak if n else 0
            color = "40,140,70" if e == g else "200,60,60"
            cells.append(f'<td style="background:rgba({color},{alpha:.2f})">{n or ""}</td>')
        rows.append(f"<tr><th>{html.escape(e)}</th>{''.join(cells)}</tr>")
    return f'<table class="cm"><thead><tr><th>expected ↓ / got →</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def to_html(report: dict[str, Any]) -> str:
    names = [m["name"] for m in report["models"]]
    cfg = report["config"]
    parts = [f"<h1>tooltune eval report</h1><p class='meta'>Created {html.escape(report['created'])} · models: "
             f"<b>{html.escape(', '.join(names))}</b> · {_constraint(cfg)} decoding, "
             f"{html.escape(cfg['decoding'])}" + (f" · via {html.escape(cfg['base_url'])}" if cfg.get("base_url") else " · in-process")
             + (f" · limit {cfg['limit']}" if cfg.get("limit") else "") + "</p>"]
    head = headline_rows(report)
    if head:
        parts.append("<h2>Headline</h2>" + _html_table(*head))
    overview = overview_rows(report)
    if overview:
        parts.append("<h2>Overview</h2>" + _html_table(*overview))
    bfcl_img = bfcl_chart(report)
    for suite in report["suites"]:
        if suite == "taskapi-e2e":
            continue
        title = f"Eval data ({cfg['data']})" if suite == "data" else suite
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(_html_table(["metric"] + names, _summary_rows(report, suite)))
        paired = comparison_rows(report, suite)
        if paired:
            parts.append(f"<p class='note'>{html.escape(COMPARISON_NOTE)}</p>" + _html_table(*paired))
        cat_rows = _category_rows(report, suite)
        if suite == "data":
            parts.append("<h3>Accuracy per category</h3>" + _html_table(["category"] + names, cat_rows))
            parts.append(_img(accuracy_chart(report, suite), f"accuracy per category, {suite}"))
        refs = report.get("published", {}).get(suite)
        if refs:
            parts.append("<p class='note'>Published reference numbers (not measured here):</p>"
                         + _html_table(["model", "accuracy", "source"], [[r["model"], f"{r['score']}%", r["source"]] for r in refs]))
        for m in report["models"]:
            res = m["results"].get(suite)
            if not res:
                continue
            if suite == "data" and res["confusion"]:
                parts.append(f"<details><summary>Tool-name confusion matrix — {html.escape(m['name'])}</summary>"
                             f"{_confusion_html(res['confusion'])}</details>")
            if res["failures"]:
                items = []
                for f in res["failures"][:FAILURES_SHOWN]:
                    body = json.dumps({"input": f["input"][-3:], "expected": f["expected"], "got": f["got"]}, indent=1, ensure_ascii=False)
                    items.append(f"<details><summary><code>{html.escape(f['id'])}</code> {html.escape(f['category'])}: "
                                 f"{html.escape('; '.join(f['reasons'])[:200])}</summary><pre>{html.escape(body)}</pre></details>")
                parts.append(f"<details><summary>Failures — {html.escape(m['name'])}: {res['n_failures']} of {res['summary']['n']} "
                             f"(first {min(FAILURES_SHOWN, len(res['failures']))})</summary>{''.join(items)}</details>")
    if bfcl_img:
        parts.append("<h2>BFCL overview</h2>" + _img(bfcl_img, "BFCL accuracy per category"))
    e2e = e2e_rows(report)
    if e2e:
        parts.append("<h2>Task API end to end (taskapi-e2e)</h2>" + _html_table(*e2e))
    lat = latency_chart(report)
    if lat:
        parts.append("<h2>Latency</h2>" + _img(lat, "latency histogram"))
    losses = [(m["name"], loss_chart(m)) for m in report["models"]]
    if any(b for _, b in losses):
        parts.append("<h2>Training</h2>" + "".join(_img(b, f"training loss {n}") for n, b in losses if b))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>tooltune eval report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write report.json, report.md and report.html into ``out_dir`` (created); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    paths["md"].write_text(to_markdown(report), encoding="utf-8")
    paths["html"].write_text(to_html(report), encoding="utf-8")
    return paths
