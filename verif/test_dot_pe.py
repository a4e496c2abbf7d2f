"""The k-lane PE bench (verif/benches/dot_pe_tb.py) on both simulators.

Icarus: 1, 2, 4 and 8 lanes at W = 18 (the overflow boundary reachable) and
16 lanes at W = 18 (a group sum wider than the accumulator) and at W = 32
(2, 4 and 16 lanes in `make test-slow`; make test keeps 1 and the default 8);
Verilator: the default lane count at W = 18 (a Verilator build costs a
minute of the `make test` budget).  Each at the lane count's default latency.
"""

import pytest

from hw.dot_pe import DEFAULT_LANES, default_dot_pe_latency
from hw.verilog import dot_pe_verilog
from verif.harness import run_bench

CONFIGS = [("icarus", 1, 18), pytest.param("icarus", 2, 18, marks=pytest.mark.slow),
           pytest.param("icarus", 4, 18, marks=pytest.mark.slow), ("icarus", 8, 18),
           pytest.param("icarus", 16, 18, marks=pytest.mark.slow),
           pytest.param("icarus", 16, 32, marks=pytest.mark.slow),
           # make test-slow (the make test budget): make test runs the 8-lane PE on Icarus,
           # and the k = 8 tile on Icarus (tests/test_driver_lanes.py)
           pytest.param("verilator", DEFAULT_LANES, 18, marks=pytest.mark.slow)]


@pytest.mark.cocotb
@pytest.mark.parametrize("sim,lanes,acc_width", CONFIGS,
                         ids=["icarus-k1-w18", "icarus-k2-w18", "icarus-k4-w18", "icarus-k8-w18",
                              "icarus-k16-w18", "icarus-k16-w32", f"verilator-k{DEFAULT_LANES}-w18"])
def test_dot_pe(sim, lanes, acc_width):
    latency = default_dot_pe_latency(lanes)
    params = {"acc_width": acc_width, "lanes": lanes, "latency": latency}
    run_bench("verif.benches.dot_pe_tb", "radix4_dot_pe", params, sim,
              verilog=dot_pe_verilog(acc_width, lanes, latency))
