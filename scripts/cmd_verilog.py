"""``radix4 verilog``: write the Verilog of the PE, the array (or the accelerator)."""

from __future__ import annotations

from pathlib import Path

from scripts.errors import CliError

HELP = ("Generate Verilog for the PE, the systolic array, the accelerator tile (SPEC 4), "
        "the quantization unit or the tile with the unit on its result path (SPEC 1.7).")

# Tops with a quantization unit have their own generators (hw.quant_unit, hw.tile_quant).
QUANT_TOPS = {"quant": "the quantization unit alone", "qtile": "the tile with the unit"}


def _tops():
    from hw.verilog import available_tops
    return available_tops() + list(QUANT_TOPS)


def add_arguments(p):
    p.add_argument("--rows", type=int, default=8, help="array rows R (default 8)")
    p.add_argument("--cols", type=int, default=8, help="array columns C (default 8)")
    p.add_argument("--acc-width", type=int, default=32,
                   help="accumulator width in bits, 18..64 (default 32)")
    # `accel` is only offered once hw.accel exists; anything else is a one-line
    # argparse error (exit 2).
    p.add_argument("--depth", type=int, default=512,
                   help="accel only: operand beats per bank, a power of two (default 512)")
    p.add_argument("--pe-latency", type=int, default=1, choices=(1, 2),
                   help="PE pipeline depth: 1 (product added in the same cycle) or 2 "
                        "(registered product); default 1")
    p.add_argument("--quant-lanes", type=int, default=None,
                   help="quant/qtile only: datapath lanes of the unit, dividing --cols "
                        "(default: one per column for quant, the tile's default for qtile)")
    p.add_argument("--top", default="array", choices=_tops(),
                   help="which module (default array)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.v", help="Verilog file to write")


def run(args) -> int:
    from hw.array import MAX_DIM
    from hw.verilog import generate
    from model.gemm import ACC_WIDTH_MAX, ACC_WIDTH_MIN

    for flag, value in (("--rows", args.rows), ("--cols", args.cols)):
        if not 1 <= value <= MAX_DIM:
            raise CliError(f"{flag} must be in 1..{MAX_DIM}, got {value}")
    if not ACC_WIDTH_MIN <= args.acc_width <= ACC_WIDTH_MAX:
        raise CliError(f"--acc-width must be in {ACC_WIDTH_MIN}..{ACC_WIDTH_MAX}, "
                       f"got {args.acc_width}")
    out = Path(args.output)
    if out.is_dir():
        raise CliError(f"-o {out}: is a directory")
    if not out.parent.exists():
        raise CliError(f"-o {out}: directory {out.parent} does not exist")
    if args.top == "accel" and (args.depth < 2 or args.depth > 65536
                                or args.depth & (args.depth - 1)):
        raise CliError(f"--depth must be a power of two in 2..65536, got {args.depth}")
    if args.top in QUANT_TOPS:
        text = _quant_verilog(args)
    else:
        text = generate(args.top, rows=args.rows, cols=args.cols, acc_width=args.acc_width,
                        depth=args.depth, pe_latency=args.pe_latency)
    from verif.toolchain import write_atomic
    try:
        write_atomic(out, text)
    except OSError as exc:
        raise CliError(f"-o {out}: {exc.strerror or exc}") from None
    return 0


def _quant_verilog(args) -> str:
    from hw.quant_unit import check_lanes
    if args.pe_latency != 1:
        raise CliError(f"--pe-latency {args.pe_latency}: the {args.top} top builds its PE at latency 1")
    try:
        check_lanes(args.cols, args.quant_lanes)
    except ValueError as exc:
        raise CliError(f"--quant-lanes: {exc}") from None
    if args.top == "quant":
        from hw.quant_unit import generate_verilog
        return generate_verilog(args.cols, args.acc_width, args.quant_lanes)
    from hw.tile_quant import generate_verilog
    return generate_verilog(args.rows, args.cols, args.acc_width, args.depth,
                            quant_lanes=args.quant_lanes)
