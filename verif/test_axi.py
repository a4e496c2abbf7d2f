"""The AXI shell bench (verif/benches/axi_tb.py, cocotbext-axi) on Icarus and Verilator.

A small tile (2x3, W = 18 so overflow is reachable, depth 8 so K = depth
and chains longer than a bank are cheap); the full bench closes every
coverage bin on each simulator.
"""

import pytest

from verif.harness import run_bench

PARAMS = {"rows": 2, "cols": 3, "acc_width": 18, "depth": 8}


@pytest.mark.cocotb
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_axi(sim):
    run_bench("verif.benches.axi_tb", "axi", PARAMS, sim)
