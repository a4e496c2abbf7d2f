"""The PE bench must FAIL on deliberately broken Verilog (it can catch a datapath bug).

Each check runs only the cocotb test that must catch its mutant.

Mutant: in the generated PE, the FP4 path's shift for exponent 4 (x64) is
made x32 -- one wrong shift amount among 2048 operand/format combinations.
"""

import re

import pytest

from verif import tools
from verif.harness import run_bench

SHIFT_BY_6 = re.compile(r"(assign \S+\s+= \{ )(b_value\[4\]), (b_value), 6'h00 \};")


# The one-step product (PE latency 1): at the default latency 3 the product is
# split over two stages (hw/product_pipeline.py) and the shift reads differently.
PE_PARAMS = {"acc_width": 18, "pe_latency": 1}


@pytest.mark.cocotb
def test_pe_bench_catches_wrong_fp4_shift():
    good = tools.generate_verilog("pe", PE_PARAMS)
    mutant, n = SHIFT_BY_6.subn(r"\1\2, \2, \3, 5'h00 };", good)
    assert n == 1, "the x64 FP4 shift was not found in the generated PE; update the mutant"
    result = run_bench("verif.benches.pe_tb", "pe", PE_PARAMS, "icarus",
                       verilog=mutant, check=False, testcase="exhaustive_products")
    failures = dict(result.failures)
    assert "exhaustive_products" in failures, f"mutant survived: {result}"
    assert "model says" in failures["exhaustive_products"], failures   # caught by the check


IDLE = re.compile(r"assign idle = \\(\$\d+)  & \\(\$\d+) ;")


@pytest.mark.cocotb
def test_tile_bench_catches_idle_ignoring_the_beat_in_hand():
    """Mutant (issue 17): the tile's ``idle`` ignores the beat the sequencer holds."""
    params = {"rows": 2, "cols": 3, "acc_width": 18, "depth": 8}
    good = tools.generate_verilog("accel", params)
    terms = IDLE.search(good)
    assert terms, "the idle assignment was not found in the generated tile; update the mutant"
    mutant, n = 0, 0
    for name in terms.groups():
        line = re.compile(rf"assign \\{re.escape(name)}  = ~ beat_valid;")
        if line.search(good):
            mutant, n = line.subn(rf"assign \\{name}  = 1'h1;", good)
    assert n == 1, "no idle term reads beat_valid; update the mutant"
    result = run_bench("verif.benches.accel_tb", "accel", params, "icarus",
                       verilog=mutant, check=False, testcase="idle_with_beat_in_hand")
    failures = dict(result.failures)
    assert "idle_with_beat_in_hand" in failures, f"mutant survived: {result}"
    assert "idle high" in failures["idle_with_beat_in_hand"], failures


# The drain's two Verilog-text mutants of issue 17 (row pointer without wrap,
# overflow bits in reversed column order) are catalogue mutants now
# (verif/mutants.py: drain_row_no_wrap, drain_overflow_columns_reversed): the
# drain keeps a copy of its row pointer per column (docs/timing.md), so the
# generated Verilog no longer has one assignment to rewrite.
