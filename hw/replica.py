"""Replicated registers: copies of one value that synthesis must keep apart.

A systolic array's control reaches PE(r, c) through ``r + c`` registers, so
every PE on an anti-diagonal sees the same value one register after another.
Yosys' ``opt_merge`` merges flip-flops with equal inputs, and it would fold
all those registers (and the format decode behind them) into one copy whose
fanout spans the die (docs/timing.md).  Registers made with :func:`replica`
carry the attribute ``REPLICA_ATTR``; the synthesis flow
(``hw.synth_yosys.yosys_script``) runs :data:`YOSYS_KEEP_REPLICAS` before
synthesizing, which puts ``keep`` on the flip-flops driving those wires, so
each copy survives with its own local fanout.

The attribute changes no behaviour: simulators ignore it, and a replica
holds exactly what the register it copies holds (tests/test_replica.py
counts the kept flip-flops in a synthesized array).
"""

from __future__ import annotations

from amaranth.hdl import Signal

__all__ = ["REPLICA_ATTR", "YOSYS_KEEP_REPLICAS", "replica"]

REPLICA_ATTR = "radix4_replica"

# Yosys commands (after ``hierarchy``): make the processes flip-flops, then
# mark every flip-flop that drives a replica wire ``keep`` (opt_merge leaves
# kept cells apart; flatten and the technology mapping keep the attribute).
YOSYS_KEEP_REPLICAS = (
    "proc",
    f"setattr -set keep 1 w:* a:{REPLICA_ATTR} %i %ci1 c:* %i t:*dff* %i",
)


def replica(shape, name: str, **kwargs) -> Signal:
    """A register signal marked as a replica (``REPLICA_ATTR``), kept apart
    from registers that hold the same value."""
    attrs = dict(kwargs.pop("attrs", {}) or {})
    attrs[REPLICA_ATTR] = 1
    return Signal(shape, name=name, attrs=attrs, **kwargs)
