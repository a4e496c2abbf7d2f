"""``radix4 gemm``: exact GEMM of two code matrices (.npy in, .npy out).

With a block-scaled format (``--a-format``/``--b-format`` ``mxfp4`` or
``nvfp4``, issue 25) the GEMM runs on a tile of that format's PEs (``--pe``,
which then defaults to the format): operands are block-quantized matrices or
real ones (``scripts.block_operands``) and C is the float64 result of
``model.block_gemm`` (exact, rounded once), bit for bit on every backend.
"""

from __future__ import annotations

import numpy as np

from scripts.argtypes import load_npy
from scripts.errors import CliError

HELP = ("Exact GEMM C = A . B of 4-bit code matrices (SPEC 2), or of block-scaled MXFP4/NVFP4 "
        "matrices, on the golden model or the RTL.")


def add_arguments(p):
    from model.block_formats import BLOCK_FORMATS
    from model.config import ACC_WIDTH_MAX, ACC_WIDTH_MIN, DEFAULT_COLS, DEFAULT_DEPTH, DEFAULT_ROWS
    from model.hw_vocab import side_formats
    p.add_argument("--a", required=True, metavar="A.npy",
                   help="M x K code matrix (block formats: a block-quantized .npz or a real .npy)")
    p.add_argument("--b", required=True, metavar="B.npy",
                   help="K x N code matrix (block formats: as --a, blocks along K)")
    # The choices are the formats the datapath takes on each side (the
    # table's), and the block-scaled formats (both sides alike).
    p.add_argument("--a-format", required=True, choices=(*side_formats("a"), *BLOCK_FORMATS))
    p.add_argument("--b-format", required=True, choices=(*side_formats("b"), *BLOCK_FORMATS))
    from scripts.argtypes import add_pe_argument
    add_pe_argument(p, "the tile's PEs (default: the block format's for mxfp4/nvfp4 operands). ")
    p.add_argument("--sim", default="golden", choices=("golden", "verilator", "icarus"),
                   help="where the GEMM runs (default: golden)")
    # None when not given: model.config's default (and --device can tell it was given).
    p.add_argument("--rows", type=int, default=None,
                   help=f"array rows R (RTL only; 1..64, default {DEFAULT_ROWS})")
    p.add_argument("--cols", type=int, default=None,
                   help=f"array columns C (RTL only; 1..64, default {DEFAULT_COLS})")
    p.add_argument("--depth", type=int, default=None,
                   help=f"operand beats per tile bank (RTL only; power of two, default "
                        f"{DEFAULT_DEPTH})")
    p.add_argument("--acc-width", type=int, default=None,
                   help=f"accumulator width in bits, {ACC_WIDTH_MIN}..{ACC_WIDTH_MAX} (default "
                        "32; the block-scaled PEs: 64 only)")
    from scripts.argtypes import add_lanes_argument
    add_lanes_argument(p, "the PE's K-index group (RTL: the tile's PEs; golden: the overflow "
                          "rule's groups). ")
    from scripts.argtypes import add_pe_model_argument
    add_pe_model_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="C.npy",
                   help="int64 result, written to exactly this path (atomically; never an input)")
    from scripts.dask_options import add_dask_arguments
    add_dask_arguments(p)
    from scripts.bus_option import add_bus_argument
    add_bus_argument(p)
    p.add_argument("--device", default=None, metavar="PORT",
                   help="run on a board built by `radix4 bitstream` over its serial port "
                        "(e.g. /dev/ttyUSB0); the board reports its own size")
    p.add_argument("--baud", type=int, default=115200, help="--device baud rate (default 115200)")
    p.add_argument("--device-timeout", type=float, default=2.0, metavar="SECONDS",
                   help="--device: give up when the board is silent this long (default 2)")


def load_codes(path: str, label: str) -> np.ndarray:
    arr = load_npy(path, label)
    if not isinstance(arr, np.ndarray):
        raise CliError(f"{label}: {path} holds an archive, not one array")
    return arr


def block_format(args) -> str | None:
    """The block format of the GEMM (None: a radix-4 one), after the
    one-line checks that the formats and ``--pe`` agree; sets ``args.pe``."""
    from model.block_formats import BLOCK_FORMATS
    from model.config import DEFAULT_PE
    blocks = [f for f in (args.a_format, args.b_format) if f in BLOCK_FORMATS]
    if not blocks:
        if args.pe not in (None, DEFAULT_PE):
            raise CliError(f"--pe {args.pe} runs {args.pe} GEMMs only (--a-format and "
                           f"--b-format {args.pe}), not {args.a_format} x {args.b_format}")
        return None
    if args.a_format != args.b_format:
        raise CliError(f"a block-scaled GEMM takes one format on both sides, got "
                       f"--a-format {args.a_format} and --b-format {args.b_format}")
    fmt = args.a_format
    if args.pe not in (None, fmt):
        raise CliError(f"--a-format/--b-format {fmt} run on --pe {fmt}, not --pe {args.pe}")
    args.pe = fmt
    return fmt


def run(args) -> int:
    from scripts.argtypes import datapath_config, output_path, write_output
    fmt = block_format(args)
    # One configuration, checked before anything runs (SPEC 2: the same
    # --acc-width range on every backend; rows, cols and depth only where
    # the GEMM runs on the tile).
    config = datapath_config(args, skip=("rows", "cols", "depth") if args.sim == "golden" else ())
    out = output_path("-o", args.output, {"--a": args.a, "--b": args.b})
    from scripts.dask_options import dask_options
    dask = dask_options(args, args.sim)
    from scripts.bus_option import bus_options
    bus = bus_options(args, args.sim, dask)
    if fmt is not None:
        return _block_gemm(args, fmt, config, dask, bus, out)
    a = load_codes(args.a, "--a")
    b = load_codes(args.b, "--b")
    # Operands checked once, before a simulator is built or a Dask cluster
    # started (issue 24: `--workers 2` spent 10-16 s before refusing them).
    from model.backend import check_gemm
    op = check_gemm(a, b, args.a_format, args.b_format, name="cli",
                    datapath=args.sim != "golden")
    if args.device is not None:
        c = _on_device(args, op)
    else:
        from sim.factory import make_backend
        with make_backend(args.sim, config, **dask, **bus) as backend:
            c = backend.gemm_checked(op)
    from model.fileio import atomic_save_npy
    write_output("-o", out, atomic_save_npy, np.asarray(c, dtype=np.int64))
    return 0


def _block_gemm(args, fmt, config, dask, bus, out) -> int:
    """A block-scaled GEMM (module docstring): float64 C."""
    if args.device is not None or dask or bus.get("bus", "direct") != "direct":
        raise CliError(f"a {fmt} GEMM runs in one simulator or the golden model "
                       "(no --device, --bus axi, --workers or --scheduler)")
    from scripts.argtypes import write_output
    from scripts.block_operands import load_block_operand
    a = load_block_operand(args.a, "--a", fmt, "A")
    b = load_block_operand(args.b, "--b", fmt, "B")
    from model.block_backend import check_block_pe
    check_block_pe(fmt, a, b, name="cli")        # shapes, before a simulator is built
    from sim.factory import make_backend
    with make_backend(args.sim, config) as backend:
        c = backend.block_gemm(a, b, name="cli")
    from model.fileio import atomic_save_npy
    write_output("-o", out, atomic_save_npy, np.asarray(c, dtype=np.float64))
    return 0


def _on_device(args, op):
    """The GEMM on a board through its UART bridge (sim.uart_host); every
    failure (bad port, silence, corrupt frames, overflow) is one line."""
    if args.sim != "golden" or args.bus != "direct" or args.workers or args.scheduler:
        raise CliError("--device runs on the board; it takes no --sim, --bus, --workers "
                       "or --scheduler")
    from scripts.argtypes import CONFIG_FLAGS
    given = [flag for name, flag in CONFIG_FLAGS.items() if getattr(args, name, None) is not None]
    if given:
        # The bitstream fixed them; the host reads them from the board's CONFIG registers.
        raise CliError(f"--device: the board reports its own datapath; {given[0]} is not "
                       "taken (it was fixed by `radix4 bitstream`)")
    from model.backend import GemmOverflowError
    from sim.uart_host import DeviceError, SerialTransport, UartBackend
    try:
        with UartBackend(SerialTransport(args.device, args.baud,
                                                    args.device_timeout)) as backend:
            return backend.gemm_checked(op)
    except (DeviceError, GemmOverflowError) as exc:
        raise CliError(f"--device {args.device}: {exc}") from None
