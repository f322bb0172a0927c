"""The bfloat16 LM head (``tooltune.engine.bf16_head``) against the float32 one, in one process on
the same turns: per-turn latency with one client, requests/s with 8, and identical outputs.

Loads the engine once with bfloat16 Linear layers (``--quantize bf16-linear``, what ``auto``
picks on a CPU with fast bfloat16 products; the head comes with them) and swaps only the head
between phases. The engine drafts from its recent outputs,
so a replayed turn runs faster: each head runs one set of turns new and the other replayed
(float32 on A, bfloat16 on B, bfloat16 on A, float32 on B), one client, then the same with 8.

    python bench/bf16_head.py --model runs/demo --data runs/demo/data/eval.jsonl --turns 40
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from latency import crossover_sets, in_process_parser, percentile, run_clients

WARMUP = 4


def use_head(engine: Any, head: Any) -> None:
    """Put ``head`` on the model, between requests (the worker's batch reads it every pass)."""
    from tooltune.engine.bf16_head import head_of

    engine.model.set_output_embeddings(head)
    if getattr(engine, "_batch", None) is not None:
        engine._batch.head = head_of(engine.model)


def phase(engine: Any, turns: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    from tooltune.engine.base import GenerationRequest, SamplingParams

    outputs: list[str | None] = [None] * len(turns)
    took: list[float] = [0.0] * len(turns)

    def send(i: int) -> None:
        turn = turns[i]
        request = GenerationRequest(messages=turn["messages"], tools=turn["tools"],
                                    sampling=SamplingParams(max_tokens=128, temperature=0))
        t0 = time.perf_counter()
        outputs[i] = engine.generate_text(request)[0]
        took[i] = time.perf_counter() - t0

    wall = run_clients(len(turns), clients, send)
    return {"wall_s": wall, "outputs": outputs, "took": took}


def main(argv: list[str] | None = None) -> int:
    args = in_process_parser(__doc__, 40).parse_args(argv)
    sets = crossover_sets(args.data, args.turns, WARMUP)
    if sets is None:
        return 2
    import torch

    from tooltune.engine import load_engine
    from tooltune.engine.bf16_head import head_of

    engine = load_engine(args.model, quantize="bf16-linear")
    bf16 = head_of(engine.model)
    if bf16 is None:
        print(f"error: {args.model} has no plain float32 LM head to run in bfloat16", file=sys.stderr)
        engine.close()
        return 2
    fp32 = torch.nn.Linear(bf16.in_features, bf16.out_features, bias=False)
    fp32.weight = bf16.weight
    heads = {"float32": fp32, "bfloat16": bf16}
    warm, a, b = sets
    order = [("float32", "A", a), ("bfloat16", "B", b), ("bfloat16", "A", a), ("float32", "B", b)]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    try:
        phase(engine, warm, 1)
        for clients in (1, args.clients):
            for name, set_name, subset in order:
                use_head(engine, heads[name])
                runs.setdefault((name, clients), []).append(phase(engine, subset, clients) | {"set": set_name})
    finally:
        engine.close()

    def pooled(name: str, clients: int) -> dict[str, Any]:
        ps = runs[(name, clients)]
        took = [t for p in ps for t in p["took"]]
        wall = sum(p["wall_s"] for p in ps)
        return {"p50_ms": round(1000 * statistics.median(took)), "p95_ms": round(1000 * percentile(took, 0.95)),
                "rps": round(len(took) / wall, 2)}

    def by_set(name: str, clients: int) -> dict[str, list[str | None]]:
        return {p["set"]: p["outputs"] for p in runs[(name, clients)]}

    result: dict[str, Any] = {"turns_per_set": args.turns, "clients": args.clients}
    for clients in (1, args.clients):
        f, bf = pooled("float32", clients), pooled("bfloat16", clients)
        fo, bo = by_set("float32", clients), by_set("bfloat16", clients)
        same = sum(x == y for s in ("A", "B") for x, y in zip(fo[s], bo[s]))
        result[f"clients_{clients}"] = {"float32": f, "bfloat16": bf, "identical_outputs": same,
                                        "speedup_rps": round(bf["rps"] / f["rps"], 2)}
        print(f"{clients} client(s): float32 head p50/p95 {f['p50_ms']}/{f['p95_ms']} ms, {f['rps']} req/s; "
              f"bfloat16 head {bf['p50_ms']}/{bf['p95_ms']} ms, {bf['rps']} req/s -> "
              f"{result[f'clients_{clients}']['speedup_rps']}x; {same}/{2 * args.turns} identical outputs")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
