"""bench/frozen_bf16.py and bench/trainable_tokens.py: both sides train the same steps with the same losses."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script,says,extra", [
    ("frozen_bf16.py", "stored in bfloat16", "converted_weights"),
    ("trainable_tokens.py", "on tooltune's", "peft_tok_s"),
])
def test_both_sides_train_alike(tiny_model_dir, train_jsonl, tmp_path, script, says, extra):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(BENCH / script), "--base", str(tiny_model_dir), "--data",
                           str(train_jsonl), "--rounds", "1", "--steps", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=BENCH)
    assert done.returncode == 0, done.stderr[-2000:]
    assert says in done.stdout
    result = json.loads(out.read_text())
    assert result[extra] > 0 and result["ratio"] > 0
    assert result["steps"] == 4 and result["identical_losses"] == 4
