"""Training steps with the added tokens' rows on tooltune's path (``tooltune.train.trainable_tokens``)
against peft's own trainable tokens (the whole vocabulary matrix copied with the rows written in,
on every pass), side by side in one process: tokens/s as a ratio, and the losses step by step
(they must be identical).

Both sides are the default recipe's LoRA model as ``tooltune train`` sets it up on a CPU with fast
bfloat16 products (frozen weights stored in bfloat16, bfloat16 autocast), from the same weights,
on the same batches (``side_by_side.py``).

    python bench/trainable_tokens.py --data runs/demo/data/train.jsonl [--rounds 4] [--steps 6]
"""

from __future__ import annotations

import argparse
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

    cfg, peft_path, tok, fmt = default_lora_model(args.base, cheap_tokens=False)
    _, ours, _, _ = default_lora_model(args.base)
    for m in (peft_path, ours):
        frozen_linears_to_bfloat16(m)
    examples, _ = tokenize(load_conversations(args.data), tok, fmt, cfg.max_seq_len)
    tps, losses = train_side_by_side({"peft": peft_path, "tooltune": ours}, cfg, tok, examples, args.rounds,
                                     args.steps)
    same = sum(a == b for a, b in zip(losses["peft"], losses["tooltune"]))
    result = {"peft_tok_s": round(tps["peft"], 1), "tooltune_tok_s": round(tps["tooltune"], 1),
              "ratio": round(tps["tooltune"] / tps["peft"], 3), "identical_losses": same,
              "steps": len(losses["tooltune"])}
    print(f"added tokens on peft's path: {result['peft_tok_s']} tok/s; on tooltune's: "
          f"{result['tooltune_tok_s']} tok/s -> {result['ratio']}x; {same}/{result['steps']} identical losses")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
