"""The Linear layers of a whole forward pass, timed per input width, float32 against int8 weights
(weight-only) and against int8 weights and activations (W8A8).

Why it exists: ``tooltune.engine.quantize`` picks PyTorch's int8 kernel (``_weight_int8pack_mm``)
for inputs of at most ``KERNEL_MAX_ROWS`` rows and a float32 matmul on the dequantised weight
beyond, except in the LM head, which takes wide inputs through the kernel in chunks. This prints,
from one run, the time of every Linear layer of the model for each width (the LM head on as many
rows: a draft pass keeps the logits of every column it verifies): float32 weights, the int8
kernel, the int8 layer as served (the switch included), the W8A8 layer (``--quantize w8a8``:
quantising the input per row, smoothing included, ``torch._int_mm``, rescaling), and the ratios.

    python bench/quantize.py                      # the embedded SmolLM2-135M, 2 threads
    python bench/quantize.py --model runs/demo --widths 1,2,4,8,16,64
"""

from __future__ import annotations

import time

from _width_args import parse_widths, width_parser


def main(argv: list[str] | None = None) -> int:
    ap = width_parser(__doc__, "1,2,4,8,12,16,32")
    args = ap.parse_args(argv)
    widths = parse_widths(ap, args.widths)

    import torch
    from torch import nn

    from tooltune.core.models import load_model
    from tooltune.engine.quantize import KERNEL_MAX_ROWS, Int8WeightOnlyLinear
    from tooltune.engine.w8a8 import Int8DynamicLinear

    torch.set_num_threads(args.threads)
    model, _, _ = load_model(args.model)
    head = model.get_output_embeddings()
    layers = [m for m in model.modules() if isinstance(m, nn.Linear) and m is not head]
    float_layers = layers + [head]
    int8_layers = [Int8WeightOnlyLinear.from_linear(m, chunked=m is head) for m in float_layers]
    # Smoothed as served; the input ranges only set the factors' values, not the work.
    w8a8_layers = [Int8DynamicLinear(m.weight, m.bias, torch.rand(m.in_features) + 0.5) for m in float_layers]
    mb = sum(m.weight.numel() for m in float_layers) * 4 / 2**20
    print(f"{len(layers)} Linear layers + LM head, {mb:.0f} MB of float32 weights, {args.threads} threads;"
          f" the int8 kernel serves up to {KERNEL_MAX_ROWS} rows")

    def kernel(m: Int8WeightOnlyLinear, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(x.to(torch.bfloat16), m.weight_int8, m.scale_bf16)

    def timed(run_layer, mods, rows: int) -> float:
        xs = {m.in_features: torch.randn(rows, m.in_features) for m in mods}

        def passes() -> None:
            for m in mods:
                run_layer(m, xs[m.in_features])

        passes()
        start = time.perf_counter()
        for _ in range(args.repeats):
            passes()
        return (time.perf_counter() - start) / args.repeats * 1e3

    print(f"{'rows':>5} {'float32 ms':>11} {'int8 kernel ms':>15} {'int8 served ms':>15} {'w8a8 ms':>8}"
          f" {'kernel/f32':>11} {'served/f32':>11} {'w8a8/f32':>9}")
    with torch.inference_mode():
        for rows in widths:
            f32 = timed(lambda m, x: m(x), float_layers, rows)
            k = timed(kernel, int8_layers, rows)
            served = timed(lambda m, x: m(x), int8_layers, rows)
            w8a8 = timed(lambda m, x: m(x), w8a8_layers, rows)
            print(f"{rows:>5} {f32:>11.1f} {k:>15.1f} {served:>15.1f} {w8a8:>8.1f}"
                  f" {k / f32:>11.2f} {served / f32:>11.2f} {w8a8 / f32:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
