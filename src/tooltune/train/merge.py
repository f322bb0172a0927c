"""``tooltune merge``: base + adapter -> one safetensors model that plain transformers loads."""

from __future__ import annotations

import shutil
from pathlib import Path


def merge(run_dir: Path, out_dir: Path) -> Path:
    from tooltune.core.models import load_model, resolve
    from tooltune.core.replies import copy_replies

    resolved = resolve(run_dir)
    model, tok, fmt = load_model(run_dir, dtype="float32", merge_adapter=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    fmt.save(out_dir)
    src = resolved.fmt_dir
    if src is not None and (src / "train_config.yaml").is_file():
        shutil.copy(src / "train_config.yaml", out_dir / "train_config.yaml")
    copy_replies(src, out_dir)
    return out_dir
