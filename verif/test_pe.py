"""The PE bench (verif/benches/pe_tb.py): Icarus at three widths, Verilator at one.

Every test of the bench (exhaustive products, random sums, the overflow
boundary, reset mid-sum) runs on both simulators at W = 18, where the
boundary is reachable.  W = 32 and 64 run on Icarus only: a Verilator build
costs 1-5 minutes of the `make test` budget (docs/verification.md).
"""

import pytest

from verif.harness import run_bench

CONFIGS = [("icarus", 18), ("icarus", 32), ("icarus", 64), ("verilator", 18)]


@pytest.mark.cocotb
@pytest.mark.parametrize("sim,acc_width", CONFIGS, ids=[f"{s}-w{w}" for s, w in CONFIGS])
def test_pe(sim, acc_width):
    run_bench("verif.benches.pe_tb", "pe", {"acc_width": acc_width}, sim)
