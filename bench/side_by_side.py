"""Two training setups stepped side by side in one process on the same batches: tokens/s each and
the losses step by step. The setups start from the same weights, each with its own AdamW, under
bfloat16 autocast as ``tooltune train`` runs on a CPU with fast bfloat16 products. Rounds
alternate which side goes first, and the first round is a warm-up (not timed)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def parse_args(doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    """The options every side-by-side training bench takes."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="smollm2-135m", help="embedded model name or model directory")
    ap.add_argument("--data", type=Path, required=True, help="training JSONL")
    ap.add_argument("--rounds", type=int, default=4, help="rounds after the warm-up one")
    ap.add_argument("--steps", type=int, default=6, help="steps per side and round")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    return ap.parse_args(argv)


def report(result: dict[str, Any], line: str, path: Path | None) -> None:
    """Print the bench's one line; write its numbers as JSON where asked."""
    print(line)
    if path:
        path.write_text(json.dumps(result, indent=1))


def train_side_by_side(models: dict[str, Any], cfg: Any, tok: Any, examples: list[Any], rounds: int,
                       steps: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Train each of ``models`` (name -> peft model) for ``rounds`` timed rounds of ``steps`` steps
    after one warm-up round; returns (tokens/s by name, every step's loss by name)."""
    import torch

    from tooltune.train.data import collate, plan_batches
    from tooltune.train.loss import AssistantLoss

    sides = {}
    for name, m in models.items():
        loss_fn = AssistantLoss(m, cfg.shared_prefix).train()
        sides[name] = (loss_fn, torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=cfg.lr))
    plan = plan_batches(examples, cfg.batch_tokens, cfg.max_batch_size, cfg.seed, 0, cfg.group_by_prefix)
    names = list(sides)
    totals = {name: [0.0, 0] for name in names}
    losses: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds + 1):
        first = r * steps
        for name in (names if r % 2 == 0 else names[::-1]):
            loss_fn, opt = sides[name]
            for k in range(first, first + steps):
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
    return {name: n / s for name, (s, n) in totals.items()}, losses
