"""The quantization tile's extra streams on the AXI shell (``hw.axi_shell``).

When the shell's tile is ``hw.tile_quant.QuantTile`` (it has a ``qcfg``
stream), each of the tile's unit streams becomes its own AXI4-Stream port:

=================  ======  ==========================================================
port prefix        dir     tile stream (payload = tdata, zero-padded to whole bytes)
=================  ======  ==========================================================
``s_axis_qcfg``    in      ``qcfg``: one unit configuration per beat (tlast ignored)
``s_axis_mask``    in      ``mask``: one row's mask per beat (tlast ignored)
``s_axis_rq``      in      ``requant``: stored INT32 rows, each with its ``last``
                           bit (tlast ignored: a unit job may span the host's
                           batches, and a DMA frame ends with tlast)
``m_axis_q``       out     ``qout``: one row of codes per beat; ``tlast`` = its ``last``
                           (the unit job's last row, the one carrying ``amax``)
=================  ======  ==========================================================

Why ports and not a mux on ``s_axis``/``m_axis`` (docs/integration.md): the
streams are live at the same time and paced by each other inside the tile:
a unit job's rows take a mask beat each *while* the array drains, the unit
takes its ``qcfg`` between jobs while the next job's operands load, and route
2 ("both") emits INT32 rows and code rows in lockstep.  One shared port would
need the host to interleave beats in exactly the order the hardware consumes
them (or buffers per stream inside the shell) and a wrong order deadlocks; four
ports cost only wires and map one-to-one onto DMA channels.
"""

from amaranth.hdl import Signal
from amaranth.lib.wiring import In, Out

from .quant_unit import cfg_rejected

__all__ = ["QUANT_PORTS", "quant_members", "quant_bytes", "connect_quant"]

# port prefix -> (tile stream, direction of the tdata port)
QUANT_PORTS = {"s_axis_qcfg": ("qcfg", In), "s_axis_mask": ("mask", In),
               "s_axis_rq": ("requant", In), "m_axis_q": ("qout", Out)}


def _bits(tile_members, stream: str) -> int:
    return tile_members[stream].signature.members["payload"].shape.size


def quant_bytes(tile_members) -> dict[str, int]:
    """tdata bytes per port prefix."""
    return {prefix: (_bits(tile_members, stream) + 7) // 8
            for prefix, (stream, _) in QUANT_PORTS.items()}


def quant_members(tile_members) -> dict:
    members = {}
    for prefix, (stream, d) in QUANT_PORTS.items():
        back = Out if d is In else In
        members.update({f"{prefix}_tdata": d(8 * quant_bytes(tile_members)[prefix]),
                        f"{prefix}_tvalid": d(1), f"{prefix}_tready": back(1),
                        f"{prefix}_tlast": d(1)})
    return members


def connect_quant(m, shell, tile, err: dict) -> None:
    """Wire the unit streams of ``tile`` to ``shell``'s ports; ``err["qcfg_bad"]``
    pulses when the unit takes (and drops) a configuration it rejects."""
    for prefix, (stream, d) in QUANT_PORTS.items():
        port = {n: getattr(shell, f"{prefix}_{n}") for n in ("tdata", "tvalid", "tready", "tlast")}
        inner = getattr(tile, stream)
        bits = len(inner.payload.as_value())
        if d is In:
            m.d.comb += [inner.payload.eq(port["tdata"][:bits]),
                         inner.valid.eq(port["tvalid"]),
                         port["tready"].eq(inner.ready)]
        else:
            m.d.comb += [port["tdata"].eq(inner.payload.as_value()),
                         port["tvalid"].eq(inner.valid),
                         inner.ready.eq(port["tready"]),
                         port["tlast"].eq(inner.payload.last)]
    qcfg_bad = Signal()
    m.d.comb += [qcfg_bad.eq(tile.qcfg.valid & tile.qcfg.ready & cfg_rejected(tile.qcfg.payload)),
                 err["qcfg_bad"].eq(qcfg_bad)]
