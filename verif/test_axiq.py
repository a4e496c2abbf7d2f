"""The AXI shell around the tile with the quantization unit (verif/benches/axiq_tb.py,
cocotbext-axi) on Icarus and Verilator: a 2x4 tile (W = 18, depth 8) and a
2-lane unit, so rows take two slices and chains longer than a bank are cheap.
Slow: the Verilator build takes minutes and the random jobs ~a minute."""

import pytest

from verif.harness import run_bench

PARAMS = {"rows": 2, "cols": 4, "acc_width": 18, "depth": 8, "quant_lanes": 2}


@pytest.mark.cocotb
@pytest.mark.slow
# The Verilator build of the quant tile behind the shell took 27 min (load 13-19): make test-big.
@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.big)])
def test_axi_qtile(sim):
    run_bench("verif.benches.axiq_tb", "axi_qtile", PARAMS, sim)
