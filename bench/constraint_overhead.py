"""Per-token cost of grammar-constrained decoding vs unconstrained decoding, from one run.

Runs the same Task API prompts twice through one engine: constrained (tool_choice=required, so
every token is masked; jump-forward off so each token is one sampled step) and unconstrained
(the request opts out of constraints). Prints ms per generated token for both, their ratio, and
the grammar's own time per token (mask + accept), measured inside the decode loop.

    python bench/constraint_overhead.py                     # base embedded model, int8
    python bench/constraint_overhead.py --quantize none --n 8
"""

from __future__ import annotations

import argparse
import json

USER_REQUESTS = [
    "add a task to buy milk tomorrow, high priority",
    "mark task 12 as done",
    "show me my open tasks",
    "rename task 3 to 'Finish the report' and make it low priority",
    "delete task 7",
    "create a task called water the plants with the note 'use the blue can'",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--quantize", default="int8")
    ap.add_argument("--n", type=int, default=12, help="prompts per mode")
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args(argv)

    from tooltune.core.tools import load_tools
    from tooltune.core.types import Message
    from tooltune.engine import GenerationRequest, SamplingParams, load_engine

    tools = load_tools("taskapi")
    engine = load_engine(args.model, quantize=None if args.quantize == "none" else args.quantize,
                         jump_forward=False)

    def request(i: int, constrained: bool) -> GenerationRequest:
        msgs = [Message(role="system", content="Today is 2026-03-05 (Thursday)."),
                Message(role="user", content=USER_REQUESTS[i % len(USER_REQUESTS)])]
        return GenerationRequest(messages=msgs, tools=tools, tool_choice="required", constrained=constrained,
                                 sampling=SamplingParams(temperature=1.0, seed=i, max_tokens=args.max_tokens))

    engine.generate_text(request(0, True))  # warm up: grammar compile, caches, allocator
    engine.generate_text(request(0, False))
    # Interleaved (one prompt constrained, then the same unconstrained) so that load from
    # other processes hits both sides alike.
    acc = {m: {"total": 0.0, "tokens": 0, "decode_s": 0.0, "passes": 0, "grammar_s": 0.0, "sampled": 0}
           for m in ("unconstrained", "constrained")}
    for i in range(args.n):
        for constrained in (True, False):
            engine.stats.reset()
            _, final = engine.generate_text(request(i, constrained))
            a = acc["constrained" if constrained else "unconstrained"]
            a["total"] += final.total_s - final.time_to_first_token_s
            a["tokens"] += max(0, final.completion_tokens - 1)
            st = engine.stats
            a["decode_s"] += st.decode_s
            a["passes"] += st.decode_passes
            a["grammar_s"] += st.constraint_s
            a["sampled"] += st.sampled_tokens
    result = {}
    for mode, a in acc.items():
        result[mode] = {
            "ms_per_token": round(1000 * a["total"] / max(1, a["tokens"]), 2),
            "forward_ms_per_token": round(1000 * a["decode_s"] / max(1, a["passes"]), 2),
            "grammar_ms_per_token": round(1000 * a["grammar_s"] / max(1, a["sampled"]), 3),
            "tokens": a["tokens"],
        }
    u, c = result["unconstrained"], result["constrained"]
    result["overhead_ms_per_token"] = round(c["ms_per_token"] - u["ms_per_token"], 2)
    result["ratio_constrained_vs_unconstrained"] = round(c["ms_per_token"] / u["ms_per_token"], 3)
    result["grammar_share_of_constrained_token"] = round(c["grammar_ms_per_token"] / c["ms_per_token"], 4)
    print(f"unconstrained: {u['ms_per_token']} ms/token   constrained: {c['ms_per_token']} ms/token   "
          f"ratio {result['ratio_constrained_vs_unconstrained']}x   grammar itself {c['grammar_ms_per_token']} ms/token "
          f"({100 * result['grammar_share_of_constrained_token']:.2f}% of a constrained token)")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
