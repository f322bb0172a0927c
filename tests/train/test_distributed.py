"""`tooltune train` under `accelerate launch` (2 CPU processes, gloo): both replicas must end
with identical weights although each rank trained on its own batches.

`accelerate launch --cpu --num_processes 2` starts several CPU processes only through mpirun; the
torchrun launcher (`--multi_gpu`) with ACCELERATE_USE_CPU=1 runs the same DDP on CPU with gloo."""

import json
import os
import shutil
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("length", [["--max-steps", "3"], ["--max-steps", "300", "--max-minutes", "0.02"]],
                         ids=["steps", "time-budget"])
def test_two_process_cpu_run_keeps_replicas_in_sync(tiny_model_dir, train_jsonl, tmp_path, length):
    """With a time budget the ranks take the main process's cut, so they stop together."""
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    assert accelerate, "accelerate CLI not installed"
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"}
    proc = subprocess.run(
        [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "-m", "tooltune.cli", "train", "--data", str(train_jsonl), "--out", str(run),
         "--base", str(tiny_model_dir), "--batch-tokens", "2048", *length],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["processes"] == 2
    if "--max-minutes" in length:
        assert summary["planned_steps"] == 300 and summary["steps"] < 300
    digests = summary["replica_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert (run / "model" / "adapter_config.json").is_file()
