"""A decode pass over a cached prompt, timed per width: transformers' SDPA against the copy-free
grouped-query attention the engine switches CPU models to (``tooltune.engine.attention``).

Why it exists: under a mask, transformers repeats the key/value heads of the whole cache for every
layer of every multi-token pass. This prints, from one run, the median time of a pass of each width
(one row, ``--context`` cached tokens, as the engine's DecodeBatch runs it) with both, and the
ratio. Width 1 takes neither copy (both should match).

    python bench/attention.py                       # the embedded SmolLM2-135M, 2 threads
    python bench/attention.py --model runs/demo --context 400 --widths 1,2,4,8,16
"""

from __future__ import annotations

import statistics
import time

from _width_args import parse_widths, width_parser


def main(argv: list[str] | None = None) -> int:
    ap = width_parser(__doc__, "1,2,4,8,16,32")
    ap.add_argument("--context", type=int, default=400, help="cached tokens before the pass")
    args = ap.parse_args(argv)
    widths = parse_widths(ap, args.widths)
    if args.context < 1:
        ap.error("--context must be positive")

    import torch
    from transformers import DynamicCache

    from tooltune.core.models import load_model
    from tooltune.engine.attention import NAME, use_grouped_attention
    from tooltune.engine.batch import DecodeBatch

    torch.set_num_threads(args.threads)
    model, _, _ = load_model(args.model)
    if not use_grouped_attention(model):
        print(f"error: {args.model} has no grouped KV heads under SDPA on the CPU: nothing to compare")
        return 1

    class Row:
        row = -1

    vocab = model.get_input_embeddings().weight.shape[0]
    with torch.inference_mode():
        cache = DynamicCache()
        model(input_ids=torch.randint(0, vocab, (1, args.context)), past_key_values=cache, use_cache=True)
        batch, row = DecodeBatch(model), Row()
        batch.add(row, [(layer.keys, layer.values) for layer in cache.layers], args.context)

        def one_pass(width: int) -> float:
            t0 = time.perf_counter()
            batch.step({row: torch.randint(0, vocab, (width,)).tolist()})
            dt = time.perf_counter() - t0
            batch.rollback(row, width)  # the next pass sees the same context
            return dt

        print(f"{'width':>5} {'sdpa ms':>9} {'grouped ms':>11} {'ratio':>6}")
        for width in widths:
            times: dict[str, list[float]] = {"sdpa": [], NAME: []}
            for _ in range(args.repeats):  # interleaved, so drift hits both alike
                for impl in times:
                    model.set_attn_implementation(impl)
                    times[impl].append(one_pass(width))
            stock, grouped = (1000 * statistics.median(times[k]) for k in ("sdpa", NAME))
            print(f"{width:>5} {stock:>9.1f} {grouped:>11.1f} {stock / grouped:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
