"""8 concurrent clients against one, in process: requests/s as a ratio, and what each side costs
in forward passes (issue 7's 8-client bar, without HTTP in the way).

Loads the engine once, warms it up on a few turns, then runs a crossover over two disjoint sets
of tool-call turns: one client on set A, 8 threads on set B, 8 threads on A again, one client on
B again. Each side has one set new to the engine and one replayed (the engine drafts from its
recent outputs, which speeds a replay), so neither the sets' contents nor the replays favour a
side. Prints requests/s per phase, sequence-passes per request (how many forward passes each
request rode in), the pooled ratio, and how many outputs match between 8 clients and one.

    python bench/concurrency.py --model runs/demo --data runs/demo/data/eval.jsonl --turns 60
"""

from __future__ import annotations

import json
from typing import Any

from latency import crossover_sets, in_process_parser, run_clients

WARMUP = 4


def phase(engine: Any, turns: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    """``clients`` threads replaying ``turns``: wall time, outputs by turn, sequence-passes."""
    from tooltune.engine.base import GenerationRequest, SamplingParams

    outputs: list[str | None] = [None] * len(turns)

    def send(i: int) -> None:
        turn = turns[i]
        request = GenerationRequest(messages=turn["messages"], tools=turn["tools"],
                                    sampling=SamplingParams(max_tokens=128, temperature=0))
        outputs[i] = engine.generate_text(request)[0]

    st = engine.stats
    passes, rode = st.decode_passes, st.sequence_passes
    wall = run_clients(len(turns), clients, send)
    return {"clients": clients, "wall_s": round(wall, 3), "rps": round(len(turns) / wall, 2),
            "seq_passes_per_request": round((st.sequence_passes - rode) / len(turns), 2),
            "decode_passes": st.decode_passes - passes, "outputs": outputs}


def main(argv: list[str] | None = None) -> int:
    ap = in_process_parser(__doc__, 60)
    ap.add_argument("--quantize", default="auto", help="as `tooltune serve --quantize`")
    args = ap.parse_args(argv)
    sets = crossover_sets(args.data, args.turns, WARMUP)
    if sets is None:
        return 2
    from tooltune.engine import load_engine

    engine = load_engine(args.model, quantize=args.quantize)
    try:
        warm, a, b = sets
        phase(engine, warm, 1)
        one_a = phase(engine, a, 1)
        many_b = phase(engine, b, args.clients)
        many_a = phase(engine, a, args.clients)
        one_b = phase(engine, b, 1)
    finally:
        engine.close()
    one_s, many_s = one_a["wall_s"] + one_b["wall_s"], many_a["wall_s"] + many_b["wall_s"]
    same = sum(x == y for x, y in zip(one_a["outputs"] + one_b["outputs"], many_a["outputs"] + many_b["outputs"]))
    result = {"turns_per_set": args.turns, "clients": args.clients, "weights": engine.weights,
              "ratio": round(one_s / many_s, 2),
              "ratio_per_set": {"A": round(one_a["wall_s"] / many_a["wall_s"], 2),
                                "B": round(one_b["wall_s"] / many_b["wall_s"], 2)},
              "identical_outputs": same, "outputs_compared": 2 * args.turns,
              "phases": {name: {k: v for k, v in p.items() if k != "outputs"}
                         for name, p in (("one_A", one_a), ("many_B", many_b), ("many_A", many_a), ("one_B", one_b))}}
    for name, p in result["phases"].items():
        print(f"{name}: {p['clients']} client(s), {p['rps']} req/s, {p['seq_passes_per_request']} sequence-passes "
              f"per request")
    print(f"{args.clients} clients vs one on the same {2 * args.turns} turns: {result['ratio']}x "
          f"(set A {result['ratio_per_set']['A']}x, set B {result['ratio_per_set']['B']}x); "
          f"{same}/{2 * args.turns} identical outputs")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
