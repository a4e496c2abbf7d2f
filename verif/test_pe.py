"""The PE bench (verif/benches/pe_tb.py) on both simulators and three widths."""

import pytest

from verif.harness import run_bench


@pytest.mark.cocotb
@pytest.mark.parametrize("acc_width", [18, 32, 64])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_pe(sim, acc_width):
    run_bench("verif.benches.pe_tb", "pe", {"acc_width": acc_width}, sim)
