"""Cycle model of the quantization unit's lanes choice (docs/quantizer.md, "Lanes").

    python -m scripts.measure_quant_cost --cycle-model

Prints, per task, the array/unit cycles of one on-chip training step at
L = 8, 4, 2, 1 lanes relative to L = 8.  The unit's area is measured by
``radix4 synth`` (designs ``quant_unit_1lane``, ``quant_unit_2lanes``;
``radix4 synth --quant-section --update-docs`` regenerates its section of
docs/hardware-cost.md); until issue 24 this script measured it too, against
a stale array figure.
"""

from __future__ import annotations

import argparse


# Cycle model of the tile default choice (docs/quantizer.md, "Lanes"): hidden
# layers of an MLP step with exact GradScale; (task, batch, layer widths)
STEPS = (("digits-mlp", 32, (64, 128, 128, 10)), ("charlm", 128, (576, 256, 256, 96)))


def step_cycles(batch: int, dims, lanes: int, rows: int = 8, cols: int = 8) -> int:
    """Array/unit cycles of one step: an output tile costs max(K, R+C+1) array cycles,
    at least R*C/lanes when its rows go to the unit; a requant row cols/lanes."""
    def gemm(m, k, n, unit):
        tiles = -(-m // rows) * -(-n // cols)
        return tiles * max(k, rows + cols + 1, rows * cols // lanes if unit else 0)
    total, last = 0, len(dims) - 2
    for i, (k, n) in enumerate(zip(dims, dims[1:])):
        total += gemm(batch, k, n, i < last)        # forward: hidden layers via the unit
        total += gemm(k, batch, n, False)           # dW: raw INT32
        if i > 0:                                   # dX into the previous PACT, 2 passes
            total += gemm(batch, n, k, True)
            total += -(-batch // rows) * rows * -(-k // cols) * (cols // lanes)
    return total


def cycle_table(lanes=(8, 4, 2, 1)) -> str:
    lines = ["| step | " + " | ".join(f"L = {n}" for n in lanes) + " |",
             "|---|" + "---:|" * len(lanes)]
    for name, batch, dims in STEPS:
        base = step_cycles(batch, dims, lanes[0])
        lines.append(f"| {name} (batch {batch}, {'-'.join(map(str, dims))}) | "
                     + " | ".join(f"{step_cycles(batch, dims, n) / base:.2f}" for n in lanes)
                     + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycle-model", action="store_true",
                   help="print the step cycle model of the lanes choice (the default)")
    p.parse_args(argv)
    print(cycle_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
