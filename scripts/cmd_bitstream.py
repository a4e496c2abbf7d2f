"""``radix4 bitstream``: a bitstream of the board top (issue 26; docs/integration.md)."""

from __future__ import annotations

from pathlib import Path

from scripts.errors import CliError

HELP = ("Build a bitstream of the board top (UART bridge, AXI shell, tile) with the "
        "YoWASP tools, and a timing/utilisation report (slow: minutes to hours).")


def add_arguments(p):
    p.add_argument("--board", required=True, choices=("ulx3s-85f",),
                   help="target board (ULX3S with an LFE5U-85F, 25 MHz clock)")
    p.add_argument("--rows", type=int, default=None, help="array rows R (default 8)")
    p.add_argument("--cols", type=int, default=None, help="array columns C (default 8)")
    p.add_argument("--acc-width", type=int, default=32,
                   help="accumulator width in bits, 18..64 (default 32)")
    p.add_argument("--depth", type=int, default=None,
                   help="operand beats per bank, a power of two (default 512)")
    p.add_argument("--pe-latency", type=int, default=None, help="PE latency 1..3 (default 3)")
    p.add_argument("-o", "--out-dir", default=None, metavar="DIR",
                   help="build directory (default build/bitstream-<board>); the .bit and "
                        "report.md are written there")


def run(args) -> int:
    from scripts.argtypes import datapath_config
    config = datapath_config(args)
    out = Path(args.out_dir or f"build/bitstream-{args.board}")
    if out.exists() and not out.is_dir():
        raise CliError(f"-o {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    from hw.board_build import build_bitstream
    from model.fileio import atomic_write_text
    try:
        report = build_bitstream(args.board, config, out)
    except Exception as exc:     # tool failures: one line, the logs are in the directory
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise CliError(f"build failed ({msg}); logs in {out}") from None
    text = report.markdown(args.board, config)
    atomic_write_text(out / "report.md", text)
    print(text, end="")
    print(f"bitstream: {report.bitstream}")
    return 0
