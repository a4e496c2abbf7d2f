"""``--bus axi``: run the RTL GEMMs through the AXI shell (issue 26).

Shared by ``radix4 gemm`` and ``radix4 train``.  ``--bus direct`` (the
default) streams jobs into the tile's own ports from the host testbench
(``sim.host``); ``--bus axi`` builds ``radix4_axi`` (the tile behind
AXI4-Lite control and AXI4-Stream data, ``hw.axi_shell``) and programs every
job over the bus with cocotbext-axi (``sim.axi_backend``), the sequence a
host CPU on a board would run (docs/integration.md).  Same results, checked
against the same golden model; slower (Python drives the bus each cycle).
"""

from __future__ import annotations

from scripts.errors import CliError

BUSES = ("direct", "axi")


def add_bus_argument(p):
    p.add_argument("--bus", default="direct", choices=BUSES,
                   help="RTL only: 'direct' streams jobs into the tile's ports (default); "
                        "'axi' programs each job through the AXI shell's AXI4-Lite and "
                        "AXI4-Stream ports (docs/integration.md), as a host CPU would")


def bus_options(args, sim: str, dask: dict) -> dict:
    """``{}`` or ``{"bus": "axi"}`` for ``make_backend``; impossible mixes -> CliError.
    The on-chip recipes' tile (with the quantization unit) has its shell too
    (``radix4_axi_qtile``)."""
    if args.bus == "direct":
        return {}
    if sim not in ("verilator", "icarus"):
        raise CliError(f"--bus {args.bus} runs the RTL; it needs an RTL simulator "
                       f"(verilator or icarus), not {sim}")
    if dask:
        raise CliError(f"--bus {args.bus} runs in one simulator (no --workers/--scheduler)")
    return {"bus": args.bus}
