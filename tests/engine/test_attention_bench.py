import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "attention.py"


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_prints_both_attentions_per_width(tiny_model_dir):
    done = bench("--model", str(tiny_model_dir), "--context", "20", "--widths", "1,3", "--repeats", "2", "--threads", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.split("ratio")[1].splitlines() if line.strip()]
    assert [r[0] for r in rows] == ["1", "3"]
    assert all(len(r) == 4 and all(float(v) > 0 for v in r[1:]) for r in rows)


def test_bad_widths_stop_with_a_message():
    done = bench("--widths", "four")
    assert done.returncode == 2 and "--widths: expected integers" in done.stderr
