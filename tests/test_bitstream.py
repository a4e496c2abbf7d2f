"""`radix4 bitstream --board ulx3s-85f` (issue 26): a real Yosys / nextpnr-ecp5 /
ecppack run of the board top, small tile (slow: about 5 minutes)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bitstream_for_ulx3s(tmp_path):
    out = tmp_path / "bs"
    proc = subprocess.run([sys.executable, "-m", "scripts.cli", "bitstream", "--board",
                           "ulx3s-85f", "--rows", "2", "--cols", "2", "--depth", "64",
                           "-o", str(out)], capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bit = out / "radix4_board.bit"
    assert bit.is_file() and bit.stat().st_size > 100_000
    report = (out / "report.md").read_text()
    assert "timing (nextpnr's estimate): met" in report and "TRELLIS_COMB" in report, report
    assert "50 MHz from the board's 25 MHz by the PLL" in report, report


@pytest.mark.slow
def test_bitstream_at_a_clock_it_cannot_meet_fails_in_one_line(tmp_path):
    """400 MHz is a clock the PLL makes exactly (VCO 400 MHz) and the design
    cannot meet: nextpnr refuses, the command says so in one line, no .bit."""
    out = tmp_path / "bs"
    proc = subprocess.run([sys.executable, "-m", "scripts.cli", "bitstream", "--board",
                           "ulx3s-85f", "--rows", "2", "--cols", "2", "--depth", "64",
                           "--clock-mhz", "400", "-o", str(out)],
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "timing not met" in proc.stderr and "FAIL at 400.00 MHz" in proc.stderr, proc.stderr
    assert not (out / "radix4_board.bit").exists() and not (out / "report.md").exists()


def test_tool_error_names_the_missed_clock(tmp_path):
    from hw.board_build import NAME, _tool_error
    assert _tool_error(tmp_path) is None                     # no log: the caller's message
    (tmp_path / f"{NAME}.tim").write_text(
        "Info: Max frequency for clock 'clk': 60.47 MHz (FAIL at 75.00 MHz)\n"
        "ERROR: Max frequency for clock 'clk': 74.20 MHz (FAIL at 75.00 MHz)\n"
        "0 warnings, 1 error\n")
    msg = _tool_error(tmp_path)
    assert msg.startswith("timing not met: Max frequency for clock 'clk': 74.20 MHz"), msg
    (tmp_path / f"{NAME}.tim").write_text("ERROR: Unable to place cell 'x'\n")
    assert _tool_error(tmp_path) == "nextpnr: Unable to place cell 'x'"


def test_bitstream_refuses_bad_input(tmp_path):
    # Every refusal comes before the build: nothing is written.
    f = tmp_path / "file"
    f.write_text("x")
    for args in (["--board", "ulx3s-12f"], ["--board", "ulx3s-85f", "--rows", "0"],
                 ["--board", "ulx3s-85f", "-o", str(f)],
                 ["--board", "ulx3s-85f", "--clock-mhz", "33.3", "-o", str(tmp_path / "n")],
                 ["--board", "ulx3s-85f", "--clock-mhz", "nan", "-o", str(tmp_path / "n")]):
        proc = subprocess.run([sys.executable, "-m", "scripts.cli", "bitstream", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, \
            (args, proc.stderr)
    assert not (tmp_path / "n").exists()


def test_nextpnr_log_parser():
    from hw.board_build import parse_nextpnr_log
    text = ("Info: Max frequency for clock '$glbnet$clk': 93.56 MHz (PASS at 25.00 MHz)\n"
            "Info: \t        TRELLIS_COMB:    2301/  83640     2%\n"
            "Info: Max frequency for clock '$glbnet$pll': 48.10 MHz (FAIL at 50.00 MHz)\n"
            "Info: Max frequency for clock '$glbnet$clk': 102.21 MHz (PASS at 25.00 MHz)\n")
    clocks, util = parse_nextpnr_log(text)
    assert clocks == {"$glbnet$clk": (102.21, 25.0), "$glbnet$pll": (48.10, 50.0)}
    assert util == {"TRELLIS_COMB": (2301, 83640)}


def test_report_says_not_met_when_one_clock_misses():
    from pathlib import Path

    from hw.board_build import BuildReport
    from model.config import DatapathConfig
    clocks = {"a": (102.2, 25.0), "b": (48.1, 50.0)}
    report = BuildReport(Path("x.bit"), 1.0, clocks, 50.0, 25.0, {"TRELLIS_COMB": (1, 2)})
    assert not report.met and "NOT met" in report.markdown("ulx3s-85f", DatapathConfig())
    report.clocks["b"] = (50.0, 50.0)
    assert report.met and "timing (nextpnr's estimate): met" in report.markdown(
        "ulx3s-85f", DatapathConfig())


@pytest.mark.parametrize("fin, fout, divs", [
    # Project Trellis' ecppll for these clocks (its output as checked into
    # public designs): CLKI_DIV, CLKFB_DIV, CLKOP_DIV.
    (25, 100, (1, 4, 6)),
    (12, 16, (3, 4, 37)),
    (25, 50, (1, 2, 12)),
])
def test_pll_dividers(fin, fout, divs):
    from hw.ecp5_pll import pll_setting
    s = pll_setting(fin, fout)
    assert (s.clki_div, s.clkfb_div, s.clkop_div) == divs
    assert fin * s.clkfb_div == fout * s.clki_div and 400 <= fout * s.clkop_div <= 800


@pytest.mark.parametrize("fout", [33.3, 0.5, 900, 25 * 81])
def test_pll_refuses_a_clock_it_cannot_make_exactly(fout):
    from hw.ecp5_pll import PllError, pll_setting
    with pytest.raises(PllError, match="cannot make exactly"):
        pll_setting(25, fout)


def test_board_top_clock_and_baud():
    from hw.board import BAUD, BoardTop
    from model.config import DatapathConfig
    top = BoardTop(DatapathConfig(rows=2, cols=2, depth=64), clk_hz=50_000_000,
                   in_hz=25_000_000)
    assert top.pll is not None and top.core.divisor == round(50e6 / BAUD) == 434
    direct = BoardTop(DatapathConfig(rows=2, cols=2, depth=64), clk_hz=25_000_000,
                      in_hz=25_000_000)
    assert direct.pll is None and direct.core.divisor == 217
