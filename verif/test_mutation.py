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


def _drain(verilog: str) -> tuple[int, int]:
    """Start and end of the array's drain module in generated Verilog."""
    start = verilog.index("module \\radix4_array.drain")
    return start, verilog.index("endmodule", start)


ROW_WRAP = re.compile(r"(\\\$\d+)  = (\\\$\d+) \[(\d+):0\];\n(\s+)if \((\\\$\d+) \) begin\n"
                      r"\s+\1  = \d+'h0;\n\s+end\n")


@pytest.mark.cocotb
def test_array_bench_catches_a_row_pointer_without_wrap():
    """Mutant (issue 17): the drain's row pointer no longer wraps at R-1; only a
    non-power-of-two row count (3x5) can show it."""
    params = {"rows": 3, "cols": 5, "acc_width": 18}
    good = tools.generate_verilog("array", params)
    s, e = _drain(good)
    drain, n = ROW_WRAP.subn(r"\1  = \2 [\3:0];\n", good[s:e])
    assert n == 1, "the row pointer's wrap was not found in the generated drain; update the mutant"
    result = run_bench("verif.benches.array_tb", "array", params, "icarus",
                       verilog=good[:s] + drain + good[e:], check=False, testcase="random_gemms")
    failures = dict(result.failures)
    assert "random_gemms" in failures, f"mutant survived: {result}"


@pytest.mark.cocotb
def test_array_bench_catches_overflow_flags_in_reversed_column_order():
    """Mutant (issue 17): the output's overflow bits leave in reversed column
    order; the directed overflow test's asymmetric pattern must show it."""
    from hw.array import output_layout
    params = {"rows": 2, "cols": 3, "acc_width": 18}
    field = output_layout(2, 3, 18)["overflow"]
    hi, lo = field.offset + field.width - 1, field.offset
    good = tools.generate_verilog("array", params)
    s, e = _drain(good)
    assign = re.compile(rf"(\\\$\d+) \[{hi}:{lo}\] = (\\\$\d+) ;")
    bits = ", ".join(rf"\2 [{i}]" for i in range(field.width))      # bit 0 now on top
    drain, n = assign.subn(rf"\1 [{hi}:{lo}] = {{ {bits} }};", good[s:e])
    assert n == 1, "the overflow field's assignment was not found; update the mutant"
    result = run_bench("verif.benches.array_tb", "array", params, "icarus",
                       verilog=good[:s] + drain + good[e:], check=False, testcase="overflow")
    failures = dict(result.failures)
    assert "overflow" in failures, f"mutant survived: {result}"
