"""A decode pass over a cached prompt, timed per width: transformers' SDPA against the copy-free
grouped-query attention the engine switches CPU models to (``tooltune.engine.attention``).

Why it exists: under a mask, transformers repeats the key/value heads of the whole cache for every
layer of every multi-token pass. This prints, from one run, the median time of a pass of each width
(one row, ``--context`` cached tokens, under a 2-D mask as a padded batch runs it) with both, and
the ratio. Width 1 takes neither copy (both should match). The engine's own passes are ragged
(``tooltune.engine.batch``: per-sequence attention with grouped heads, no mask to build); this is
the path the model takes outside them.

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

    torch.set_num_threads(args.threads)
    model, _, _ = load_model(args.model)
    if not use_grouped_attention(model):
        print(f"error: {args.model} has no grouped KV heads under SDPA on the CPU: nothing to compare")
        return 1

    vocab = model.get_input_embeddings().weight.shape[0]
    with torch.inference_mode():
        cache = DynamicCache()
        model(input_ids=torch.randint(0, vocab, (1, args.context)), past_key_values=cache, use_cache=True)

        def one_pass(width: int) -> float:
            mask = torch.ones(1, args.context + width, dtype=torch.long)
            t0 = time.perf_counter()
            model(input_ids=torch.randint(0, vocab, (1, width)), attention_mask=mask, past_key_values=cache,
                  use_cache=True, logits_to_keep=1)
            dt = time.perf_counter() - t0
            cache.crop(-width)  # the next pass sees the same context
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
