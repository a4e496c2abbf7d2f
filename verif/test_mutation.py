"""The PE bench must FAIL on deliberately broken Verilog (it can catch a datapath bug).

Mutant: in the generated PE, the FP4 path's shift for exponent 4 (x64) is
made x32 -- one wrong shift amount among 2048 operand/format combinations.
"""

import re

import pytest

from verif import tools
from verif.harness import run_bench

SHIFT_BY_6 = re.compile(r"(assign \S+\s+= \{ )(b_value\[4\]), (b_value), 6'h00 \};")


@pytest.mark.cocotb
def test_pe_bench_catches_wrong_fp4_shift():
    good = tools.generate_verilog("pe", {"acc_width": 18})
    mutant, n = SHIFT_BY_6.subn(r"\1\2, \2, \3, 5'h00 };", good)
    assert n == 1, "the x64 FP4 shift was not found in the generated PE; update the mutant"
    result = run_bench("verif.benches.pe_tb", "pe", {"acc_width": 18}, "icarus",
                       verilog=mutant, check=False)
    failures = dict(result.failures)
    assert "exhaustive_products" in failures, f"mutant survived: {result}"
    assert "model says" in failures["exhaustive_products"], failures   # caught by the check
