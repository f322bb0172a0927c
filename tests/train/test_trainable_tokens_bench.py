"""bench/trainable_tokens.py: both sides train the same steps with the same losses."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "trainable_tokens.py"


def test_both_sides_train_alike(tiny_model_dir, train_jsonl, tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--base", str(tiny_model_dir), "--data", str(train_jsonl),
                           "--rounds", "1", "--steps", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "on tooltune's" in done.stdout
    result = json.loads(out.read_text())
    assert result["ratio"] > 0
    assert result["steps"] == 4 and result["identical_losses"] == 4
