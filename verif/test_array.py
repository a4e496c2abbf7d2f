"""The array bench (verif/benches/array_tb.py) on both simulators, several sizes."""

import pytest

from verif.harness import run_bench

# (rows, cols, acc_width): narrow widths reach the overflow boundary quickly.
SIZES = [(1, 1, 18), (2, 3, 18), (4, 4, 20), (8, 8, 32)]


@pytest.mark.cocotb
@pytest.mark.parametrize("rows,cols,acc_width", SIZES, ids=[f"{r}x{c}w{w}" for r, c, w in SIZES])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_array(sim, rows, cols, acc_width):
    run_bench("verif.benches.array_tb", "array",
              {"rows": rows, "cols": cols, "acc_width": acc_width}, sim)
