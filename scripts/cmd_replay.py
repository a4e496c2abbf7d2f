"""``radix4 replay``: stream a recorded GEMM trace through the simulated RTL.

The trace (``model.trace``, schema in docs/traces.md) is loaded and checked
in full -- including every stored result against the golden model -- before
any simulator starts, so a corrupt or mismatched file exits 2 at once.  Each
GEMM then runs on ``sim.factory.make_backend(--sim)`` and its int64 result is
compared with the recorded one.  One line per GEMM on stdout, a progress bar
on stderr, a summary last.  Exit 0 iff every GEMM is bit-exact, 1 if any is
not (they are named, with the count and the (i, j) of the first wrong outputs,
row-major), 2 on bad input.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from scripts.errors import CliError

HELP = "Replay a recorded GEMM trace (.npz) on the RTL; exit 0 iff every GEMM is bit-exact."


def add_arguments(p):
    from scripts.argtypes import positive_int
    p.add_argument("trace", metavar="TRACE.npz", help="trace written by model.trace")
    p.add_argument("--sim", default="verilator", choices=("verilator", "icarus"),
                   help="simulator running the accelerator tile (default: verilator)")
    p.add_argument("--rows", type=positive_int("--rows"), default=8,
                   help="array rows R, 1..64 (default 8)")
    p.add_argument("--cols", type=positive_int("--cols"), default=8,
                   help="array columns C, 1..64 (default 8)")
    p.add_argument("--depth", type=int, default=512,
                   help="operand beats per tile bank (default 512)")
    p.add_argument("--acc-width", type=int, default=None,
                   help="accumulator width (default: the trace's, normally 32)")
    from scripts.argtypes import add_lanes_argument
    add_lanes_argument(p)
    from scripts.dask_options import add_dask_arguments
    add_dask_arguments(p)


def _parts(fmt: str) -> tuple[str, ...]:
    """4-bit formats the datapath sees for an operand format (8-bit: its nibbles)."""
    from model.quant import WIDE_FORMATS
    if fmt in WIDE_FORMATS:
        return (WIDE_FORMATS[fmt][2], "uint4")
    return (fmt,)


def runnable(a_format: str, b_format: str) -> bool:
    """Can the datapath run this pair in some orientation (the format table's side rule)?"""
    from model.hw_vocab import hardware_orientation
    for fa in _parts(a_format):
        for fb in _parts(b_format):
            try:
                hardware_orientation(fa, fb)
            except ValueError:
                return False
    return True


def run(args) -> int:
    from model.config import DatapathConfig
    from model.trace import TraceError, load_trace
    from scripts.argtypes import datapath_config
    config = datapath_config(args)     # the flags, refused before the trace is read
    try:
        trace = load_trace(args.trace)
    except TraceError as exc:
        raise CliError(str(exc)) from None
    for r in trace:
        if not runnable(r.a_format, r.b_format):
            raise CliError(f"{args.trace}: GEMM {r.index} ({r.name!r}) is {r.a_format} x "
                           f"{r.b_format}, which the datapath does not implement")
    if args.acc_width is None:         # the width the trace was recorded with
        config = DatapathConfig.of(config, acc_width=trace.acc_width)
    if len(trace) == 0:
        print(f"{args.trace}: empty trace, nothing to replay")
        return 0

    from tqdm import tqdm

    from model.backend import GemmOverflowError
    from sim.factory import make_backend

    mismatches, first_wrong = [], None
    total_cycles = total_mac_pe = 0
    total_macs = 0
    t0 = time.perf_counter()
    width = max(len(r.name) for r in trace)
    from scripts.dask_options import dask_options
    dask = dask_options(args, args.sim)
    with make_backend(args.sim, config, **dask) as backend:
        bar = tqdm(total=sum(r.macs for r in trace), file=sys.stderr, unit="MAC",
                   unit_scale=True, desc=f"replay on {args.sim}", leave=False)
        try:
            for r in trace:
                m, k, n = r.shape
                try:
                    got = backend.gemm(r.a, r.b, r.a_format, r.b_format, name=r.name)
                    wrong = r.mismatch(np.asarray(got, dtype=np.int64))
                    ok, note = wrong is None, "" if wrong is None else f" ({wrong})"
                except GemmOverflowError as exc:
                    ok, note = False, f" (raised: {exc})"
                stats = backend.last_stats
                cycles = int(stats.get("cycles", 0))
                util = stats.get("utilisation")
                total_cycles += cycles
                total_mac_pe += int(stats.get("mac_pe_cycles", 0))
                total_macs += r.macs
                util_text = f"{util:.3f}" if isinstance(util, (int, float)) else "n/a"
                if not ok:
                    mismatches.append(f"{r.index}:{r.name}")
                    first_wrong = first_wrong or f"GEMM {r.index} {r.name}:{note}"
                tqdm.write(f"[{r.index:4d}] {r.name:<{width}}  {m}x{k}x{n}  "
                           f"{r.a_format} x {r.b_format}  bit-exact={'yes' if ok else 'NO'}  "
                           f"cycles={cycles}  util={util_text}{note}", file=sys.stdout)
                bar.update(r.macs)
        finally:
            bar.close()
    wall = time.perf_counter() - t0
    # MAC-active PE-cycles over R*C*cycles: the same ratio as MACs over R*C*k*cycles.
    cells = args.rows * args.cols
    overall = total_mac_pe / (cells * total_cycles) if total_cycles else float("nan")
    print(f"summary: {len(trace) - len(mismatches)}/{len(trace)} GEMMs bit-exact on {args.sim} "
          f"{args.rows}x{args.cols} k={config.lanes}; {total_macs} MACs, {total_cycles} cycles, "
          f"utilisation {overall:.3f}, {wall:.1f} s")
    if mismatches:
        print(f"MISMATCH in {len(mismatches)} GEMM(s): {', '.join(mismatches)}; "
              f"first: {first_wrong}")
        return 1
    return 0
