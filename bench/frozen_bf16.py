"""Training steps with the frozen base's Linear weights stored in bfloat16
(``tooltune.train.frozen_bf16``) against the same weights cast by autocast on every pass, side by
side in one process: tokens/s as a ratio, and the losses step by step (they must be identical).

Two copies of the default recipe's LoRA model start from the same weights and train on the same
batches with their own AdamW, under bfloat16 autocast as ``tooltune train`` runs on a CPU with
fast bfloat16 products. Rounds alternate which side goes first; the first round is a warm-up.

    python bench/frozen_bf16.py --data runs/demo/data/train.jsonl [--rounds 4] [--steps 6]
"""

from __future__ import annotations

import copy


def main(argv: list[str] | None = None) -> int:
    from side_by_side import parse_args, report, train_side_by_side
    from tooltune.train.data import load_conversations, tokenize
    from tooltune.train.frozen_bf16 import frozen_linears_to_bfloat16
    from train_throughput import default_lora_model

    args = parse_args(__doc__, argv)
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
    report(result, f"frozen weights cast by autocast: {result['autocast_tok_s']} tok/s; stored in bfloat16 "
                   f"({converted:,} weights): {result['stored_tok_s']} tok/s -> {result['ratio']}x; "
                   f"{same}/{result['steps']} identical losses", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
