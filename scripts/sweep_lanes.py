"""Sweep of the k-lane dot-product PE: ECP5 LUT4, FF and Fmax per lane count.

``python -m scripts.sweep_lanes [--lanes 1,2,4,8,16] [--latency all|default|N]``

For every lane count and latency it synthesizes ``hw.dot_pe.DotProductPE``
with the project's flow (``hw.synth_yosys.synthesize``: Yosys ``synth_ecp5
-nodsp``, flattened; LUT4 + 2 x CCU2C) and places the input-registered PE
(``hw.synth_designs.InputRegistered``, as the hardware-cost report does)
with ``hw.synth_pnr.place_and_route`` on an LFE5U-25F for Fmax.  Today's
one-MAC PE (``hw.pe.ProcessingElement``) is measured in the same run as the
reference.  Per configuration it also estimates the cost inside an R x C
array, per MAC/s (docs/lanes.md explains the estimate).

Writes ``build/lanes/sweep.json`` and the plot ``docs/lanes_sweep.png``
(atomically, ``model.fileio``); a configuration already in the JSON with
the same Verilog and tools is not run again (``--force`` reruns).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from model.fileio import atomic_open, atomic_write_text
from model.paths import SOURCE_ROOT

ROOT = SOURCE_ROOT
WORK = ROOT / "build" / "lanes"
PLOT = ROOT / "docs" / "lanes_sweep.png"
FLOW = "ecp5_nodsp"

# Per-PE overhead inside today's 8x8 array (docs/hardware-cost.md, measured
# 2026-11-28): 213.3 LUT4 / PE in the flattened array against 192 for the PE
# alone (the drain's row multiplexer and glue), and per PE 33 result + 4 A +
# 4 B + ~6 control forwarding flip-flops.  The drain and result register do
# not grow with k; the operand forwarding does (4 bits per lane and side).
ARRAY_GLUE_LUT4 = 213.3 - 192.0
ARRAY_CONTROL_FF = 6
ARRAY_FMAX_MHZ = 114.8     # the 8x8 array today: drain and control fanout bound


class _Design:
    """What ``hw.synth_yosys.synthesize`` needs: a key and the Verilog."""

    kind = "pe"

    def __init__(self, key, build):
        self.key, self._build = key, build

    def verilog(self, for_pnr: bool = False) -> str:
        from amaranth.back import verilog
        from hw.synth_designs import InputRegistered
        comp = self._build()
        return verilog.convert(InputRegistered(comp) if for_pnr else comp, name=self.key,
                               emit_src=False)


def configurations(lanes_list, policy):
    from hw.dot_pe import default_dot_pe_latency, dot_pe_latencies
    out = [("pe", 1, 3)]
    for k in lanes_list:
        if policy == "all":
            lats = list(dot_pe_latencies(k))
        elif policy == "default":
            lats = [default_dot_pe_latency(k)]
        else:
            lats = [int(policy)]
        out += [("dot", k, lat) for lat in lats]
    return out


def _component(kind, lanes, latency, acc_width):
    if kind == "pe":
        from hw.pe import ProcessingElement
        return ProcessingElement(acc_width, latency=latency)
    from hw.dot_pe import DotProductPE
    return DotProductPE(acc_width, latency=latency, lanes=lanes)


def measure(kind, lanes, latency, acc_width, pnr: bool, timeout: float) -> dict:
    from hw.synth_pnr import ECP5_25K, place_and_route
    from hw.synth_yosys import synthesize
    key = f"{kind}_k{lanes}_L{latency}_w{acc_width}"
    design = _Design(key, lambda: _component(kind, lanes, latency, acc_width))
    synth = synthesize(design, WORK / key / "synth", flows=[FLOW])
    row = {"kind": kind, "lanes": lanes, "latency": latency, "acc_width": acc_width,
           "lut4": synth.luts(FLOW), "ff": synth.ffs(FLOW), "cells": synth.cells[FLOW],
           "fmax_mhz": None}
    if pnr:
        pdir = WORK / key / "pnr"
        synthesize(design, pdir, flows=[FLOW], for_pnr=True, netlists={FLOW: f"{FLOW}.json"})
        result = place_and_route(pdir / f"{FLOW}.json", ECP5_25K, pdir, timeout=timeout)
        row["fmax_mhz"] = result.fmax_mhz
        row["pnr_skipped"] = result.skipped
    return _derive(row)


def _derive(row: dict) -> dict:
    """Per-MAC figures and the array-level estimate."""
    k, w = row["lanes"], row["acc_width"]
    row["lut4_per_mac"] = row["lut4"] / k
    row["ff_per_mac"] = row["ff"] / k
    array_lut = row["lut4"] + ARRAY_GLUE_LUT4
    array_ff = row["ff"] + (w + 1) + 2 * 4 * k + ARRAY_CONTROL_FF
    row["array_lut4_per_mac"] = array_lut / k
    row["array_ff_per_mac"] = array_ff / k
    f = row["fmax_mhz"]
    if f:
        # LUT4 per (MAC/ns): LUT4 / (k MACs * f GHz); lower is better.
        row["lut4_per_mac_per_ns"] = row["lut4"] / (k * f / 1000)
        row["array_lut4_per_mac_per_ns"] = array_lut / (k * f / 1000)
        row["array_lut4_per_mac_per_ns_at_array_clock"] = array_lut / (
            k * min(f, ARRAY_FMAX_MHZ) / 1000)
    return row


def fingerprint(kind, lanes, latency, acc_width, pnr) -> str:
    from hw.synth_tools import tool_versions
    design = _Design("x", lambda: _component(kind, lanes, latency, acc_width))
    h = hashlib.sha256()
    for part in (design.verilog(), json.dumps(tool_versions(), sort_keys=True), str(pnr)):
        h.update(part.encode())
    return h.hexdigest()


def plot(rows, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dots = [r for r in rows if r["kind"] == "dot" and r.get("fmax_mhz")]
    ref = next((r for r in rows if r["kind"] == "pe" and r.get("fmax_mhz")), None)
    if not dots:
        return
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for lat in sorted({r["latency"] for r in dots}):
        sel = sorted((r for r in dots if r["latency"] == lat), key=lambda r: r["lanes"])
        ks = [r["lanes"] for r in sel]
        axes[0].plot(ks, [r["lut4_per_mac"] for r in sel], "o-", label=f"latency {lat}")
        axes[1].plot(ks, [r["fmax_mhz"] for r in sel], "o-", label=f"latency {lat}")
        axes[2].plot(ks, [r["array_lut4_per_mac_per_ns"] for r in sel], "o-",
                     label=f"latency {lat}")
    if ref:
        axes[0].axhline(ref["lut4_per_mac"], color="grey", ls="--", label="one-MAC PE today")
        axes[1].axhline(ref["fmax_mhz"], color="grey", ls="--", label="one-MAC PE today")
        axes[2].axhline(ref["array_lut4_per_mac_per_ns"], color="grey", ls="--",
                        label="one-MAC PE today")
    titles = ("PE LUT4 per MAC (ECP5, no DSP)", "PE Fmax (MHz, LFE5U-25F)",
              "array LUT4 per MAC/ns (estimate)")
    for ax, title in zip(axes, titles):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("lanes k")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.sweep_lanes", description=__doc__.split("\n")[0])
    ap.add_argument("--lanes", default="1,2,4,8,16", help="comma-separated lane counts")
    ap.add_argument("--latency", default="all", help="all, default, or one latency for every k")
    ap.add_argument("--acc-width", type=int, default=32)
    ap.add_argument("--no-pnr", action="store_true", help="cell counts only")
    ap.add_argument("--pnr-timeout", type=float, default=1800)
    ap.add_argument("--force", action="store_true", help="rerun configurations already stored")
    ap.add_argument("--json", type=Path, default=WORK / "sweep.json")
    ap.add_argument("--plot", type=Path, default=PLOT)
    args = ap.parse_args(argv)
    try:
        lanes_list = [int(x) for x in args.lanes.split(",")]
        if args.latency not in ("all", "default"):
            int(args.latency)
        configs = configurations(lanes_list, args.latency)
        for kind, k, lat in configs:   # validate before any tool runs
            _component(kind, k, lat, args.acc_width)
    except ValueError as exc:
        print(f"sweep_lanes: {exc}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from hw.synth_tools import SynthError
    stored = {}
    if args.json.exists() and not args.force:
        try:
            stored = {r["fingerprint"]: r for r in json.loads(args.json.read_text())["rows"]}
        except (json.JSONDecodeError, KeyError, TypeError):
            stored = {}
    rows = []
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for kind, k, lat in tqdm(configs, desc="lanes sweep", unit="design"):
        fp = fingerprint(kind, k, lat, args.acc_width, not args.no_pnr)
        row = stored.get(fp)
        if row is None:
            try:
                row = measure(kind, k, lat, args.acc_width, not args.no_pnr, args.pnr_timeout)
            except SynthError as exc:   # a tool failure is reported, not fatal to the sweep
                row = {"kind": kind, "lanes": k, "latency": lat, "acc_width": args.acc_width,
                       "error": str(exc).splitlines()[0] + " " + str(exc).splitlines()[-1]}
        row["fingerprint"] = fp
        rows.append(row)
        atomic_write_text(args.json, json.dumps({"rows": rows}, indent=1))
    print(table(rows))
    if not args.no_pnr:
        plot(rows, args.plot)
    return 0


def table(rows) -> str:
    lines = ["| design | lanes | latency | LUT4 | FF | LUT4/MAC | FF/MAC | Fmax MHz | "
             "LUT4 per MAC/ns | array LUT4/MAC | array LUT4 per MAC/ns | at array clock |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| dot-product PE | {r['lanes']} | {r['latency']} | tool error: "
                         f"{r['error'][:80]} |" + " |" * 9)
            continue
        f = r.get("fmax_mhz")
        name = "one-MAC PE (hw.pe)" if r["kind"] == "pe" else "dot-product PE"
        fmt = lambda key: f"{r[key]:.0f}" if r.get(key) is not None else "—"  # noqa: E731
        lines.append(f"| {name} | {r['lanes']} | {r['latency']} | {r['lut4']} | {r['ff']} | "
                     f"{r['lut4_per_mac']:.1f} | {r['ff_per_mac']:.1f} | "
                     f"{f'{f:.1f}' if f else '—'} | {fmt('lut4_per_mac_per_ns')} | "
                     f"{r['array_lut4_per_mac']:.1f} | {fmt('array_lut4_per_mac_per_ns')} | "
                     f"{fmt('array_lut4_per_mac_per_ns_at_array_clock')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
