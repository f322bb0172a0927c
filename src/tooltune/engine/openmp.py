"""Free the calling thread's OpenMP worker threads, so the engine's own thread runs at full speed.

PyTorch's CPU kernels run on the OpenMP team of whichever thread calls them, and libgomp keeps a
team's workers alive between parallel regions. When the workers of all teams outnumber the cores,
libgomp stops spinning between regions and puts them to sleep on a futex, so every small kernel
pays a wake-up. The engine decodes in its own thread: once the thread that loaded the model (or
trained it, or evaluated the base) had run torch, a decode pass took twice as long here (68 ms
against 33 ms for one token, 2 cores). Releasing that thread's team (OpenMP 5's
``omp_pause_resource_all``) restores the single-team speed; libgomp rebuilds it if the thread runs
torch again, which is why the engine calls this before every request it accepts from a thread.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

OMP_PAUSE_SOFT = 1

_seen: dict[str, ctypes._CFuncPtr | None] = {}
_scanned_with = -1  # len(sys.modules) at the last look at the loaded libraries


def _pause_functions() -> list[ctypes._CFuncPtr]:
    """``omp_pause_resource_all`` of every libgomp this process loaded: PyTorch ships one, and
    other wheels (sentencepiece, ...) bring their own copies, each with its own teams. A libgomp
    arrives with an extension module's import, so the loaded libraries are looked at again only
    after new imports (the engine calls this per request)."""
    global _scanned_with
    if len(sys.modules) == _scanned_with:
        return [fn for fn in _seen.values() if fn is not None]
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:  # not Linux: other OpenMP runtimes do not throttle this way
        return []
    _scanned_with = len(sys.modules)
    for path in {line.split()[-1] for line in maps if "libgomp" in line.rsplit("/", 1)[-1]}:
        if path not in _seen:
            try:
                fn = ctypes.CDLL(path).omp_pause_resource_all
                fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            except (OSError, AttributeError):
                fn = None
            _seen[path] = fn
    return [fn for fn in _seen.values() if fn is not None]


def release_thread_team() -> bool:
    """Let the calling thread's idle OpenMP workers exit (in every libgomp loaded). True when at
    least one libgomp took the request. Call it between torch calls, never inside one."""
    return sum(fn(OMP_PAUSE_SOFT) == 0 for fn in _pause_functions()) > 0
