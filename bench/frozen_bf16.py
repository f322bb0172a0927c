"""Training steps with the frozen base's Linear weights stored in bfloat16
(``tooltune.train.frozen_bf16``) against the same weights cast by autocast on every pass, side by
side in one process: tokens/s as a ratio, and the losses step by step (they must be identical).

Two copies of the default recipe's LoRA model start from the same weights and train on the same
batches with their own AdamW, under bfloat16 autocast as ``tooltune train`` runs on a CPU with
fast bfloat16 products. Rounds alternate which side goes first; the first round is a warm-up.

    python bench/frozen_bf16.py --data runs/demo/data/train.jsonl [--rounds 4] [--steps 6]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="smollm2-135m", help="embedded model name or model directory")
    ap.add_argument("--data", type=Path, required=True, help="training JSONL")
    ap.add_argument("--rounds", type=int, default=4, help="rounds after the warm-up one")
    ap.add_argument("--steps", type=int, default=6, help="steps per side and round")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    import torch

    from tooltune.train.data import collate, load_conversations, plan_batches, tokenize
    from tooltune.train.frozen_bf16 import frozen_linears_to_bfloat16
    from tooltune.train.loss import AssistantLoss
    from train_throughput import default_lora_model

    cfg, model, tok, fmt = default_lora_model(args.base)
    stored = copy.deepcopy(model)
    converted = frozen_linears_to_bfloat16(stored)
    sides = {}
    for name, m in (("autocast", model), ("stored", stored)):
        loss_fn = AssistantLoss(m, cfg.shared_prefix).train()
        sides[name] = (loss_fn, torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=cfg.lr))
    examples, _ = tokenize(load_conversations(args.data), tok, fmt, cfg.max_seq_len)
    plan = plan_batches(examples, cfg.batch_tokens, cfg.max_batch_size, cfg.seed, 0, cfg.group_by_prefix)
    totals = {name: [0.0, 0] for name in sides}
    losses: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(args.rounds + 1):
        first = r * args.steps
        for name in (("autocast", "stored") if r % 2 == 0 else ("stored", "autocast")):
            loss_fn, opt = sides[name]
            for k in range(first, first + args.steps):
                batch = [examples[i] for i in plan[k % len(plan)]]
                ids, mask, n = collate(batch, tok.pad_token_id)
                t = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = loss_fn(ids, mask, torch.tensor([len(e.ids) for e in batch]))
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                if r:
                    totals[name][0] += time.perf_counter() - t
                    totals[name][1] += n
                losses[name].append(float(loss.detach()))
    tps = {name: n / s for name, (s, n) in totals.items()}
    same = sum(a == b for a, b in zip(losses["autocast"], losses["stored"]))
    result = {"converted_weights": converted, "autocast_tok_s": round(tps["autocast"], 1),
              "stored_tok_s": round(tps["stored"], 1), "ratio": round(tps["stored"] / tps["autocast"], 3),
              "identical_losses": same, "steps": len(losses["stored"])}
    print(f"frozen weights cast by autocast: {result['autocast_tok_s']} tok/s; stored in bfloat16 "
          f"({converted:,} weights): {result['stored_tok_s']} tok/s -> {result['ratio']}x; "
          f"{same}/{result['steps']} identical losses")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
