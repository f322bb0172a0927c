"""bench/concurrency.py: 8 clients against one on the same turns, in one run."""

import json
import subprocess
import sys
from pathlib import Path

from tooltune.core.tools import load_tools
from tooltune.core.types import Conversation, Message, make_call

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "concurrency.py"


def _data(path: Path, n: int) -> Path:
    convs = []
    for i in range(n):
        call = make_call("complete_task", {"task_id": i + 1}, f"c{i}")
        convs.append(Conversation(tools=load_tools("taskapi"), messages=[
            Message(role="user", content=f"complete task {i + 1}"), Message(role="assistant", tool_calls=[call])]))
    path.write_text("".join(json.dumps(c.to_json()) + "\n" for c in convs))
    return path


def test_crossover_prints_every_phase_and_the_pooled_ratio(tiny_model_dir, tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", str(tiny_model_dir), "--data",
                           str(_data(tmp_path / "eval.jsonl", 10)), "--turns", "3", "--clients", "3",
                           "--quantize", "none", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 clients vs one on the same 6 turns" in done.stdout
    result = json.loads(out.read_text())
    assert set(result["phases"]) == {"one_A", "many_B", "many_A", "one_B"}
    assert all(p["seq_passes_per_request"] >= 1 for p in result["phases"].values())
    assert result["ratio"] > 0 and set(result["ratio_per_set"]) == {"A", "B"}
    assert 0 <= result["identical_outputs"] <= result["outputs_compared"] == 6


def test_too_few_turns_stop_with_a_message(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", "nowhere", "--data",
                           str(_data(tmp_path / "eval.jsonl", 5)), "--turns", "3"],
                          capture_output=True, text=True, timeout=300, cwd=SCRIPT.parent)
    assert done.returncode == 2 and "lower --turns" in done.stderr
