"""Training tokens/s: tooltune's default setup vs plain TRL SFTTrainer (default settings) on the
same conversations and base model, interleaved round by round to spread machine noise.

    python bench/train_throughput.py [--base smollm2-135m] [--data train.jsonl] [--rounds 3] [--per-round 16]

Ours runs the default recipe as ``tooltune train`` would here, its precision included (``auto``:
bfloat16 autocast where bfloat16 products pay). Tokens/s counts the conversations' real tokens
(no padding) divided by the wall time of the training steps over them, so both sides are charged
for the same work. TRL gets the same LoRA adapter config and the same rendered text; everything
else is SFTConfig's default on a CPU (use_cpu=True is required there)."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def ours_round(state, convs) -> float:
    import torch

    from tooltune.train.data import collate, plan_batches, tokenize

    cfg, loss_fn, opt, tok, fmt, precision = state
    examples, _ = tokenize(convs, tok, fmt, cfg.max_seq_len)
    t = time.perf_counter()
    for b in plan_batches(examples, cfg.batch_tokens, cfg.max_batch_size, cfg.seed, 0, cfg.group_by_prefix):
        batch = [examples[i] for i in b]
        ids, mask, _ = collate(batch, tok.pad_token_id)
        # The trainer's autocast (accelerate's mixed precision), as the default recipe runs here.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = loss_fn(ids, mask, torch.tensor([len(e.ids) for e in batch]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in loss_fn.parameters() if p.requires_grad], cfg.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t


def default_lora_model(base: str, cheap_tokens: bool = True):
    """The default recipe's LoRA model on ``base``, as ``tooltune train`` builds it before its
    precision is applied: (config, model, tokenizer, prompt format). Seeded, so two calls agree.
    ``cheap_tokens=False`` leaves the added tokens' rows on peft's own path."""
    import torch

    from tooltune.core.models import load_model
    from tooltune.train.config import make_config
    from tooltune.train.tokens import add_tool_tokens
    from tooltune.train.trainable_tokens import cheap_trainable_tokens
    from tooltune.train.trainer import wrap_lora

    cfg = make_config(None, {"base": base})
    torch.manual_seed(0)
    model, tok, fmt = load_model(base)
    new_ids = add_tool_tokens(model, tok) if cfg.add_tool_tokens else []
    model.train()
    model = wrap_lora(model, cfg, new_ids)
    if cheap_tokens:
        cheap_trainable_tokens(model)
    return cfg, model, tok, fmt


def make_ours(base: str):
    import torch

    from tooltune.train.frozen_bf16 import frozen_linears_to_bfloat16
    from tooltune.train.loss import AssistantLoss
    from tooltune.train.trainer import resolve_precision

    cfg, model, tok, fmt = default_lora_model(base)
    precision = resolve_precision(cfg.precision)
    if precision == "bf16":  # as the trainer does on a CPU
        frozen_linears_to_bfloat16(model)
    loss_fn = AssistantLoss(model, cfg.shared_prefix, prefix_reuse=cfg.prefix_reuse).train()
    opt = torch.optim.AdamW([p for p in loss_fn.parameters() if p.requires_grad], lr=cfg.lr)
    return cfg, loss_fn, opt, tok, fmt, precision


def trl_round(base: str, convs, workdir: str, lora_cfg: dict) -> float:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from tooltune.core.models import load_model

    model, tok, _ = load_model(base)
    model.train()
    from tooltune.core.format import PromptFormat, render

    # Pre-rendered text (TRL's language-modeling rows): the same tokens as ours. Conversational rows
    # would go through Arrow, which unifies every tool's schema keys and so changes the rendering.
    rows = [{"text": render(c.messages, c.tools, PromptFormat()).text} for c in convs]
    args = SFTConfig(output_dir=workdir, use_cpu=True, report_to=[], save_strategy="no", num_train_epochs=1,
                     disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=LoraConfig(task_type="CAUSAL_LM", **lora_cfg))
    t = time.perf_counter()
    trainer.train()
    return time.perf_counter() - t


def main() -> None:
    from tooltune.core.format import PromptFormat, render
    from tooltune.core.models import load_model
    from tooltune.train.data import load_conversations

    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="smollm2-135m")
    ap.add_argument("--data", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-round", type=int, default=16, help="conversations per round (each side)")
    args = ap.parse_args()

    convs = load_conversations(Path(args.data), args.rounds * args.per_round)
    _, tok, _ = load_model(args.base)
    ours = make_ours(args.base)
    cfg = ours[0]
    lora_cfg = dict(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=cfg.lora_target)
    tot = {"tooltune": [0.0, 0], "trl": [0.0, 0]}
    with tempfile.TemporaryDirectory() as work:
        for r in range(args.rounds):
            chunk = convs[r * args.per_round:(r + 1) * args.per_round]
            n_tok = sum(len(tok(render(c.messages, c.tools, PromptFormat()).text, add_special_tokens=False)["input_ids"]) for c in chunk)
            order = ["trl", "tooltune"] if r % 2 == 0 else ["tooltune", "trl"]
            for side in order:
                dt = ours_round(ours, chunk) if side == "tooltune" else trl_round(args.base, chunk, work, lora_cfg)
                tot[side][0] += dt
                tot[side][1] += n_tok
                print(f"round {r + 1} {side:8s} {n_tok} tokens in {dt:6.1f} s = {n_tok / dt:7.1f} tok/s", flush=True)
    ours_tps = tot["tooltune"][1] / tot["tooltune"][0]
    trl_tps = tot["trl"][1] / tot["trl"][0]
    print(json.dumps({"tooltune_tok_s": round(ours_tps, 1), "tooltune_precision": ours[-1],
                      "trl_default_tok_s": round(trl_tps, 1), "ratio": round(ours_tps / trl_tps, 2)}))
    print(f"tooltune ({ours[-1]}) {ours_tps:.1f} tok/s vs TRL SFTTrainer defaults {trl_tps:.1f} tok/s: "
          f"{ours_tps / trl_tps:.2f}x")


if __name__ == "__main__":
    main()
