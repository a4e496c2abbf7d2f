"""The quantization-unit bench (verif/benches/quant_unit_tb.py) on both simulators.

Icarus at 3 lanes W = 18 (narrowest accumulator: the stochastic-compare bin
is then unreachable and not declared) and at 4 lanes W = 32; Verilator once,
at 3 lanes W = 24 (one small build, about a minute, cached), which also runs
the exhaustive backward sweep.
"""

import pytest

from verif.harness import run_bench

CONFIGS = [("icarus", 3, 18), ("icarus", 4, 32), ("verilator", 3, 24)]


@pytest.mark.cocotb
@pytest.mark.parametrize("sim,cols,acc_width", CONFIGS,
                         ids=[f"{s}-c{c}w{w}" for s, c, w in CONFIGS])
def test_quant_unit(sim, cols, acc_width):
    from hw.quant_unit import TOPLEVEL, generate_verilog
    run_bench("verif.benches.quant_unit_tb", TOPLEVEL, {"cols": cols, "acc_width": acc_width},
              sim, verilog=generate_verilog(cols, acc_width))
