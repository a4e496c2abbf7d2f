"""``radix4 verilog``: write the Verilog of the PE, the array (or the accelerator)."""

from __future__ import annotations

from scripts.errors import CliError

HELP = ("Generate Verilog for the PE, the systolic array, the accelerator tile (SPEC 4), "
        "the tile behind AXI4-Lite/AXI4-Stream ports (axi; docs/integration.md), "
        "the quantization unit or the tile with the unit on its result path (SPEC 1.7).")

# Tops with a quantization unit have their own generators (hw.quant_unit, hw.tile_quant).
QUANT_TOPS = {"quant": "the quantization unit alone", "qtile": "the tile with the unit"}
# Tops with rows; every top but pe has columns (quant: one lane group per column).
DIM_TOPS = ("array", "accel", "qtile", "axi")
# Tops with operand banks (--depth).
BANK_TOPS = ("accel", "qtile", "axi")
# The tiles the AXI shell (--top axi) wraps: --tile names them as --top does.
SHELL_TILES = ("accel", "qtile")


def _tops():
    from hw.verilog import available_tops
    return available_tops() + list(QUANT_TOPS)


def add_arguments(p):
    # None when not given: a flag the chosen top lacks is refused, not ignored.
    p.add_argument("--rows", type=int, default=None, help="array rows R (default 8)")
    p.add_argument("--cols", type=int, default=None, help="array columns C (default 8)")
    p.add_argument("--acc-width", type=int, default=None,
                   help="accumulator width in bits, 18..64 (default 32; the block-scaled PEs: "
                        "64 only)")
    # `accel` is only offered once hw.accel exists; anything else is a one-line
    # argparse error (exit 2).
    p.add_argument("--depth", type=int, default=None,
                   help="accel, qtile and axi only: operand beats per bank, a power of two (default 512)")
    from scripts.argtypes import add_lanes_argument, add_pe_argument, add_pe_latency_argument
    add_pe_argument(p, "pe/array/accel: ")
    add_pe_latency_argument(p)
    add_lanes_argument(p, "pe/array/accel/qtile: ")
    p.add_argument("--quant-lanes", type=int, default=None,
                   help="quant/qtile (and axi --tile qtile) only: datapath lanes of the unit, "
                        "dividing --cols (default: one per column for quant, the tile's "
                        "default for qtile)")
    p.add_argument("--tile", default=None, choices=SHELL_TILES,
                   help="axi only: the tile behind the AXI shell: accel (default) or qtile "
                        "(the tile with the quantization unit, module radix4_axi_qtile; "
                        "docs/integration.md)")
    p.add_argument("--top", default="array", choices=_tops(),
                   help="which module (default array)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.v", help="Verilog file to write")


def run(args) -> int:
    from hw.verilog import generate
    from model.fileio import atomic_write_text
    from scripts.argtypes import datapath_config, output_path, write_output

    # One configuration, of the fields the top has: a PE has no rows or
    # columns, the unit no rows, only the tiles a bank depth, the unit no PE.
    skip = ()
    if args.top not in DIM_TOPS:
        skip += ("rows",)
    if args.top == "pe":
        skip += ("cols",)
    if args.top not in BANK_TOPS:
        skip += ("depth",)
    if args.top == "quant":
        skip += ("pe_latency", "lanes")
    from hw.verilog import PE_KIND_TOPS
    if args.top not in PE_KIND_TOPS:
        skip += ("pe",)
    lacks = [name for name in skip if getattr(args, name, None) is not None]
    if args.tile is not None and args.top != "axi":
        lacks.append("tile")
    shell_quant = args.top == "axi" and args.tile == "qtile"
    if args.top not in QUANT_TOPS and args.quant_lanes is not None and not shell_quant:
        lacks.append("quant_lanes")
    if lacks:
        flag = "--" + lacks[0].replace("_", "-")
        raise CliError(f"{flag}: the {args.top} top has no such parameter "
                       f"(it takes: {_takes(args.top)})")
    config = datapath_config(args, skip=skip)
    out = output_path("-o", args.output)
    if args.top in QUANT_TOPS or shell_quant:
        text = _quant_verilog(args, config)
    else:
        text = generate(args.top, config=config)
    write_output("-o", out, atomic_write_text, text)
    return 0


def _takes(top: str) -> str:
    """The design flags ``top`` takes, for the refusal above."""
    flags = ["--rows"] if top in DIM_TOPS else []
    flags += ["--cols"] if top != "pe" else []
    flags += ["--acc-width"]
    flags += ["--depth"] if top in BANK_TOPS else []
    flags += ["--pe-latency", "--lanes"] if top != "quant" else []
    from hw.verilog import PE_KIND_TOPS
    flags += ["--pe"] if top in PE_KIND_TOPS else []
    flags += ["--quant-lanes"] if top in QUANT_TOPS else []
    flags += ["--tile", "--quant-lanes (with --tile qtile)"] if top == "axi" else []
    return ", ".join(flags)


def _quant_verilog(args, config) -> str:
    from hw.quant_unit import check_lanes
    try:
        check_lanes(config.cols, args.quant_lanes)
    except ValueError as exc:
        raise CliError(f"--quant-lanes: {exc}") from None
    if args.top == "quant":
        from hw.quant_unit import generate_verilog
        return generate_verilog(lanes=args.quant_lanes, config=config)
    if args.top == "axi":
        from hw.verilog import generate
        return generate("axi_qtile", config=config, quant_lanes=args.quant_lanes)
    from hw.tile_quant import generate_verilog
    return generate_verilog(quant_lanes=args.quant_lanes, config=config)
