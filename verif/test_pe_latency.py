"""The array and tile benches on Icarus with the PE latencies other than the
default (``model.config.DEFAULT_PE_LATENCY``, which every other bench builds).

The benches check every result bit-exact against the golden model, stream
rules, backpressure and overflow, whatever the latency; only the result
latency and the streaming bound move (docs/hardware.md), and the benches
take those from the DUT's parameters.  3x5 is the non-power-of-two row
count.  Icarus only (a Verilator build costs minutes of the `make test`
budget); one configuration per latency keeps the cost at three runs.
"""

import pytest

from model.config import DEFAULT_PE_LATENCY, PE_LATENCIES
from verif.harness import run_bench

OTHER = [lat for lat in PE_LATENCIES if lat != DEFAULT_PE_LATENCY]
ARRAYS = [(3, 5, 18, OTHER[0]), (2, 3, 18, OTHER[-1])]


@pytest.mark.cocotb
@pytest.mark.parametrize("rows,cols,acc_width,latency", [
    # the first in make test-slow (the make test budget); make test keeps the other latency
    pytest.param(*a, marks=[pytest.mark.slow] if i == 0 else []) for i, a in enumerate(ARRAYS)],
                         ids=[f"icarus-{r}x{c}w{w}-L{lat}" for r, c, w, lat in ARRAYS])
def test_array_other_pe_latency(rows, cols, acc_width, latency):
    run_bench("verif.benches.array_tb", "array",
              {"rows": rows, "cols": cols, "acc_width": acc_width, "pe_latency": latency},
              "icarus")


@pytest.mark.cocotb
def test_accel_other_pe_latency():
    run_bench("verif.benches.accel_tb", "accel",
              {"rows": 2, "cols": 3, "acc_width": 18, "depth": 8, "pe_latency": OTHER[0]},
              "icarus")


@pytest.mark.cocotb
@pytest.mark.parametrize("latency", OTHER, ids=[f"icarus-w18-L{lat}" for lat in OTHER])
def test_pe_other_latency(latency):
    run_bench("verif.benches.pe_tb", "pe", {"acc_width": 18, "pe_latency": latency}, "icarus")
