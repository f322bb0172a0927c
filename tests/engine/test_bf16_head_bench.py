"""bench/bf16_head.py: the bfloat16 head against the float32 one, in one run."""

import json
import subprocess
import sys
from pathlib import Path

from .test_concurrency_bench import _data

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bf16_head.py"


def test_both_heads_run_the_same_turns_and_agree(tiny_model_dir, tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", str(tiny_model_dir), "--data",
                           str(_data(tmp_path / "eval.jsonl", 10)), "--turns", "3", "--clients", "2",
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 client(s): float32 head" in done.stdout
    result = json.loads(out.read_text())
    for clients in ("clients_1", "clients_2"):
        r = result[clients]
        assert r["float32"]["rps"] > 0 and r["bfloat16"]["rps"] > 0 and r["speedup_rps"] > 0
        assert r["identical_outputs"] == 6  # greedy choices are float32's either way
