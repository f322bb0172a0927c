import json
import os
import signal
import subprocess
import sys
import time

from tooltune.train.checkpoint import last_checkpoint


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tiny_model_dir, train_jsonl, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "tooltune.cli", "train", "--data", str(train_jsonl), "--out", str(run),
           "--base", str(tiny_model_dir), "--max-steps", "400", "--batch-tokens", "1024"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err[-2000:]
    assert "checkpoint saved" in err and "Traceback" not in err
    ck = last_checkpoint(run)
    assert ck is not None
    stopped = int(ck.name.split("-")[1])
    assert 2 <= stopped < 400 and not (run / "model").exists()

    done = subprocess.run(cmd[:-4] + ["--max-steps", str(stopped + 2), "--batch-tokens", "1024", "--resume"],
                          capture_output=True, text=True, timeout=240)
    # Resume with a short budget so the test stays quick: steps carry on right after the saved one.
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines() if '"loss"' in x]
    assert steps[-1] == stopped + 2 and (run / "model" / "adapter_config.json").is_file()
