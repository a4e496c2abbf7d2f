"""The array and tile benches on Icarus with the pipelined PE (``pe_latency=2``).

The array's external timing does not depend on the PE latency (docs/hardware.md),
so the unchanged benches -- which check every result bit-exact against the
golden model, stream rules, backpressure and overflow -- must pass as they are.
3x5 is the non-power-of-two row count.  Icarus only (a Verilator build costs
minutes of the `make test` budget).
"""

import pytest

from verif.harness import run_bench

ARRAYS = [(3, 5, 18), (2, 3, 18)]


@pytest.mark.cocotb
@pytest.mark.parametrize("rows,cols,acc_width", ARRAYS,
                         ids=[f"icarus-{r}x{c}w{w}-L2" for r, c, w in ARRAYS])
def test_array_pipelined_pe(rows, cols, acc_width):
    run_bench("verif.benches.array_tb", "array",
              {"rows": rows, "cols": cols, "acc_width": acc_width, "pe_latency": 2}, "icarus")


@pytest.mark.cocotb
def test_accel_pipelined_pe():
    run_bench("verif.benches.accel_tb", "accel",
              {"rows": 2, "cols": 3, "acc_width": 18, "depth": 8, "pe_latency": 2}, "icarus")
