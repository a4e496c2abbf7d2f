"""`radix4 verilog --top axi` (SPEC 4): the tile behind AXI, lint-clean, no
latch, ports named as cocotbext-axi and Vivado expect, widths from the tile."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hw.accel import load_layout
from hw.array import output_layout
from hw.axi_regs import ADDR_WIDTH, DATA_WIDTH
from hw.verilog import TOPS, generate, verilator_lint, yosys_synth
from tests.test_verilog import module_ports


def _bytes(bits):
    return 8 * ((bits + 7) // 8)


# Both in make test-slow (~17 s each); make lint checks the default AXI top too.
@pytest.mark.slow
@pytest.mark.parametrize("params", [dict(rows=2, cols=3, acc_width=18, depth=8),
                                    dict(rows=3, cols=1, acc_width=64, depth=4, pe_latency=1)])
def test_axi_top_is_lint_clean_and_synthesizes(tmp_path, params):
    text = generate("axi", **params)
    ports = module_ports(text, TOPS["axi"])
    R, C, W = params["rows"], params["cols"], params["acc_width"]
    from hw.pe_signature import PESignature
    pe = PESignature.from_formats(W, params.get("lanes", 1))
    expect = {
        "clk": ("input", 1), "rst": ("input", 1), "irq": ("output", 1),
        "s_axil_awaddr": ("input", ADDR_WIDTH), "s_axil_awvalid": ("input", 1),
        "s_axil_awready": ("output", 1), "s_axil_wdata": ("input", DATA_WIDTH),
        "s_axil_wstrb": ("input", DATA_WIDTH // 8), "s_axil_wvalid": ("input", 1),
        "s_axil_wready": ("output", 1), "s_axil_bresp": ("output", 2),
        "s_axil_bvalid": ("output", 1), "s_axil_bready": ("input", 1),
        "s_axil_araddr": ("input", ADDR_WIDTH), "s_axil_arvalid": ("input", 1),
        "s_axil_arready": ("output", 1), "s_axil_rdata": ("output", DATA_WIDTH),
        "s_axil_rresp": ("output", 2), "s_axil_rvalid": ("output", 1),
        "s_axil_rready": ("input", 1),
        "s_axis_tdata": ("input", _bytes(load_layout(R, C, pe).size)),
        "s_axis_tvalid": ("input", 1), "s_axis_tready": ("output", 1),
        "s_axis_tlast": ("input", 1),
        "m_axis_tdata": ("output", _bytes(output_layout(R, C, W).size)),
        "m_axis_tvalid": ("output", 1), "m_axis_tready": ("input", 1),
        "m_axis_tlast": ("output", 1),
    }
    assert ports == expect
    (tmp_path / "lint").mkdir()
    (tmp_path / "synth").mkdir()
    result = verilator_lint(text, TOPS["axi"], tmp_path / "lint")
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr and "%Error" not in result.stderr
    stats = yosys_synth(text, TOPS["axi"], tmp_path / "synth")
    assert not any("LATCH" in t.upper() for t in stats["by_type"])


def test_cli_writes_the_axi_top(tmp_path):
    out = tmp_path / "axi.v"
    proc = subprocess.run([sys.executable, "-m", "scripts.cli", "verilog", "--top", "axi",
                           "--rows", "2", "--cols", "2", "--depth", "4", "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "module radix4_axi(" in text and "depth=4" in text.splitlines()[0]
    bad = subprocess.run([sys.executable, "-m", "scripts.cli", "verilog", "--top", "axi",
                          "--depth", "3", "-o", str(tmp_path / "x.v")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
