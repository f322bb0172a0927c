"""``tooltune train`` and ``tooltune merge``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code=code)


def train(
    data: Path = typer.Option(..., "--data", help="Training conversations (JSONL, one per line)."),
    out: Path = typer.Option(..., "--out", help="Run directory: model/, checkpoints/, metrics.jsonl, loss.png."),
    eval_data: Optional[Path] = typer.Option(None, "--eval-data", help="Held-out conversations for the eval loss."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="Shipped recipe name or a YAML file (default: smollm2-135m-lora)."),
    base: Optional[str] = typer.Option(None, "--base", help="Base model: smollm2-135m, gemma3-270m, ORG/NAME or a path."),
    method: Optional[str] = typer.Option(None, "--method", help="lora or full."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Passes over the data."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after N optimizer steps."),
    max_minutes: Optional[float] = typer.Option(
        None, "--max-minutes", help="Train as many steps as fit in N minutes (the schedule ends there); 0: no budget."),
    max_examples: Optional[int] = typer.Option(None, "--max-examples", help="Use only the first N conversations."),
    batch_tokens: Optional[int] = typer.Option(None, "--batch-tokens", help="Token budget per micro-batch."),
    lora_r: Optional[int] = typer.Option(None, "--lora-r", help="LoRA rank."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Checkpoint every N steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in --out."),
) -> None:
    """Fine-tune a model for tool calling (loss on the assistant's turns only)."""
    from .config import RecipeError, make_config

    overrides = dict(base=base, method=method, epochs=epochs, lr=lr, max_steps=max_steps, max_minutes=max_minutes,
                     max_examples=max_examples,
                     batch_tokens=batch_tokens, lora_r=lora_r, seed=seed, checkpoint_every=checkpoint_every)
    saved = out / "train_config.yaml"
    if resume and recipe is None and saved.is_file():
        recipe = str(saved)  # a resumed run keeps its own settings (flags still override)
    try:
        cfg = make_config(recipe, overrides)
    except RecipeError as e:
        fail(str(e))
    from .trainer import TrainError, train as run

    try:
        result = run(cfg, data, out, eval_data=eval_data, resume=resume, log=lambda m: err_console.print(m, markup=False, highlight=False))
    except TrainError as e:
        fail(str(e))
    if result.interrupted:
        raise typer.Exit(code=130)
    s = result.summary
    if s and result.is_main:
        extra = f", eval loss {s['eval_loss']}" if "eval_loss" in s else ""
        print(f"trained {s['steps']} steps in {s['train_seconds']} s ({s['tokens_per_s']} tokens/s{extra}); model: {out / 'model'}")


def merge(
    run_dir: Path = typer.Argument(..., help="A run directory (or its model/ folder)."),
    out_dir: Path = typer.Argument(..., help="Where to write the merged model."),
) -> None:
    """Merge a LoRA run into one safetensors model (loadable by AutoModelForCausalLM.from_pretrained)."""
    from tooltune.core.models import ModelNotFound

    from .merge import merge as run

    if out_dir.exists() and any(out_dir.iterdir()):
        fail(f"{out_dir} is not empty")
    try:
        run(run_dir, out_dir)
    except ModelNotFound as e:
        fail(str(e))
    print(f"merged model: {out_dir}")
