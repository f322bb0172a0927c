"""Pieces shared by the exporters: output-directory safety and the template copy for llama.cpp."""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class ExportError(ValueError):
    """The model cannot be exported as asked; the message says why."""


@contextmanager
def staged_output(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Write into ``OUT.partial`` and move it to ``OUT`` only when everything succeeded, so a
    failed export never leaves half a model behind nor destroys an existing one."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ExportError(f"{out} exists and is not empty (pass --overwrite to replace it)")
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    tmp.rename(out)


_GENERATION_TAG = re.compile(r"\{%-?\s*(?:end)?generation\s*-?%\}")


def strip_generation_tags(template: str) -> str:
    """Drop ``{% generation %}`` / ``{% endgeneration %}``: a transformers-only extension (it marks
    the assistant tokens for training masks and renders nothing) that llama.cpp's minja and other
    Jinja engines reject. The rendered text is unchanged."""
    return _GENERATION_TAG.sub("", template)
