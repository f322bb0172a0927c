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


def main(argv: list[str] | None = None) -> int:
    from side_by_side import parse_args, report, train_side_by_side
    from tooltune.train.data import load_conversations, tokenize
    from tooltune.train.frozen_bf16 import frozen_linears_to_bfloat16
    from train_throughput import default_lora_model

    args = parse_args(__doc__, argv)
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
    report(result, f"added tokens on peft's path: {result['peft_tok_s']} tok/s; on tooltune's: "
                   f"{result['tooltune_tok_s']} tok/s -> {result['ratio']}x; {same}/{result['steps']} identical losses",
           args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
