"""bench/drafts.py: drafts against no drafts on the same turns, in one run."""

import json
import subprocess
import sys
from pathlib import Path

from tooltune.core.tools import load_tools
from tooltune.core.types import Conversation, Message, make_call

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "drafts.py"


def test_prints_both_sides_and_how_many_outputs_match(tiny_model_dir, tmp_path):
    data = tmp_path / "eval.jsonl"
    convs = []
    for i in range(4):
        call = make_call("complete_task", {"task_id": i + 1}, f"c{i}")
        convs.append(Conversation(tools=load_tools("taskapi"), messages=[
            Message(role="user", content=f"complete task {i + 1}"), Message(role="assistant", tool_calls=[call])]))
    data.write_text("".join(json.dumps(c.to_json()) + "\n" for c in convs))
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", str(tiny_model_dir), "--data", str(data),
                           "--turns", "4", "--json", str(out)], capture_output=True, text=True, timeout=300,
                          cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 turns after 2 warm-up" in done.stdout and "identical outputs" in done.stdout
    result = json.loads(out.read_text())
    assert result["turns"] == 4 and 0 <= result["identical"] <= 4
    assert result["drafts"]["passes_per_turn"] > 0 and result["no_drafts"]["passes_per_turn"] > 0


def test_too_few_turns_stop_with_a_message(tmp_path):
    data = tmp_path / "eval.jsonl"
    data.write_text("")
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", "nowhere", "--data", str(data)],
                          capture_output=True, text=True, timeout=300, cwd=SCRIPT.parent)
    assert done.returncode == 2 and "tool-call turns" in done.stderr
