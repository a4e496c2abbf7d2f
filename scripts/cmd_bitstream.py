"""``radix4 bitstream``: a bitstream of the board top (issue 26; docs/integration.md)."""

from __future__ import annotations

from pathlib import Path

from scripts.errors import CliError

HELP = ("Build a bitstream of the board top (UART bridge, AXI shell, tile) with the "
        "YoWASP tools, and a timing/utilisation report (slow: minutes to hours).")


# The default 8x8 board top meets 50 MHz at 82.3 MHz, and misses 75 MHz at
# 74.2 (docs/integration.md, "Board flow").
DEFAULT_CLOCK_MHZ = 50.0


def add_arguments(p):
    from scripts.argtypes import add_lanes_argument, add_pe_latency_argument, positive_float
    p.add_argument("--board", required=True, choices=("ulx3s-85f",),
                   help="target board (ULX3S with an LFE5U-85F, 25 MHz oscillator)")
    p.add_argument("--clock-mhz", type=positive_float("--clock-mhz"), default=DEFAULT_CLOCK_MHZ,
                   metavar="MHZ",
                   help="the design's clock, made from the board's oscillator by the "
                        f"ECP5 PLL, exactly (default {DEFAULT_CLOCK_MHZ:g}; 25: the "
                        "oscillator itself, no PLL); the build fails if timing is not met")
    p.add_argument("--rows", type=int, default=None, help="array rows R (default 8)")
    p.add_argument("--cols", type=int, default=None, help="array columns C (default 8)")
    p.add_argument("--acc-width", type=int, default=32,
                   help="accumulator width in bits, 18..64 (default 32)")
    p.add_argument("--depth", type=int, default=None,
                   help="operand beats per bank, a power of two (default 512)")
    add_lanes_argument(p)
    add_pe_latency_argument(p)
    p.add_argument("-o", "--out-dir", default=None, metavar="DIR",
                   help="build directory (default build/bitstream-<board>); the .bit and "
                        "report.md are written there")


def run(args) -> int:
    from scripts.argtypes import datapath_config
    config = datapath_config(args)
    from hw.ecp5_pll import PllError, pll_setting
    from hw.board_build import BOARDS
    in_mhz = BOARDS[args.board]().default_clk_frequency / 1e6
    if args.clock_mhz != in_mhz:
        try:
            pll_setting(in_mhz, args.clock_mhz)
        except PllError as exc:
            raise CliError(f"--clock-mhz {args.clock_mhz:g}: {exc}") from None
    out = Path(args.out_dir or f"build/bitstream-{args.board}")
    if out.exists() and not out.is_dir():
        raise CliError(f"-o {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    from hw.board_build import build_bitstream
    from model.fileio import atomic_write_text
    try:
        report = build_bitstream(args.board, config, out, args.clock_mhz)
    except Exception as exc:     # tool failures: one line, the logs are in the directory
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise CliError(f"build failed ({msg}); logs in {out}") from None
    text = report.markdown(args.board, config)
    atomic_write_text(out / "report.md", text)
    print(text, end="")
    print(f"bitstream: {report.bitstream}")
    return 0
