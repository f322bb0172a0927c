"""`tooltune eval` end to end with scripted engines injected: report.json / .md / .html."""

import base64
import json
import re

import pytest
from typer.testing import CliRunner

from tooltune.engine.scripted import ScriptedEngine
from tooltune.eval import api, run_eval, write_report
from tooltune.eval.cli import app

GOOD = {
    "add a task: buy milk": '<tool_call>{"name":"create_task","arguments":{"title":"buy milk"}}</tool_call>',
    "complete tasks 3 and 4": '<tool_call>{"name":"complete_task","arguments":{"task_id":4}}</tool_call>'
                              '<tool_call>{"name":"complete_task","arguments":{"task_id":3}}</tool_call>',
    "hi there": "Hello! What can I do for you?",
    "change the due date": "Which task, and what date?",
    "mark it done": '<tool_call>{"name":"complete_task","arguments":{"task_id":7}}</tool_call>',
}


def tuned(req):
    last = req.messages[-1]
    if last.role == "tool":
        return "Created task 7."
    return GOOD[last.content]


def base(req):
    last = req.messages[-1]
    if last.role == "tool":
        return "Done."
    if last.content == "hi there":
        return '<tool_call>{"name":"list_tasks","arguments":{}}</tool_call>'
    if last.content == "complete tasks 3 and 4":
        return '<tool_call>{"name":"complete_task","arguments":{"task_id":3,}}</tool_call>'
    return "I cannot do that."


@pytest.fixture
def engines(monkeypatch, tmp_path):
    made = []

    def factory(spec, constrained, quantize=None, backend="transformers"):
        made.append((spec, constrained) + ((quantize,) if quantize not in (None, "auto") else ()) + ((backend,) if backend != "transformers" else ()))
        engine = ScriptedEngine(tuned if "tuned" in spec else base, name=spec)
        engine.weights = {None: "float32", "auto": "bf16-linear"}.get(quantize, quantize)  # as load_engine resolves
        return engine

    monkeypatch.setattr(api, "default_engine_factory", factory)
    run = tmp_path / "runs" / "tuned"
    (run / "model").mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 2.0 / s}) + "\n" for s in range(1, 11))
                                       + json.dumps({"step": 10, "eval_loss": 0.4}) + "\n")
    return made, run


def test_cli_compares_models_and_writes_reports(eval_file, engines, tmp_path):
    made, run = engines
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["--model", "smollm2-135m", "--model", str(run / "model"), "--data", str(eval_file),
                                      "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert made == [("smollm2-135m", True), (str(run / "model"), True)]
    assert "report.html" in result.output

    report = json.loads((out / "report.json").read_text())
    base_m, tuned_m = report["models"]
    assert (base_m["name"], tuned_m["name"]) == ("smollm2-135m", "tuned")
    t, b = tuned_m["results"]["data"], base_m["results"]["data"]
    assert t["summary"]["n"] == 7 and t["summary"]["accuracy"] == 1.0 and t["n_failures"] == 0
    assert t["summary"]["multi_turn_success"] == 1.0 and t["summary"]["clarify_rate"] == 1.0
    # base: only the multi-turn's middle text turn is right
    assert b["summary"]["accuracy"] == pytest.approx(1 / 7)
    assert b["summary"]["json_valid"] == pytest.approx(1 / 2)  # one malformed, one valid attempt
    # no-call turns: "hi there" (called list_tasks), the clarify turn and the multi-turn reply (both quiet)
    assert b["summary"]["no_call_recall"] == pytest.approx(2 / 3)
    assert b["by_category"]["parallel"]["accuracy"] == 0.0
    assert b["confusion"]["<none>"]["list_tasks"] == 1
    fail = next(f for f in b["failures"] if f["category"] == "single")
    assert fail["input"][-1]["content"] == "add a task: buy milk"
    assert fail["expected"]["tool_calls"][0]["name"] == "create_task" and fail["got"]["content"] == "I cannot do that."
    assert tuned_m["training"]["train_loss"][0] == [1, 2.0] and tuned_m["training"]["eval_loss"] == [[10, 0.4]]
    assert t["summary"]["latency_p50_s"] is not None and t["summary"]["ttft_p50_s"] is not None

    md = (out / "report.md").read_text()
    assert "| metric | smollm2-135m | tuned |" in md and "| Turn accuracy (95% CI) | 14.3% (0.0–27.3) | 100.0% (100.0–100.0) |" in md
    # the tuned model against the base, turn by turn
    assert "| tuned | Turn accuracy: 14.3% → 100.0% | +85.7 points (+72.7 to +100.0) | +6 / -0 of 7 |" in md
    assert report["comparisons"][0]["metrics"]["exact_match"]["gained"] == 4
    assert "tuned vs smollm2-135m (data): exact_match +100.0 points" in result.output

    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    # self-contained: nothing fetched from elsewhere, every image inline and a real PNG
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 3  # accuracy per category, latency, training loss
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "Training" in page and "confusion matrix" in page


def test_no_constrain_and_limit(eval_file, engines, tmp_path):
    made, _ = engines
    result = CliRunner().invoke(app, ["--model", "tuned-x", "--data", str(eval_file), "--out", str(tmp_path / "o"),
                                      "--limit", "2", "--no-constrain", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert made == [("tuned-x", False)]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["models"][0]["results"]["data"]["summary"]["n"] == 2 and report["config"]["constrained"] is False
    assert report["config"]["weights"] == "bf16-linear"  # the default, "auto", as the engine resolved it
    assert report["models"][0]["weights"] == "bf16-linear"


@pytest.mark.parametrize("flag, value, config_key", [("--quantize", "int8", "weights"),
                                                     ("--backend", "llama.cpp", "backend")])
def test_engine_options_reach_the_engine_and_the_report(eval_file, engines, tmp_path, flag, value, config_key):
    made, _ = engines
    result = CliRunner().invoke(app, ["--model", "tuned-x", "--data", str(eval_file), "--out", str(tmp_path / "o"),
                                      flag, value, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert made == [("tuned-x", True, value)]
    assert json.loads((tmp_path / "o" / "report.json").read_text())["config"][config_key] == value


@pytest.mark.parametrize("args, message", [
    (["--model", "m", "--data", "/nope/eval.jsonl"], "eval data not found"),
    (["--model", "m"], "nothing to evaluate"),
    (["--model", "m", "--suite", "bfcl:java"], "unknown BFCL category"),
    (["--model", "m", "--suite", "mmlu"], "unknown suite"),
    (["--model", "m", "--suite", "taskapi-e2e"], "give --base-url"),
    (["--model", "m", "--data", "x.jsonl", "--quantize", "int4"], "--quantize must be auto, bf16-linear, int8, w8a8, bf16 or none"),
    (["--model", "m", "--data", "x.jsonl", "--backend", "vllm"], "--backend must be transformers or llama.cpp"),
    (["--model", "m", "--data", "x.jsonl", "--backend", "llama.cpp", "--quantize", "int8"], "applies to the transformers backend"),
])
def test_bad_input_is_a_one_line_error(args, message, engines, tmp_path):
    result = CliRunner().invoke(app, args + ["--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output and "Traceback" not in result.output


def test_bad_eval_line_is_reported_with_its_line(tmp_path, engines):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "x"}]}\n{"messages": [{"role": "tool"}]}\n')
    result = CliRunner().invoke(app, ["--model", "m", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and f"{bad}:2:" in result.output


def test_library_api_with_bfcl_suite_and_published_refs(tmp_path):
    pytest.importorskip("bfcl_eval")
    eng = ScriptedEngine(lambda req: '<tool_call>{"name":"calculate_triangle_area","arguments":{"base":10,"height":5}}</tool_call>')
    report = run_eval(["m"], suites=["bfcl:simple", "bfcl:irrelevance"], limit=3, progress=False,
                      engine_factory=lambda spec, constrained: eng)
    simple = report["models"][0]["results"]["bfcl:simple"]
    assert simple["summary"]["n"] == 3 and simple["cases"][0]["correct"] and not simple["cases"][1]["correct"]
    assert report["models"][0]["results"]["bfcl:irrelevance"]["summary"]["accuracy"] == 0.0
    assert [r["score"] for r in report["published"]["bfcl:simple"]] == [61.6, 64.17, 62.42]
    paths = write_report(report, tmp_path / "r")
    md = paths["md"].read_text()
    assert "Published reference numbers" in md and "Hammer2.1-0.5b" in md
    assert "BFCL overview" in paths["html"].read_text()


def test_e2e_section_is_rendered_when_present(tmp_path):
    report = {"created": "now", "config": {"data": None, "suites": ["taskapi-e2e"], "base_url": "http://x/v1", "limit": None,
                                           "constrained": True, "max_tokens": 8, "decoding": "greedy"},
              "suites": ["taskapi-e2e"], "published": {},
              "models": [{"name": "tuned", "results": {}, "e2e": {"success_rate": 0.5, "passed": 1, "total": 2, "seconds": 3.0,
                          "scenarios": [{"name": "create", "passed": True}, {"name": "delete", "passed": False, "reason": "task 3 still there"}]}}]}
    paths = write_report(report, tmp_path)
    md = paths["md"].read_text()
    assert "| success rate | 50.0% |" in md and "| scenario delete | FAIL: task 3 still there |" in md
    assert "Task API end to end" in paths["html"].read_text()


def test_merge_reports_side_by_side(eval_file):
    from tooltune.eval import merge_reports

    def one(spec, fn, **kw):
        return run_eval([spec], data=eval_file, progress=False, engine_factory=lambda s, c: ScriptedEngine(fn), **kw)

    merged = merge_reports(one("base", base), one("tuned", tuned), one("tuned", tuned, limit=1))
    assert [m["name"] for m in merged["models"]] == ["base", "tuned"]
    assert merged["models"][1]["results"]["data"]["summary"]["n"] == 1  # later results of the same model win
    assert merged["models"][0]["results"]["data"]["summary"]["n"] == 7


def test_merged_config_says_when_parts_differ(eval_file):
    from tooltune.eval import merge_reports

    def one(**kw):
        return run_eval(["m"], data=eval_file, progress=False, engine_factory=lambda s, c: ScriptedEngine(tuned), **kw)

    merged = merge_reports(one(limit=2), one(limit=3, constrained=False))
    assert merged["config"]["limit"] == "2 / 3" and merged["config"]["constrained"] == "mixed"


def test_against_an_earlier_report_compares_turn_by_turn(eval_file, engines, tmp_path):
    first = CliRunner().invoke(app, ["--model", "base-run", "--data", str(eval_file), "--out", str(tmp_path / "a"), "--no-progress"])
    assert first.exit_code == 0, first.output
    # the same name evaluated again (e.g. with other weights): the earlier one is renamed, not merged
    result = CliRunner().invoke(app, ["--model", "base-run", "--data", str(eval_file), "--out", str(tmp_path / "b"),
                                      "--no-progress", "--against", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert [m["name"] for m in report["models"]] == ["base-run (earlier, bf16-linear)", "base-run"]
    acc = report["comparisons"][0]["metrics"]["accuracy"]
    assert (acc["difference"], acc["difference_ci95"], acc["gained"], acc["lost"]) == (0.0, [0.0, 0.0], 0, 0)
    assert "base-run vs base-run (earlier, bf16-linear) (data)" in result.output and "no turns in common" not in result.output
    # an earlier report on other turns: said, and nothing compared
    other = json.loads((tmp_path / "a" / "report.json").read_text())
    for c in other["models"][0]["results"]["data"]["cases"]:
        c["id"] = "other-" + c["id"]
    (tmp_path / "other.json").write_text(json.dumps(other))
    result = CliRunner().invoke(app, ["--model", "base-run", "--data", str(eval_file), "--out", str(tmp_path / "c"),
                                      "--no-progress", "--against", str(tmp_path / "other.json")])
    assert result.exit_code == 0 and "no turns in common" in result.output
    assert json.loads((tmp_path / "c" / "report.json").read_text())["comparisons"] == []


def test_against_compares_a_model_with_its_earlier_self_whatever_came_first(eval_file, engines, tmp_path):
    """An earlier report of base and tuned, the tuned model evaluated again: besides the comparisons
    with the first model (the base), the tuned model is compared with its earlier self."""
    made, run = engines
    tuned = str(run / "model")
    first = CliRunner().invoke(app, ["--model", "base-run", "--model", tuned, "--data", str(eval_file),
                                     "--out", str(tmp_path / "a"), "--no-progress"])
    assert first.exit_code == 0, first.output
    result = CliRunner().invoke(app, ["--model", tuned, "--data", str(eval_file), "--out", str(tmp_path / "b"),
                                      "--no-progress", "--against", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    pairs = [(c["base"], c["model"]) for c in report["comparisons"]]  # a run's model is named after its run
    assert pairs == [("base-run", "tuned (earlier, bf16-linear)"), ("base-run", "tuned"),
                     ("tuned (earlier, bf16-linear)", "tuned")]
    same = report["comparisons"][-1]["metrics"]["accuracy"]
    assert (same["difference"], same["gained"], same["lost"]) == (0.0, 0, 0)
    assert "tuned vs tuned (earlier, bf16-linear) (data)" in result.output


@pytest.mark.parametrize("content, message", [
    (None, "no report at"),
    ("{not json", "is not JSON"),
    ('{"tool": "something else"}', "is not a tooltune eval report"),
    ('{"tool": "tooltune eval", "models": []}', "has no models"),
])
def test_against_needs_a_report(content, message, eval_file, engines, tmp_path):
    earlier = tmp_path / "earlier.json"
    if content is not None:
        earlier.write_text(content)
    result = CliRunner().invoke(app, ["--model", "m", "--data", str(eval_file), "--out", str(tmp_path / "o"),
                                      "--no-progress", "--against", str(earlier)])
    assert result.exit_code == 2 and result.output.startswith("error: --against") and message in result.output
    assert not (tmp_path / "o").exists()  # checked before any model runs
