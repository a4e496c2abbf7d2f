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
