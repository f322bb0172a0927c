"""Sampled tool calls under constraints are always valid (issue 5).

Samples N tool calls at temperature 1.0 from a model (default: the BASE embedded model, which was
never taught our format) with tool_choice=required, one call per turn, and checks each is a
complete, parseable call of a declared tool whose arguments validate against its JSON Schema.

    python bench/validity.py --n 1000            # the issue's check
    python bench/validity.py --n 50 --model runs/default
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

USER_REQUESTS = [
    "add a task to buy milk tomorrow, high priority",
    "remind me to call mom on friday",
    "mark task 12 as done",
    "delete task 7",
    "show me my open tasks",
    "what are my high priority tasks?",
    "rename task 3 to 'Finish the report' and make it low priority",
    "I need to renew my passport before 2026-06-01",
    "list everything that is done",
    "task 44 is finished",
    "create a task called water the plants with the note 'use the blue can'",
    "change the due date of task 9 to next monday",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=1000, help="tool calls to sample")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--quantize", default="int8", help="int8, bf16 or none")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from tooltune.core.format import parse_output
    from tooltune.core.tools import load_tools
    from tooltune.core.types import Message
    from tooltune.core.validate import call_errors
    from tooltune.engine import GenerationRequest, SamplingParams, load_engine

    tools = load_tools("taskapi")
    engine = load_engine(args.model, quantize=None if args.quantize == "none" else args.quantize)
    outcomes: Counter[str] = Counter()
    examples: dict[str, str] = {}
    failures: list[dict] = []
    by_tool: Counter[str] = Counter()
    started = time.perf_counter()
    for i in range(args.n):
        msgs = [Message(role="system", content="Today is 2026-03-05 (Thursday)."),
                Message(role="user", content=USER_REQUESTS[i % len(USER_REQUESTS)])]
        req = GenerationRequest(messages=msgs, tools=tools, tool_choice="required", parallel_tool_calls=False,
                                sampling=SamplingParams(temperature=args.temperature, seed=args.seed + i,
                                                        max_tokens=args.max_tokens))
        text, final = engine.generate_text(req)
        parsed = parse_output(text)
        if final.finish_reason == "length":
            outcome = "truncated (max_tokens)"
        elif parsed.malformed or len(parsed.tool_calls) != 1 or parsed.content:
            outcome = "malformed"
        elif call_errors(parsed.tool_calls[0], tools):
            outcome = "schema-invalid"
        else:
            outcome = "valid"
            by_tool[parsed.tool_calls[0].name] += 1
        outcomes[outcome] += 1
        if outcome == "valid":
            examples.setdefault(outcome, text)
        elif len(failures) < 20:
            failures.append({"i": i, "outcome": outcome, "finish": final.finish_reason, "text": text,
                             "malformed": parsed.malformed})
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{args.n} {dict(outcomes)} {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    valid = outcomes["valid"]
    print(json.dumps({"model": args.model, "n": args.n, "temperature": args.temperature, "valid": valid,
                      "valid_pct": round(100 * valid / args.n, 2), "outcomes": dict(outcomes),
                      "calls_by_tool": dict(by_tool), "seconds": round(time.perf_counter() - started, 1),
                      "example": examples.get("valid"), "failures": failures}, indent=1, ensure_ascii=False))
    return 0 if valid == args.n else 1


if __name__ == "__main__":
    raise SystemExit(main())
