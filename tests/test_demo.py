from tooltune.demo import headline
from tooltune.eval.report import to_html, to_markdown


def _report(exact, valid, e2e, p50):
    return {
        "created": "now", "config": {"constrained": True, "decoding": "greedy", "data": "eval.jsonl"},
        "suites": ["data", "taskapi-e2e"],
        "models": [{"name": "tuned", "results": {"data": {
            "summary": {"exact_match": exact, "accuracy": 0.9, "json_valid": valid, "latency_p50_s": 9.0,
                        "single_call_latency_p50_s": p50, "single_call_latency_p95_s": p50 * 2},
            "by_category": {"single": {"n": 3, "accuracy": 1.0, "latency_p50_s": 9.0, "latency_p95_s": 9.0}},
            "confusion": {}, "failures": [], "n_failures": 0, "cases": []}}, "e2e": {"success_rate": e2e}}],
    }


def test_headline_judges_each_number_against_both_bars():
    rows = {r["key"]: r for r in headline(_report(0.96, 1.0, 0.9, 0.3), "tuned")}
    assert rows["exact_match"]["meets_spec"] is True and rows["exact_match"]["meets_ours"] is False
    assert rows["json_valid"]["meets_ours"] is True
    assert rows["e2e_success"]["meets_ours"] is False
    assert rows["latency_p50_s"]["meets_spec"] is True and rows["latency_p50_s"]["meets_ours"] is False
    assert rows["latency_p95_s"]["value"] == 0.6 and rows["latency_p95_s"]["meets_ours"] is False
    assert rows["accuracy"]["meets_spec"] is None


def test_headline_is_in_the_report():
    report = _report(0.99, 1.0, 1.0, 0.15)
    report["headline"] = headline(report, "tuned")
    md = to_markdown(report)
    assert "## Headline" in md and "99.0%" in md and "150 ms" in md
    assert "<h2>Headline</h2>" in to_html(report)
