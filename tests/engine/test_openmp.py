import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, torch
    from tooltune.engine.openmp import release_thread_team
    torch.set_num_threads(2)
    x = torch.randn(1 << 20)
    (x + 1).sum()  # a parallel region: this thread's OpenMP team now has a worker
    before = len(os.listdir("/proc/self/task"))
    ok = release_thread_team()
    after = len(os.listdir("/proc/self/task"))
    (x + 1).sum()  # torch still works: the team is rebuilt
    print(ok, before, after, len(os.listdir("/proc/self/task")))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libgomp teams: Linux")
def test_release_lets_the_calling_threads_openmp_workers_exit():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout.split()
    ok, before, after, rebuilt = out[0] == "True", *map(int, out[1:])
    assert ok
    assert after < before, "the idle OpenMP worker thread is still there"
    assert rebuilt > after
