"""The array bench (verif/benches/array_tb.py): Icarus at five sizes, Verilator at one.

4x4 and 8x8 run in `make test-slow` (8x8: half a minute on Icarus); the others in `make test`.

Every test of the bench (random GEMMs of every format pair, extremes,
overflow at the boundary, reset mid-GEMM, long backpressure) runs on both
simulators at 2x3 W = 18.  The other sizes run on Icarus only: a Verilator
build costs 1-5 minutes of the `make test` budget (docs/verification.md).
3x5 is the non-power-of-two row count: the drain's row pointer must wrap at
R - 1, not at a power of two (issue 17).
"""

import pytest

from verif.harness import run_bench

# (sim, rows, cols, acc_width): narrow widths reach the overflow boundary quickly.
# 4x4 and 8x8 (25-40 s on Icarus) run in make test-slow, to keep make test under 5 minutes.
CONFIGS = [("icarus", 1, 1, 18), ("icarus", 2, 3, 18), ("icarus", 3, 5, 18),
           pytest.param("icarus", 4, 4, 20, marks=pytest.mark.slow),
           pytest.param("icarus", 8, 8, 32, marks=pytest.mark.slow), ("verilator", 2, 3, 18)]
# k-lane PEs (SPEC 2, --lanes K): the design default k = 8 (docs/lanes.md) and
# k = 2, K padded to a multiple of k, the lanes overflow rule at W = 18.
# (sim, rows, cols, acc_width, lanes); the Verilator build of a k = 8 array
# costs minutes, so it runs in make test-slow, and so does k = 2 (make test
# keeps k = 1 and the default k).
LANE_CONFIGS = [("icarus", 2, 3, 18, 8), ("icarus", 3, 2, 18, 2), ("verilator", 2, 3, 18, 8)]


@pytest.mark.cocotb
@pytest.mark.parametrize("sim,rows,cols,acc_width", CONFIGS,
                         ids=["icarus-1x1w18", "icarus-2x3w18", "icarus-3x5w18", "icarus-4x4w20",
                              "icarus-8x8w32", "verilator-2x3w18"])
def test_array(sim, rows, cols, acc_width):
    run_bench("verif.benches.array_tb", "array",
              {"rows": rows, "cols": cols, "acc_width": acc_width}, sim)


@pytest.mark.cocotb
@pytest.mark.parametrize("sim,rows,cols,acc_width,lanes", [
    # make test-slow (the make test budget): make test runs the k = 8 tile end to end on
    # Icarus (tests/test_driver_lanes.py), through this array.
    pytest.param(*c, marks=[pytest.mark.slow]) for c in LANE_CONFIGS], ids=[f"{s}-{r}x{c}w{w}-k{k}" for s, r, c, w, k in LANE_CONFIGS])
def test_array_lanes(sim, rows, cols, acc_width, lanes):
    run_bench("verif.benches.array_tb", "array",
              {"rows": rows, "cols": cols, "acc_width": acc_width, "lanes": lanes}, sim)


# The same bench on an array whose PEs are the proved word-level model
# (``pe_model="proved"``, hw.dot_pe_model; k = 8 at W = 18 is a proved
# configuration): what a simulator build with the model runs is checked
# against the golden model too, random gaps and stalls included.  Both in
# make test-slow (12 s on Icarus at load ~7; make test keeps the model's
# quick checks, tests/test_dot_pe_model.py).
MODEL_CONFIGS = [("icarus", 2, 3, 18, 8), ("verilator", 2, 3, 18, 8)]


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("sim,rows,cols,acc_width,lanes", [
    pytest.param(*c) for c in MODEL_CONFIGS], ids=[f"{s}-{r}x{c}w{w}-k{k}" for s, r, c, w, k in MODEL_CONFIGS])
def test_array_proved_pe_model(sim, rows, cols, acc_width, lanes):
    run_bench("verif.benches.array_tb", "array",
              {"rows": rows, "cols": cols, "acc_width": acc_width, "lanes": lanes,
               "pe_model": "proved"}, sim)
