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
    assert "(met)" in report and "TRELLIS_COMB" in report, report


def test_bitstream_refuses_bad_input(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for args in (["--board", "ulx3s-12f"], ["--board", "ulx3s-85f", "--rows", "0"],
                 ["--board", "ulx3s-85f", "-o", str(f)]):
        proc = subprocess.run([sys.executable, "-m", "scripts.cli", "bitstream", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, \
            (args, proc.stderr)


def test_nextpnr_log_parser():
    from hw.board_build import parse_nextpnr_log
    text = ("Info: Max frequency for clock '$glbnet$clk': 93.56 MHz (PASS at 25.00 MHz)\n"
            "Info: \t        TRELLIS_COMB:    2301/  83640     2%\n"
            "Info: Max frequency for clock '$glbnet$clk': 102.21 MHz (PASS at 25.00 MHz)\n")
    assert parse_nextpnr_log(text) == (102.21, {"TRELLIS_COMB": (2301, 83640)})
