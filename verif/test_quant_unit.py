"""The quantization-unit bench (verif/benches/quant_unit_tb.py) on both simulators.

Icarus at 3 lanes W = 18 (narrowest accumulator: the stochastic-compare bin
is then unreachable and not declared) and at 4 columns W = 32 on 2
time-shared datapath lanes; Verilator once, at 3 lanes W = 24 (one small
build, about a minute, cached), which also runs the exhaustive backward
sweep.  The bench itself is timing-agnostic (streams with backpressure), so
the same stimulus checks the time-shared unit.
"""

import functools

import pytest

from verif.harness import run_bench

# (simulator, cols, acc_width, datapath lanes; None = one per column)
# The Verilator build (~25 s) runs in make test-slow, beside the quant tile's
# Verilator runs (tests/test_quant_tile.py), to keep make test within 5 minutes.
CONFIGS = [("icarus", 3, 18, None), ("icarus", 4, 32, 2),
           pytest.param("verilator", 3, 24, None, marks=pytest.mark.slow)]


@pytest.mark.cocotb
@pytest.mark.parametrize("sim,cols,acc_width,lanes", CONFIGS,
                         ids=["icarus-c3w18", "icarus-c4w32l2", "verilator-c3w24"])
def test_quant_unit(sim, cols, acc_width, lanes):
    from hw.quant_unit import TOPLEVEL
    run_bench("verif.benches.quant_unit_tb", TOPLEVEL,
              {"cols": cols, "acc_width": acc_width, "lanes": lanes or cols},
              sim, verilog=_verilog(cols, acc_width, lanes))


@functools.lru_cache(maxsize=None)      # radix4 regress calls the test once per seed of a batch
def _verilog(cols, acc_width, lanes):
    from hw.quant_unit import generate_verilog
    return generate_verilog(cols, acc_width, lanes)
