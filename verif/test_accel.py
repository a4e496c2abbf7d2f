"""The accelerator-tile bench (verif/benches/accel_tb.py), Icarus only.

A small tile (2x3, W = 18 so overflow is reachable, depth 8 so jobs of
K = depth and chains longer than a bank are cheap).  The tile's Verilator
side is exercised by tests/test_rtl_backend.py through sim/host.py; a second
Verilator build here would cost minutes of the `make test` budget
(docs/verification.md).
"""

import pytest

from verif.harness import run_bench

PARAMS = {"rows": 2, "cols": 3, "acc_width": 18, "depth": 8}


@pytest.mark.cocotb
@pytest.mark.parametrize("sim", ["icarus"])
def test_accel(sim):
    run_bench("verif.benches.accel_tb", "accel", PARAMS, sim)


@pytest.mark.cocotb
@pytest.mark.slow   # 20-30 s on Icarus; tests/test_driver_lanes.py drives the k = 8 tile in make test
@pytest.mark.parametrize("sim", ["icarus"])
def test_accel_lanes(sim):
    """The same bench with 8-lane PEs (the design default k, docs/lanes.md):
    k codes per PE input per beat from the banks, jobs' K zero-padded.
    Depth 16: the 8-lane PE's latency 5 moves a row's ``done`` 2 cycles later
    (hw/grid.py), so back-to-back GEMMs of 8 beats on a 2x3 array wait for the
    drain (7 stall cycles in 8 jobs measured); 16-beat jobs stream."""
    run_bench("verif.benches.accel_tb", "accel", {**PARAMS, "lanes": 8, "depth": 16}, sim)


@pytest.mark.cocotb
@pytest.mark.slow   # 22 s on Icarus at load ~7
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_accel_proved_pe_model(sim):
    """The 8-lane tile bench with every PE the proved word-level model
    (``pe_model="proved"``, hw.dot_pe_model; k = 8, latency 5, W = 18 is proved)."""
    run_bench("verif.benches.accel_tb", "accel",
              {**PARAMS, "lanes": 8, "depth": 16, "pe_model": "proved"}, sim)
