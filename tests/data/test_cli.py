import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tooltune.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    result = runner.invoke(app, ["data", "generate", "--tools", "taskapi", "--n", "300", "--seed", "1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_generate_writes_both_splits_and_reports_zero_overlap(generated):
    out, output = generated
    train = (out / "train.jsonl").read_text().splitlines()
    evals = (out / "eval.jsonl").read_text().splitlines()
    assert len(train) + len(evals) == 300 and len(evals) == 45
    assert "overlap 0" in output
    for kind in ("single", "parallel", "multi_turn", "no_call", "clarify", "error_recovery", "relative_date"):
        assert kind in output
    row = json.loads(train[0])
    assert set(row) == {"messages", "tools", "meta"} and set(row["meta"]) == {"kind", "templates", "split"}


def test_generate_is_byte_identical_for_a_seed(generated, tmp_path):
    out, _ = generated
    result = runner.invoke(app, ["data", "generate", "--tools", "taskapi", "--n", "300", "--seed", "1",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0
    assert (tmp_path / "train.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()


def test_generate_mix_zero_drops_a_kind(tmp_path):
    result = runner.invoke(app, ["data", "generate", "--tools", "taskapi", "--n", "80", "--out", str(tmp_path),
                                 "--mix", "parallel=0,no_call=0.5"])
    assert result.exit_code == 0, result.output
    kinds = [json.loads(line)["meta"]["kind"] for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert "parallel" not in kinds and kinds.count("no_call") > len(kinds) / 3


@pytest.mark.parametrize("args, message", [
    (["--tools", "nope.json"], "tools file not found"),
    (["--tools", "taskapi", "--mix", "bogus=1"], "unknown kind"),
    (["--tools", "taskapi", "--n", "0"], "--n must be at least 1"),
])
def test_generate_bad_input_is_one_line_error(tmp_path, args, message):
    result = runner.invoke(app, ["data", "generate", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_validate_good_file(generated):
    out, _ = generated
    result = runner.invoke(app, ["data", "validate", str(out / "eval.jsonl")])
    assert result.exit_code == 0, result.output
    assert "45 lines, 45 ok, 0 bad" in result.output


def test_validate_reports_bad_lines_with_numbers(generated, tmp_path):
    out, _ = generated
    lines = (out / "train.jsonl").read_text().splitlines()[:6]
    bad_tool = json.loads(lines[2])
    for m in bad_tool["messages"]:
        for c in m.get("tool_calls") or []:
            c["function"]["name"] = "launch_rocket"
    if not any(m.get("tool_calls") for m in bad_tool["messages"]):
        bad_tool["messages"].append({"role": "assistant", "content": None,
                                     "tool_calls": [{"id": "x1", "type": "function",
                                                     "function": {"name": "launch_rocket", "arguments": "{}"}}]})
    lines[2] = json.dumps(bad_tool)
    lines[4] = '{"messages": [oops'
    orphan = {"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "zz", "content": "{}"},
                           {"role": "assistant", "content": "ok"}], "tools": []}
    bad_args = {"messages": [{"role": "user", "content": "x"},
                             {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                                 "name": "complete_task", "arguments": "{\"task_id\": \"seven\"}"}}]},
                             {"role": "tool", "tool_call_id": "c1", "content": "{}"},
                             {"role": "assistant", "content": "done"}], "tools": bad_tool["tools"]}
    pydantic_bad = {"messages": [{"role": "wizard", "content": "x"}]}
    lines += [json.dumps(orphan), json.dumps(bad_args), json.dumps(pydantic_bad)]
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["data", "validate", str(f)])
    assert result.exit_code == 1
    out_lines = result.output.splitlines()
    assert any(l.startswith("line 3: ") and "unknown tool 'launch_rocket'" in l for l in out_lines)
    assert any(l.startswith("line 5: ") and "invalid JSON" in l for l in out_lines)
    assert any(l.startswith("line 7: ") and "no earlier call" in l for l in out_lines)
    assert any(l.startswith("line 8: ") and "is not of type 'integer'" in l for l in out_lines)
    assert any(l.startswith("line 9: ") and "messages.0.role" in l for l in out_lines)
    assert not any(l.startswith(("line 1:", "line 2:", "line 4:", "line 6:")) for l in out_lines)
    assert "9 lines, 4 ok, 5 bad" in result.output


def test_validate_missing_file():
    result = runner.invoke(app, ["data", "validate", "/nonexistent/x.jsonl"])
    assert result.exit_code == 2 and "error: file not found" in result.output


def test_stats_with_a_tokenizer(generated, tiny_tokenizer, tmp_path):
    out, _ = generated
    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    result = runner.invoke(app, ["data", "stats", str(out / "eval.jsonl"), "--tokenizer", str(tmp_path / "tok")])
    assert result.exit_code == 0, result.output
    assert "45 conversations" in result.output
    assert "rendered length (tokens): p50" in result.output and "p99" in result.output
    for name in ("create_task", "relative_date", "error_recovery"):
        assert name in result.output


def test_stats_falls_back_to_characters(generated):
    out, _ = generated
    result = runner.invoke(app, ["data", "stats", str(out / "eval.jsonl"), "--tokenizer", "/no/such/model"])
    assert result.exit_code == 0, result.output
    assert "unavailable" in result.output and "rendered length (characters)" in result.output


def test_stats_numbers(generated):
    from tooltune.data.stats import compute_stats

    out, _ = generated
    s = compute_stats(out / "eval.jsonl", "none")
    rows = [json.loads(l) for l in (out / "eval.jsonl").read_text().splitlines()]
    assert s.conversations == 45 and sum(s.kinds.values()) == 45
    n_calls = sum(len(m.get("tool_calls") or []) for r in rows for m in r["messages"])
    assert sum(s.tools.values()) == n_calls
    p = s.percentiles()
    assert p["p50"] <= p["p90"] <= p["p99"] <= p["max"] == max(s.lengths)


def test_import_cli(tmp_path):
    fixtures = Path(__file__).parent / "fixtures"
    out = tmp_path / "g.jsonl"
    result = runner.invoke(app, ["data", "import", "--from", "glaive", str(fixtures / "glaive.jsonl"), str(out)])
    assert result.exit_code == 0, result.output
    assert "imported 2 of 4 records" in result.output
    assert "skipped line 3: " in result.output and "book_flight" in result.output
    assert "skipped line 4: invalid JSON" in result.output
    check = runner.invoke(app, ["data", "validate", str(out)])
    assert check.exit_code == 0, check.output


def test_import_bad_format(tmp_path):
    result = runner.invoke(app, ["data", "import", "--from", "alpaca", __file__, str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2 and "unknown format" in result.output
