"""The AXI shell around the tile with the quantization unit (verif/benches/axiq_tb.py,
cocotbext-axi) on Icarus and Verilator: a 2x4 tile (W = 18, depth 8) and a
2-lane unit, so rows take two slices and chains longer than a bank are cheap.
Slow: the Verilator build takes minutes and the random jobs ~a minute."""

import pytest

from verif.harness import run_bench

PARAMS = {"rows": 2, "cols": 4, "acc_width": 18, "depth": 8, "quant_lanes": 2}


@pytest.mark.cocotb
@pytest.mark.slow
# Verilator: 39 s with its build cached (2026-12-07); the 27 min build measured at load 13-19
# before the runtime object cache kept it in make test-big.
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_axi_qtile(sim):
    run_bench("verif.benches.axiq_tb", "axi_qtile", PARAMS, sim)
