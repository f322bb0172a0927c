"""The training loop, built on ``accelerate.Accelerator``: runs unchanged on one CPU, one GPU, or
under ``accelerate launch`` (DDP; FSDP on GPUs).

Why not TRL's SFTTrainer: ``bench/train_throughput.py`` measures this loop against it on the same
data. The savings: batches by token budget with right padding and no attention mask (no padding
waste, fast causal attention), the LM head only at assistant positions, the shared tools prefix
computed once per batch, and LoRA checkpoints that hold only the trained tensors."""

from __future__ import annotations

import hashlib
import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from tooltune.core.format import PromptFormat
from tooltune.core.format.tokens import TOOL_CALL_CLOSE
from tooltune.core.replies import sample_replies, save_replies

from .budget import TimeBudget
from .checkpoint import checkpoint_total_steps, last_checkpoint, load_checkpoint, load_loss_state, save_checkpoint
from .config import TrainConfig, save_config
from .data import Example, collate, load_conversations, plan_batches, tokenize


class TrainError(ValueError):
    """A run that cannot start (bad data, missing model, existing output); message is user-facing."""


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    interrupted: bool
    summary: dict
    is_main: bool = True
    """False on the other ranks of a multi-process run (they print nothing)."""


def resolve_precision(precision: str) -> str:
    """A recipe's ``precision`` as the run uses it: "auto" is "bf16" where bfloat16 compute pays on
    this machine's device (``tooltune.core.hardware.bf16_pays``), else "fp32"."""
    if precision != "auto":
        return precision
    import torch

    from tooltune.core.hardware import bf16_pays

    return "bf16" if bf16_pays("cuda" if torch.cuda.is_available() else "cpu") else "fp32"


def _embedding_module_name(model: Any) -> str:
    emb = model.get_input_embeddings()
    for name, module in model.named_modules():
        if module is emb:
            return name.split(".")[-1]
    return "embed_tokens"


def _num_layers(model: Any) -> int:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return int(cfg.num_hidden_layers)


def _linear_names(model: Any) -> list[str]:
    """The Linear layers' short names inside the transformer blocks (what peft's 'all-linear' picks)."""
    from torch import nn

    head = model.get_output_embeddings()
    return sorted({name.split(".")[-1] for name, m in model.named_modules()
                   if isinstance(m, nn.Linear) and m is not head})


def wrap_lora(model: Any, cfg: TrainConfig, new_token_ids: list[int]) -> Any:
    from peft import LoraConfig, get_peft_model

    layers, target = None, cfg.lora_target
    if cfg.lora_top_layers:
        n = _num_layers(model)
        layers = list(range(max(0, n - cfg.lora_top_layers), n))
        if target == "all-linear":  # peft takes a layer subset only with explicit module names
            target = _linear_names(model)
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=target,
        layers_to_transform=layers,
        trainable_token_indices={_embedding_module_name(model): new_token_ids} if new_token_ids else None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _plan(examples: list[Example], cfg: TrainConfig, rank: int, world: int) -> list[list[int]]:
    """This rank's micro-batches for the whole run, in order (deterministic, so a resume skips
    exactly the batches already trained)."""
    first = plan_batches(examples, cfg.batch_tokens, cfg.max_batch_size, cfg.seed, 0, cfg.group_by_prefix)
    per_epoch = len(first) // world
    if cfg.max_steps:
        wanted = cfg.max_steps * cfg.grad_accum
    else:
        wanted = max(1, int(math.ceil(cfg.epochs * per_epoch)))
    out: list[list[int]] = []
    epoch, batches = 0, first
    while len(out) < wanted:
        mine = batches[rank::world][:per_epoch] if per_epoch else batches[:1]
        out.extend(mine)
        epoch += 1
        batches = plan_batches(examples, cfg.batch_tokens, cfg.max_batch_size, cfg.seed, epoch, cfg.group_by_prefix)
    steps = max(1, len(out[:wanted]) // cfg.grad_accum)
    return out[: steps * cfg.grad_accum]


def _rebuilt(make_scheduler: Callable[[int], Any], total: int, done: int) -> Any:
    """A schedule for ``total`` steps, advanced past the ``done`` steps already taken."""
    import warnings

    scheduler = make_scheduler(total)
    with warnings.catch_warnings():  # stepping it without optimizer steps in between is the point here
        warnings.simplefilter("ignore")
        for _ in range(done):
            scheduler.step()
    return scheduler


def _digest(model: Any) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        if p.requires_grad:
            h.update(name.encode())
            h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def _eval_loss(loss_fn: Any, examples: list[Example], pad_id: int, device: Any, batch_tokens: int) -> float:
    import torch

    loss_fn.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in plan_batches(examples, batch_tokens, 64, 0, 0, True):
            ids, mask, _ = collate([examples[i] for i in batch], pad_id)
            lengths = torch.tensor([len(examples[i].ids) for i in batch])
            n = int(mask[:, 1:].sum())
            total += float(loss_fn(ids.to(device), mask.to(device), lengths.to(device))) * n
            count += n
    loss_fn.train()
    return total / max(count, 1)


def plot_loss(metrics_path: Path, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows if "loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [r["loss"] for r in rows if "loss" in r], label="train loss (assistant tokens)")
    evals = [r for r in rows if "eval_loss" in r]
    if evals:
        ax.scatter([r["step"] for r in evals], [r["eval_loss"] for r in evals], color="red", label="eval loss", zorder=3)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def train(
    cfg: TrainConfig,
    data: Path,
    run_dir: Path,
    eval_data: Path | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
    import torch
    from accelerate import Accelerator
    from accelerate.utils import broadcast_object_list, set_seed
    from transformers import get_scheduler

    from tooltune.core.models import ModelNotFound, load_model

    from .data import DataError

    # 1. Everything that can be wrong with the input, before any model is loaded.
    try:
        convs = load_conversations(data, cfg.max_examples)
        eval_convs = load_conversations(eval_data, cfg.eval_examples) if eval_data else []
    except DataError as e:
        raise TrainError(str(e)) from None
    model_dir = run_dir / "model"
    ckpt = last_checkpoint(run_dir) if resume else None
    if not resume and (model_dir.exists() or (run_dir / "checkpoints").exists()):
        raise TrainError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    if resume and ckpt is None:
        raise TrainError(f"{run_dir}: no checkpoint to resume from")

    precision = resolve_precision(cfg.precision)
    from accelerate.state import AcceleratorState

    # Accelerate keeps one precision per process; a second run in it (a sweep, the tests) may differ.
    AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision="bf16" if precision == "bf16" else "no")
    main = accelerator.is_main_process
    set_seed(cfg.seed)
    on_gpu = accelerator.device.type == "cuda"
    try:
        # The tokenizer comes back with the tooltune chat template installed.
        model, tok, fmt = load_model(cfg.base, dtype="bfloat16" if (precision == "bf16" and on_gpu) else "float32",
                                     quantization=cfg.quantization)
    except ModelNotFound as e:
        raise TrainError(str(e)) from None

    from .tokens import add_tool_tokens

    new_ids = add_tool_tokens(model, tok) if cfg.add_tool_tokens else []
    examples, skipped = tokenize(convs, tok, fmt, cfg.max_seq_len)
    eval_examples, _ = tokenize(eval_convs, tok, fmt, cfg.max_seq_len)
    if not examples:
        raise TrainError(f"{data}: every conversation is longer than max_seq_len={cfg.max_seq_len}")
    if skipped and main:
        log(f"skipped {skipped} conversations longer than max_seq_len={cfg.max_seq_len} tokens")

    model.train()
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if cfg.quantization == "nf4":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if cfg.method == "lora":
        model = wrap_lora(model, cfg, new_ids)
        from .trainable_tokens import cheap_trainable_tokens

        cheap_trainable_tokens(model)  # the added tokens' rows without copying the vocabulary per pass
    else:
        for p in model.parameters():
            p.requires_grad_(True)

    if precision == "bf16" and not on_gpu:
        from .frozen_bf16 import frozen_linears_to_bfloat16

        frozen_linears_to_bfloat16(model)

    from .loss import AssistantLoss

    loss_fn = AssistantLoss(model, shared_prefix=cfg.shared_prefix and not cfg.gradient_checkpointing,
                            prefix_reuse=cfg.prefix_reuse)
    params = [p for p in loss_fn.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    plan = _plan(examples, cfg, accelerator.process_index, accelerator.num_processes)
    planned_steps = total_steps = len(plan) // cfg.grad_accum
    saved_total = checkpoint_total_steps(ckpt) if ckpt is not None else None
    if saved_total:  # a time budget cut the run: resume to the same end
        total_steps = min(total_steps, int(saved_total))

    def make_scheduler(total: int) -> Any:
        return get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=int(cfg.warmup_ratio * total),
                             num_training_steps=total)

    scheduler = make_scheduler(total_steps)
    loss_fn, optimizer = accelerator.prepare(loss_fn, optimizer)  # the scheduler steps once per optimizer step
    unwrapped = accelerator.unwrap_model(loss_fn).model

    start = 0
    if ckpt is not None:
        start = load_checkpoint(ckpt, unwrapped, optimizer, scheduler)
        accelerator.unwrap_model(loss_fn).load_carried_state(load_loss_state(ckpt))
        if main:
            log(f"resuming from {ckpt} (step {start} of {total_steps})")
    run_dir.mkdir(parents=True, exist_ok=True)
    if main:
        save_config(cfg, run_dir / "train_config.yaml")
        log(
            f"{len(examples)} conversations, {sum(len(e.ids) for e in examples)} tokens; {total_steps} steps; "
            f"{cfg.method} on {cfg.base}: {n_trainable:,} trainable parameters"
            + (f"; added tokens {[tok.convert_ids_to_tokens(i) for i in new_ids]}" if new_ids else "")
        )

    stop = {"flag": False}

    def on_sigint(signum: int, frame: Any) -> None:
        if stop["flag"]:
            raise KeyboardInterrupt
        stop["flag"] = True

    previous_handler = signal.signal(signal.SIGINT, on_sigint)
    metrics_path = run_dir / "metrics.jsonl"
    pad_id = tok.pad_token_id
    close = tok.encode(TOOL_CALL_CLOSE, add_special_tokens=False)
    close_id = close[-1] if close else None  # the call's last token: what follows it decides
    device = accelerator.device
    t0 = time.perf_counter()
    tokens_done = 0
    step = start
    budget = None
    if cfg.max_minutes and total_steps == planned_steps:
        step_tokens = [sum(max(len(examples[i].ids) for i in micro) * len(micro)
                           for micro in plan[k * cfg.grad_accum:(k + 1) * cfg.grad_accum]) for k in range(total_steps)]
        budget = TimeBudget(cfg.max_minutes * 60, step_tokens, start)
    stopped_by_budget = False

    def checkpoint(at: int) -> Path:
        return save_checkpoint(run_dir, at, unwrapped, optimizer, scheduler, cfg.keep_checkpoints,
                               accelerator.unwrap_model(loss_fn).carried_state(),
                               total_steps if total_steps != planned_steps else None)

    from tqdm import tqdm

    bar = tqdm(total=total_steps, initial=start, disable=not main, unit="step", dynamic_ncols=True)
    try:
        with metrics_path.open("a") as metrics:
            while step < total_steps and not stop["flag"]:
                ts = time.perf_counter()
                loss_sum, step_tokens = 0.0, 0
                for micro in range(cfg.grad_accum):
                    batch = [examples[i] for i in plan[step * cfg.grad_accum + micro]]
                    ids, mask, n_tok = collate(batch, pad_id, cfg.decision_weight, close_id)
                    lengths = torch.tensor([len(e.ids) for e in batch])
                    with accelerator.autocast():
                        loss = loss_fn(ids.to(device), mask.to(device), lengths.to(device)) / cfg.grad_accum
                    accelerator.backward(loss)
                    loss_sum += float(loss.detach())
                    step_tokens += n_tok * accelerator.num_processes
                if cfg.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                tokens_done += step_tokens
                elapsed = time.perf_counter() - t0
                tps = tokens_done / elapsed
                bar.set_postfix(loss=f"{loss_sum:.4f}", tok_s=f"{tps:.0f}")
                bar.update(1)
                if main and (step % cfg.log_every == 0 or step == total_steps):
                    row = {"step": step, "loss": round(loss_sum, 6), "lr": scheduler.get_last_lr()[0],
                           "tokens_per_s": round(step_tokens / (time.perf_counter() - ts), 1),
                           "elapsed_s": round(elapsed, 2)}
                    metrics.write(json.dumps(row) + "\n")
                    metrics.flush()
                if budget is not None:
                    # Every rank takes the main process's decision, so all stop at the same step.
                    new_total = budget.observe(step, elapsed)
                    over = budget.exceeded(elapsed) and step < total_steps
                    new_total, over = broadcast_object_list([new_total, over])
                    if new_total is not None:
                        total_steps = new_total
                        scheduler = _rebuilt(make_scheduler, total_steps, step)
                        bar.total = total_steps
                        if main:
                            log(f"time budget {cfg.max_minutes:g} min: {total_steps} of {planned_steps} steps fit")
                    if over:
                        stopped_by_budget = True
                        if main:
                            log(f"time budget {cfg.max_minutes:g} min spent at step {step} of {total_steps}: stopped "
                                "before the end of the learning-rate schedule")
                        total_steps = step
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total_steps:
                    if main:
                        checkpoint(step)
                    accelerator.wait_for_everyone()
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous_handler)

    if stop["flag"]:
        if main:
            path = checkpoint(step)
            log(f"interrupted at step {step}/{total_steps}: checkpoint saved to {path}; continue with --resume")
        accelerator.wait_for_everyone()
        return TrainResult(run_dir, step, True, {}, main)

    train_s = time.perf_counter() - t0
    digests = accelerator.gather_for_metrics([_digest(unwrapped)], use_gather_object=True)
    summary: dict[str, Any] = {
        "steps": total_steps, "planned_steps": planned_steps, "stopped_by_time_budget": stopped_by_budget,
        "resumed_from": start, "examples": len(examples), "train_seconds": round(train_s, 1),
        "tokens_per_s": round(tokens_done / train_s, 1) if train_s else None, "trainable_parameters": n_trainable,
        "processes": accelerator.num_processes, "precision": precision, "replica_digests": digests,
        "added_tokens": [tok.convert_ids_to_tokens(i) for i in new_ids],
    }
    if len(set(digests)) > 1:
        raise RuntimeError(f"replicas diverged: weight digests {digests}")
    if eval_examples and main:
        summary["eval_loss"] = round(_eval_loss(accelerator.unwrap_model(loss_fn), eval_examples, pad_id, device, cfg.batch_tokens), 5)
        with metrics_path.open("a") as metrics:
            metrics.write(json.dumps({"step": total_steps, "eval_loss": summary["eval_loss"]}) + "\n")
    if main:
        save_model(unwrapped, tok, fmt, cfg, model_dir, replies=sample_replies(convs))
        plot_loss(metrics_path, run_dir / "loss.png")
        (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    accelerator.wait_for_everyone()
    return TrainResult(run_dir, total_steps, False, summary, main)


def save_model(model: Any, tok: Any, fmt: PromptFormat, cfg: TrainConfig, model_dir: Path,
               replies: list[str] | None = None) -> None:
    """The run-dir contract (see ``tooltune.core.models``): weights or adapter, tokenizer with the
    chat template, prompt_format.yaml, train_config.yaml (+ tooltune_base.yaml for adapters), and
    a sample of the training data's replies (``tooltune.core.replies``: serving seeds its drafts)."""
    from tooltune.core.models import BASE_FILE

    tmp = model_dir.with_name(model_dir.name + ".tmp")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if cfg.method == "lora":
        # Leave the resized embedding and head out: peft would store both whole, as the base has
        # them (the demo's adapter: 253 MB, 37 MB without). Loading resizes the base again and the
        # added tokens' rows come from the adapter's trainable-token rows: the same weights.
        model.save_pretrained(tmp, save_embedding_layers=False)
    else:
        model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    fmt.save(tmp)
    save_config(cfg, tmp / "train_config.yaml")
    if replies:
        save_replies(tmp, replies)
    if cfg.method == "lora":
        (tmp / BASE_FILE).write_text(yaml.safe_dump({"base": cfg.base}))
    shutil.rmtree(model_dir, ignore_errors=True)
    tmp.rename(model_dir)
