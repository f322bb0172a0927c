import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "recipe_sweep.py"


def sweep(data: Path, out: Path, variants: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(data), "--out", str(out), "--variants", json.dumps(variants),
         "--eval-limit", "2", "--max-tokens", "16", "--eval-workers", "2", "--eval-threads", "1"],
        capture_output=True, text=True, timeout=600,
    )


def test_sweep_trains_scores_and_resumes(tiny_model_dir, train_jsonl, eval_jsonl, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(train_jsonl, data / "train.jsonl")
    shutil.copy(eval_jsonl, data / "eval.jsonl")
    common = {"base": str(tiny_model_dir), "max_steps": 2, "eval_examples": 2, "checkpoint_every": 0}
    variants = {"lr_low": {**common, "lr": 1e-5}, "lr_high": {**common, "lr": 1e-2, "seed": 1}}
    done = sweep(data, tmp_path / "out", variants)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["name"] for r in rows) == ["lr_high", "lr_low"]
    assert all(r["steps"] == 2 and r["turns"] > 0 and 0 <= r["exact_match"] <= 1 for r in rows)
    assert "| lr_low | 2 |" in done.stdout and "| lr_high | 2 |" in done.stdout
    # A second call trains and scores nothing again; a new variant is added alone.
    again = sweep(data, tmp_path / "out", {**variants, "r4": {**common, "lora_r": 4}})
    assert again.returncode == 0, again.stderr[-2000:]
    assert "trained lr_low" not in again.stdout and "scored lr_low" not in again.stdout
    assert "trained r4" in again.stdout and "scored r4" in again.stdout
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 3


def test_bad_variants_stop_with_one_line(tmp_path):
    done = sweep(tmp_path, tmp_path / "out", {"a": 1})
    assert done.returncode == 1 and done.stderr.strip() == "--variants: expected {name: {override: value}}"
