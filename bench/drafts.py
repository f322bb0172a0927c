"""Speculative drafts in-process: forward passes and time per tool-call turn, against greedy
decoding without drafts, on the same turns in one run.

Loads the engine twice on one model: as served (drafts from the prompt, from the value-end runs
and from recent outputs, seeded with the model's ``sample_replies.jsonl``) and with
``speculate=0``. Replays the tool-call turns of an eval.jsonl through each, one at a time (the
first two warm up), and prints passes per turn, p50/mean per turn (all and single-call turns),
the speedup, and how many outputs are identical (a multi-token pass rounds differently from a
one-token pass, so a near-tie may go the other way).

    python bench/drafts.py --model runs/demo --data runs/demo/data/eval.jsonl --turns 42
    python bench/drafts.py --model runs/demo --data runs/demo/data/eval.jsonl --turns 200 --no-seed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from latency import load_turns

WARMUP = 2


def replay(engine, turns) -> dict:
    from tooltune.engine.base import GenerationRequest, SamplingParams

    texts, times, single = [], [], []
    passes = drafted = accepted = 0
    for i, turn in enumerate(turns):
        st = engine.stats
        before, drafted_before, accepted_before = st.decode_passes, st.draft_tokens, st.accepted_tokens
        start = time.perf_counter()
        text, _ = engine.generate_text(GenerationRequest(messages=turn["messages"], tools=turn["tools"],
                                                         sampling=SamplingParams(max_tokens=128, temperature=0)))
        took = time.perf_counter() - start
        texts.append(text)
        if i >= WARMUP:
            passes += st.decode_passes - before
            drafted += st.draft_tokens - drafted_before
            accepted += st.accepted_tokens - accepted_before
            times.append(took)
            if len(turn["expected"]) == 1:
                single.append(took)
    n = len(times)
    return {"texts": texts, "passes_per_turn": round(passes / n, 2),
            "drafted_per_turn": round(drafted / n, 1), "accepted_per_turn": round(accepted / n, 1),
            "p50_ms": round(1000 * statistics.median(times)), "mean_ms": round(1000 * statistics.mean(times)),
            "single_p50_ms": round(1000 * statistics.median(single)) if single else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="run dir, model dir or embedded name")
    ap.add_argument("--data", type=Path, required=True, help="eval.jsonl with tool-call turns")
    ap.add_argument("--turns", type=int, default=42, help="turns to replay, the first two as warm-up")
    ap.add_argument("--no-seed", action="store_true", help="do not seed the drafts with sample_replies.jsonl")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    from tooltune.engine.factory import load_engine
    from tooltune.engine.output_history import OutputHistory
    from tooltune.engine.value_ends import ValueEnds

    turns = load_turns(args.data, args.turns)
    if len(turns) <= WARMUP:
        print(f"{args.data}: {len(turns)} tool-call turns, need more than {WARMUP}", file=sys.stderr)
        return 2
    drafts = load_engine(args.model)
    if args.no_seed:
        drafts.history, drafts.value_ends = OutputHistory(), ValueEnds()
    with_drafts = replay(drafts, turns)
    del drafts
    plain = replay(load_engine(args.model, speculate=0), turns)
    same = sum(a == b for a, b in zip(with_drafts.pop("texts"), plain.pop("texts")))
    n = len(turns) - WARMUP
    print(f"{n} turns after {WARMUP} warm-up ({'unseeded' if args.no_seed else 'seeded'} drafts)")
    for name, r in (("drafts", with_drafts), ("no drafts", plain)):
        print(f"  {name:10s} passes/turn {r['passes_per_turn']:5.2f}  p50 {r['p50_ms']} ms  mean {r['mean_ms']} ms"
              f"  single-call p50 {r['single_p50_ms']} ms  drafted/accepted tokens per turn"
              f" {r['drafted_per_turn']}/{r['accepted_per_turn']}")
    print(f"  speedup p50 {plain['p50_ms'] / with_drafts['p50_ms']:.2f}x, mean {plain['mean_ms'] / with_drafts['mean_ms']:.2f}x;"
          f" identical outputs {same}/{len(turns)}")
    if args.json:
        args.json.write_text(json.dumps({"drafts": with_drafts, "no_drafts": plain, "identical": same,
                                         "turns": len(turns)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
