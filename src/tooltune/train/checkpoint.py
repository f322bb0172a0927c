"""Resumable checkpoints: trainable weights, optimizer, scheduler, RNG states, step.

Only trainable tensors are stored (a LoRA checkpoint is megabytes, not the whole base model)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "trainer_state.json"


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def last_checkpoint(run_dir: Path) -> Path | None:
    done = [p for p in checkpoints_dir(run_dir).glob("step-*") if (p / STATE_FILE).is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1])) if done else None


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


LOSS_STATE = "loss_state.pt"


def save_checkpoint(run_dir: Path, step: int, model: Any, optimizer: Any, scheduler: Any, keep: int,
                    loss_state: Any = None, total_steps: int | None = None) -> Path:
    """Written to a temporary name and renamed, so a crash never leaves a half checkpoint.
    ``loss_state``: what the loss module carries between steps (a reused prefix KV), if anything.
    ``total_steps``: the run's length (a time budget may have cut it), kept so a resume ends alike."""
    target = checkpoints_dir(run_dir) / f"step-{step}"
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(trainable_state(model), tmp / "trainable.pt")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, tmp / "rng.pt")
    if loss_state is not None:
        torch.save(loss_state, tmp / LOSS_STATE)
    (tmp / STATE_FILE).write_text(json.dumps({"step": step, "total_steps": total_steps}))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    if keep > 0:
        old = sorted(checkpoints_dir(run_dir).glob("step-*"), key=lambda p: int(p.name.split("-")[1].split(".")[0]))
        for p in old[:-keep]:
            shutil.rmtree(p, ignore_errors=True)
    return target


def load_loss_state(path: Path) -> Any:
    """The loss module's state saved with the checkpoint, or None."""
    f = path / LOSS_STATE
    return torch.load(f, map_location="cpu", weights_only=False) if f.is_file() else None


def checkpoint_total_steps(path: Path) -> int | None:
    """The run length saved with the checkpoint (None in checkpoints from before it was saved)."""
    return json.loads((path / STATE_FILE).read_text()).get("total_steps")


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> int:
    """Restore everything saved by ``save_checkpoint`` but the loss state (``load_loss_state``);
    returns the step to continue from."""
    weights = torch.load(path / "trainable.pt", map_location="cpu")
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise ValueError(f"{path}: checkpoint does not match the model (e.g. {missing[0]})")
    with torch.no_grad():
        for n, t in weights.items():
            params[n].copy_(t)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu"))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt"))
    rng = torch.load(path / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    return int(json.loads((path / STATE_FILE).read_text())["step"])
