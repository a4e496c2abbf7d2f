"""``radix4 verilog``: write the Verilog of the PE, the array (or the accelerator)."""

from __future__ import annotations

from scripts.errors import CliError

HELP = ("Generate Verilog for the PE, the systolic array, the accelerator tile (SPEC 4), "
        "the quantization unit or the tile with the unit on its result path (SPEC 1.7).")

# Tops with a quantization unit have their own generators (hw.quant_unit, hw.tile_quant).
QUANT_TOPS = {"quant": "the quantization unit alone", "qtile": "the tile with the unit"}
# Tops with rows; every top but pe has columns (quant: one lane group per column).
DIM_TOPS = ("array", "accel", "qtile")


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
    from hw.pe import DEFAULT_PE_LATENCY, PE_LATENCIES
    p.add_argument("--pe-latency", type=int, default=None, choices=PE_LATENCIES,
                   help="PE pipeline depth: 1 (product added in the same cycle), 2 "
                        "(registered product) or 3 (product in two stages); "
                        f"default {DEFAULT_PE_LATENCY}")
    p.add_argument("--quant-lanes", type=int, default=None,
                   help="quant/qtile only: datapath lanes of the unit, dividing --cols "
                        "(default: one per column for quant, the tile's default for qtile)")
    p.add_argument("--top", default="array", choices=_tops(),
                   help="which module (default array)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.v", help="Verilog file to write")


def run(args) -> int:
    from hw.verilog import generate
    from model.fileio import atomic_write_text
    from model.gemm import ACC_WIDTH_MAX, ACC_WIDTH_MIN
    from scripts.argtypes import check_depth, check_dim, output_path, write_output

    # Only the dimensions the top has: a PE has no rows, the unit no rows either.
    if args.top in DIM_TOPS:
        check_dim("--rows", args.rows)
    if args.top != "pe":
        check_dim("--cols", args.cols)
    if not ACC_WIDTH_MIN <= args.acc_width <= ACC_WIDTH_MAX:
        raise CliError(f"--acc-width must be in {ACC_WIDTH_MIN}..{ACC_WIDTH_MAX}, "
                       f"got {args.acc_width}")
    out = output_path("-o", args.output)
    if args.top in ("accel", "qtile"):
        check_depth(args.depth)
    if args.top in QUANT_TOPS:
        text = _quant_verilog(args)
    else:
        text = generate(args.top, rows=args.rows, cols=args.cols, acc_width=args.acc_width,
                        depth=args.depth, pe_latency=_pe_latency(args))
    write_output("-o", out, atomic_write_text, text)
    return 0


def _quant_verilog(args) -> str:
    from hw.quant_unit import check_lanes
    if args.top == "quant" and args.pe_latency is not None:
        raise CliError("--pe-latency: the quant top has no PE")
    try:
        check_lanes(args.cols, args.quant_lanes)
    except ValueError as exc:
        raise CliError(f"--quant-lanes: {exc}") from None
    if args.top == "quant":
        from hw.quant_unit import generate_verilog
        return generate_verilog(args.cols, args.acc_width, args.quant_lanes)
    from hw.tile_quant import generate_verilog
    return generate_verilog(args.rows, args.cols, args.acc_width, args.depth,
                            quant_lanes=args.quant_lanes, pe_latency=_pe_latency(args))


def _pe_latency(args) -> int:
    from hw.pe import DEFAULT_PE_LATENCY
    return DEFAULT_PE_LATENCY if args.pe_latency is None else args.pe_latency
