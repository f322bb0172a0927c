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
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="smollm2-135m", help="embedded model name or model directory")
    ap.add_argument("--data", type=Path, required=True, help="training JSONL")
    ap.add_argument("--rounds", type=int, default=4, help="rounds after the warm-up one")
    ap.add_argument("--steps", type=int, default=6, help="steps per side and round")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    from side_by_side import train_side_by_side
    from tooltune.train.data import load_conversations, tokenize
    from tooltune.train.frozen_bf16 import frozen_linears_to_bfloat16
    from train_throughput import default_lora_model

    cfg, model, tok, fmt = default_lora_model(args.base)
    stored = copy.deepcopy(model)
    converted = frozen_linears_to_bfloat16(stored)
    examples, _ = tokenize(load_conversations(args.data), tok, fmt, cfg.max_seq_len)
    tps, losses = train_side_by_side({"autocast": model, "stored": stored}, cfg, tok, examples, args.rounds,
                                     args.steps)
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
