"""Greedy-decode accuracy of a model on the assistant turns of an eval JSONL (until the eval
harness is used instead): exact tool-call match (names + arguments, order-free; a text answer must
make no call) and valid JSON (every <tool_call> block the model wrote parses).

    python bench/quick_accuracy.py RUN_DIR --data eval.jsonl --turns 150
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path


def call_key(call) -> tuple[str, str]:
    return call.function.name, json.dumps(json.loads(call.function.arguments or "{}"), sort_keys=True)


def main() -> None:
    import torch

    from tooltune.core.format import parse_output, render_prompt
    from tooltune.core.models import load_model
    from tooltune.core.types import Conversation

    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--turns", type=int, default=150)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show-errors", type=int, default=5)
    args = ap.parse_args()

    turns = []
    for line in Path(args.data).read_text().splitlines():
        conv = Conversation.model_validate_json(line)
        for i, m in enumerate(conv.messages):
            if m.role == "assistant":
                turns.append((conv.messages[:i], conv.tools, m, conv.meta))
    random.Random(args.seed).shuffle(turns)
    turns = turns[: args.turns]

    model, tok, fmt = load_model(args.model)
    tok.padding_side = "left"
    t0 = time.perf_counter()
    exact = json_ok = with_blocks = 0
    by_kind: Counter = Counter()
    by_kind_ok: Counter = Counter()
    shown = 0
    for b in range(0, len(turns), args.batch):
        chunk = turns[b : b + args.batch]
        prompts = [render_prompt(msgs, tools, fmt) for msgs, tools, _, _ in chunk]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=args.max_new_tokens, do_sample=False,
                                 eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id)
        for (msgs, tools, want, meta), seq in zip(chunk, out[:, enc["input_ids"].shape[1]:]):
            text = tok.decode(seq, skip_special_tokens=False)
            res = parse_output(text)
            got = Counter(call_key(c) for c in res.tool_calls)
            exp = Counter(call_key(c) for c in want.tool_calls or [])
            ok = got == exp and not res.malformed
            kind = (meta or {}).get("kind", "?")
            by_kind[kind] += 1
            by_kind_ok[kind] += ok
            exact += ok
            if "<tool_call>" in text:
                with_blocks += 1
                json_ok += not res.malformed
            if not ok and shown < args.show_errors:
                shown += 1
                print(f"--- miss ({kind}): expected {sorted(exp)}\n    got {text.split('<|im_end|>')[0]!r}")
        done = min(b + args.batch, len(turns))
        print(f"  {done}/{len(turns)} turns, {exact} exact so far ({time.perf_counter() - t0:.0f} s)", flush=True)
    n = len(turns)
    print(f"turns {n}  exact tool-call match {exact / n:.1%}  valid JSON {json_ok}/{with_blocks}"
          f"  ({time.perf_counter() - t0:.0f} s)")
    print("by kind: " + ", ".join(f"{k} {by_kind_ok[k]}/{by_kind[k]}" for k in sorted(by_kind)))


if __name__ == "__main__":
    main()
