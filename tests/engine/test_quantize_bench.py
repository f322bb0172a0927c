import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "quantize.py"


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_prints_a_row_per_width_on_both_sides_of_the_kernel_switch(tiny_model_dir):
    done = bench("--model", str(tiny_model_dir), "--widths", "1,9", "--repeats", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout.split("w8a8/f32")[1]
    rows = [line.split() for line in table.splitlines() if line.strip()]
    assert [r[0] for r in rows] == ["1", "9"]
    assert all(len(r) == 8 and all(float(v) > 0 for v in r[1:]) for r in rows)


def test_bad_widths_stop_with_a_message():
    done = bench("--widths", "one,two")
    assert done.returncode == 2 and "--widths: expected integers" in done.stderr
