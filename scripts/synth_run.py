"""The work of ``radix4 synth``: per design, Yosys then nextpnr, resumable.

Every design's outcome is stored in ``<workdir>/<key>/entry.json`` together
with a fingerprint of everything that decides it: the design's Verilog, the
Yosys flows, the place-and-route plan (devices, seed, target clock, time
budget) and the tool versions.  A later run with the same fingerprint takes
the stored entry instead of running the tools again, so a run that was
stopped (Ctrl-C, a lost session, ``--background`` killed) resumes from the
designs it had finished; anything that changes a result changes the
fingerprint and reruns that design only.  ``results.json`` is rewritten
after every design, so a long run shows its partial results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from model.fileio import atomic_write_text

__all__ = ["plan_design", "run_design", "fingerprint"]

PE_PNR_FLOWS = ("ecp5_nodsp", "ecp5", "ice40")
# The big arrays are placed without DSPs only (the report's headline); the
# iCE40 HX8K is far too small for them.
ARRAY_PNR_FLOWS = ("ecp5_nodsp",)
SMALL_ARRAY = 16   # PEs: arrays up to this size get every flow, like a PE


def plan_design(design, hs, quick: bool, no_pnr: bool) -> dict:
    """Flows, place-and-route runs and the reason for none, for one design."""
    if design.kind == "quant":
        # The unit's cost next to the array's: the array's headline flows, no placement.
        return {"flows": list(hs.ARRAY_FLOWS), "pnr": [],
                "why_no_pnr": "--no-pnr" if no_pnr else "cost only: the unit is not placed"}
    big = design.kind == "array" and design.macs_per_cycle > SMALL_ARRAY
    flows = list(hs.ARRAY_FLOWS) if big else list(hs.SYNTH_FLOWS)
    pnr = [] if no_pnr else list(ARRAY_PNR_FLOWS if big else PE_PNR_FLOWS)
    why = "--no-pnr" if no_pnr else None
    return {"flows": flows, "pnr": pnr, "why_no_pnr": why}


def fingerprint(design, plan: dict, tools: dict, pnr_timeout: float, hs) -> str:
    h = hashlib.sha256()
    for part in (design.verilog(), design.verilog(for_pnr=True) if design.kind == "pe" else "",
                 json.dumps(plan, sort_keys=True), json.dumps(tools, sort_keys=True),
                 f"seed={hs.SEED} ecp5={hs.ECP5_TARGET_MHZ} ice40={hs.ICE40_TARGET_MHZ}",
                 f"timeout={pnr_timeout}", design.key):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _pnr_device(synth, flow, candidates, fits):
    reasons = []
    for dev in candidates:
        why = fits(dev, synth.luts(flow), synth.ffs(flow), synth.dsps(flow), synth.port_bits)
        if why is None:
            return dev, None
        reasons.append(why)
    return None, "does not fit: " + "; ".join(reasons)


def run_design(design, plan: dict, workdir: Path, hs, *, tools: dict, pnr_timeout: float,
               step=lambda text: None, composed_pe=None) -> tuple[dict, bool]:
    """(entry, resumed): the design's results, from the store if its fingerprint matches.

    ``step(text)`` is called before each tool run (progress).  ``composed_pe``
    (a SynthResult of the PE) adds composed counts to an array as a check.
    """
    ddir = workdir / design.key
    store = ddir / "entry.json"
    key = fingerprint(design, plan, tools, pnr_timeout, hs) + (":composed" if composed_pe else "")
    if store.exists():
        try:
            saved = json.loads(store.read_text())
            if saved.get("fingerprint") == key:
                return saved["entry"], True
        except (json.JSONDecodeError, KeyError, TypeError):
            pass   # unreadable: run again
    entry = {"label": design.label, "kind": design.kind, "rows": design.rows,
             "cols": design.cols, "macs_per_cycle": design.macs_per_cycle,
             "pnr": {}, "method": "flattened"}
    pnr_flows = [f for f in plan["pnr"]]
    netlists = {f: f"{f}.json" for f in pnr_flows}
    step(f"{design.key}: yosys ({len(plan['flows'])} flows)")
    synth = hs.synthesize(design, ddir / "synth", flows=plan["flows"],
                          netlists=netlists if design.kind == "array" else {})
    entry["synth"] = asdict(synth)
    if composed_pe is not None and design.kind == "array":
        step(f"{design.key}: yosys, PEs as black boxes (composed check)")
        glue = hs.synthesize_glue(design, ddir / "glue",
                                  flows=[f for f in plan["flows"] if f != "cmos"])
        entry["composed"] = asdict(hs.compose(design, glue, composed_pe))
    if not pnr_flows:
        entry["pnr_skipped"] = plan["why_no_pnr"] or "no place and route planned"
    else:
        pnr_dir, pnr_synth = ddir / "synth", synth
        if design.kind == "pe":
            step(f"{design.key}: yosys (input-registered, for PnR)")
            pnr_dir = ddir / "pnr"
            pnr_synth = hs.synthesize(design, pnr_dir, flows=pnr_flows, for_pnr=True,
                                      netlists=netlists)
        devices = {"ecp5_nodsp": (hs.ECP5_25K, hs.ECP5_85K), "ecp5": (hs.ECP5_25K, hs.ECP5_85K),
                   "ice40": (hs.ICE40_HX8K,)}
        for flow in pnr_flows:
            step(f"{design.key}: nextpnr {flow}")
            if flow == "ecp5" and pnr_synth.dsps("ecp5") == 0 and "ecp5_nodsp" in entry["pnr"]:
                # No DSP inferred: the DSP-allowed netlist equals the no-DSP one.
                entry["pnr"][flow] = dict(entry["pnr"]["ecp5_nodsp"],
                                          note="no DSP inferred; same as without DSPs")
                continue
            dev, why = _pnr_device(pnr_synth, flow, devices[flow], hs.fits)
            if dev is None:
                entry["pnr"][flow] = asdict(hs.PnrResult(skipped=why))
            else:
                entry["pnr"][flow] = asdict(hs.place_and_route(
                    pnr_dir / f"{flow}.json", dev, pnr_dir, timeout=pnr_timeout))
    ddir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(store, json.dumps({"fingerprint": key, "entry": entry}, indent=1))
    return entry, False


def steps_of(plan: dict, design) -> int:
    """Progress steps of one design: Yosys runs plus nextpnr runs."""
    return 1 + (design.kind == "pe" and bool(plan["pnr"])) + len(plan["pnr"])
