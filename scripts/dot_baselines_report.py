"""The k-lane dot-product comparison of the cost report, from
``scripts.measure_dot_baselines``' results: a section of
docs/hardware-cost.md (``section``, via ``radix4 synth``) and the stand-alone
docs/dot-baselines.md (``render``), plus its plot (``plot``)."""

from __future__ import annotations

__all__ = ["render", "section", "plot", "TARGETS"]

# Issue 27: array-level LUT4 per MAC/s, baseline / radix-4.
TARGETS = {"int8": 2.0, "fp8": 2.5, "fp16": 7.0}
ROWS = COLS = 8


def _f(x, d=0):
    return "—" if x is None else f"{x:,.{d}f}"


def _x(v):
    return "—" if v is None else f"{v:.2f}x"


def _short(label):
    return label.split(" (")[0].split(",")[0]


def section(results: dict, level: int = 2) -> str:
    """The comparison as markdown, headings at ``level``."""
    h = "#" * level
    rows, der = results["rows"], results["derived"]
    if not der:
        return ""
    lanes = next(iter(rows.values()))["lanes"]
    out = [f"{h} k-lane dot-product PEs: radix-4 against INT8, FP8 and FP16, 8x8 arrays",
           "",
           f"Every design here is a **{lanes}-lane dot-product PE** built the same way: per lane "
           "a few exact terms into the exact pipelined adder tree of `hw/adder_tree.py` "
           "(per-lane sums first, `keep` on sums inside a stage, widths from value "
           "intervals), at most two adder levels a stage, one accumulator with a sticky "
           "overflow flag judged per group, default latency; the 8x8 arrays come from the "
           "same generator, `hw.array.SystolicArray(pe_class=...)`. radix-4: "
           "`hw/dot_pe.py`; INT8 x INT8 into INT32: `hw/baselines/int8_dot.py`; FP8 E4M3 "
           "and FP16 with an FP32 result: `hw/baselines/fp_dot.py` (exact products, exact "
           "fixed-point accumulation, one rounding to FP32: docs/architecture.md, "
           "\"Baseline arithmetic of the cost comparison\").",
           "",
           "Flow: Yosys `synth_ecp5 -nodsp` flattened (LUT4 + 2 per CCU2C), nextpnr-ecp5 "
           "`--seed 1` on the input-registered PE (the smallest ECP5 that fits, target "
           "250 MHz), the CMOS proxy above (NAND2 eq. = transistors / 4, flip-flops at 24 "
           "transistors). Array counts are **composed**: the array synthesized with its 64 "
           "PEs as black boxes (skew, forwarding and result registers, drain, control), plus "
           "64 stand-alone PEs (flattening a 70k-400k LUT4 array takes hours in WebAssembly "
           "Yosys here; `hw/synth_compose.py`'s method, which `radix4 synth --composed` "
           "checks against flattened arrays). Measured by `scripts/measure_dot_baselines.py`.",
           "",
           f"{h}# PE level",
           "",
           "| PE | latency | LUT4 | FF | LUT4 / MAC | Fmax (MHz) | LUT4 per MAC/ns | "
           "NAND2 eq. / MAC |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, r in rows.items():
        if kind not in der:
            continue
        d = der[kind]
        p = r.get("pnr") or {}
        fm = f"{p['fmax_mhz']:.1f} ({p['device']})" if p.get("fmax_mhz") else \
            (p.get("skipped") or "not placed")
        out.append(f"| {r['label']} | {r['latency']} | {_f(r['pe']['lut4'])} | "
                   f"{_f(r['pe']['ff'])} | {_f(d['pe_lut4_per_mac'], 1)} | {fm} | "
                   f"{_f(d.get('pe_lut4_per_mac_per_ns'), 1)} | "
                   f"{_f(d['pe_nand2_per_mac'])} |")
    conv = []
    for kind in ("fp8", "fp16"):
        raw = rows.get(f"{kind}_noconv")
        if raw and kind in rows:
            c = rows[kind]["pe"]["lut4"] - raw["pe"]["lut4"]
            conv.append(f"{_short(rows[kind]['label'])} {c:,} of "
                        f"{rows[kind]['pe']['lut4']:,} LUT4 ({c / rows[kind]['pe']['lut4']:.0%})")
    if conv:
        out += ["", "The FP32 conversion (|acc|, leading zeros, normalize, round) sits in "
                "every FP PE, because the array reads a finished `acc` from each PE; "
                "synthesized without it (`acc` the fixed-point register) the PEs are smaller "
                "by: " + "; ".join(conv) + ". An array that converts in the drain instead "
                "(a converter per column, wider result registers) would save most of that "
                "(not built)."]
    out += ["", f"{h}# 8x8 arrays",
            "",
            "Per MAC/s uses the PE's Fmax for every design alike: an array places slower than "
            "its PE for reasons shared by every design here (control and drain fanout, "
            "\"Why an array places slower than its PE\"; issue 27 item 5 is on it).",
            "",
            "| array | MAC/cycle | LUT4 | FF | of which glue LUT4 | LUT4 / MAC | FF / MAC | "
            "LUT4 per MAC/ns | NAND2 eq. / MAC |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, r in rows.items():
        if kind not in der:
            continue
        d, a = der[kind], r["array"]
        out.append(f"| {_short(r['label'])} 8x8 | {a['macs_per_cycle']} | {_f(a['lut4'])} | "
                   f"{_f(a['ff'])} | {_f(r['glue']['lut4'])} | "
                   f"{_f(d['array_lut4_per_mac'], 1)} | {_f(d['array_ff_per_mac'], 1)} | "
                   f"{_f(d.get('array_lut4_per_mac_per_ns'), 1)} | "
                   f"{_f(d.get('array_nand2_per_mac'), 0)} |")
    out += ["", f"{h}# Ratios (baseline / radix-4: above 1 favours radix-4)", "",
            "| baseline | 8x8 array LUT4 per MAC/s | target | | 8x8 array LUT4 per MAC/cycle "
            "| 8x8 array NAND2 eq. per MAC | PE LUT4 per MAC/s |",
            "|---|---:|---:|---|---:|---:|---:|"]
    for kind in ("int8", "fp8", "fp16"):
        if kind not in der or "radix4" not in der:
            continue
        d = der[kind]
        thr = d.get("ratio_array_lut4_per_mac_per_ns")
        verdict = "—" if thr is None else ("met" if thr >= TARGETS[kind] else "**not met**")
        out.append(f"| {_short(rows[kind]['label'])} | {_x(thr)} | >= {TARGETS[kind]}x | "
                   f"{verdict} | {_x(d.get('ratio_array_lut4_per_mac'))} | "
                   f"{_x(d.get('ratio_array_nand2_per_mac'))} | "
                   f"{_x(d.get('ratio_pe_lut4_per_mac_per_ns'))} |")
    out += ["", "![array cost per MAC, ratios to radix-4](dot_baselines.png)", ""]
    out += _analysis(rows, der, h)
    return "\n".join(out) + "\n"


def _analysis(rows, der, h) -> list:
    """Why the ratios are what they are, and what the figures leave out."""
    out = [f"{h}# k-lane comparison: analysis", ""]
    if "int8" in der and "radix4" in der:
        r4, i8 = rows["radix4"], rows["int8"]
        f4, f8 = der["radix4"]["fmax_mhz"], der["int8"]["fmax_mhz"]
        per_lane = ""
        k = r4["lanes"]
        if "radix4_k2" in rows and "int8_k2" in rows and k > 2:
            def line(kind):
                hi, lo = rows[kind]["pe"]["lut4"], rows[f"{kind}_k2"]["pe"]["lut4"]
                slope = (hi - lo) / (k - 2)
                return slope, lo - 2 * slope
            (s4, c4), (s8, c8) = line("radix4"), line("int8")
            per_lane = (f" Through 2 and {k} lanes the PEs cost {s4:.0f} (radix-4) and "
                        f"{s8:.0f} (INT8) LUT4 per lane plus {c4:.0f} / {c8:.0f} shared "
                        "(accumulator, flag, control): the per-lane cost is the whole story.")
        out += ["- **radix-4 / INT8 is " + _x(der["int8"].get("ratio_array_lut4_per_mac_per_ns"))
                + " per MAC/s** (" + _x(der["int8"].get("ratio_array_lut4_per_mac"))
                + " per MAC/cycle)." + per_lane + " A radix-4 lane is three rows (two "
                "Booth-style INT4 rows and the FP4 shift row, with the INT4/UINT4/FP4 decode) "
                "summed in two adder levels; an INT8 lane is four 2-bit-slice products, also "
                "summed in two levels. The rows are about as wide: an FP4 x INT4 product spans "
                "17 signed bits (INT4 B << 12 at the top exponent), an INT8 product 16, and "
                "adders cost by width, not by input bits, so the 4-bit lane is not 4x cheaper "
                "than the 8-bit one, only about 1.3x. "
                f"The INT8 PE also places faster ({_f(f8, 0)} against {_f(f4, 0)} MHz). The "
                "quick sketch of issue 27 (~286 LUT4 per MAC for INT8) used a plain `a * b` "
                "multiplier; built with the same care as the radix-4 PE (slices, the shared "
                f"tree) INT8 costs {_f(der['int8']['pe_lut4_per_mac'], 0)} per MAC. Reaching "
                "2x needs a narrower radix-4 lane: the sketch's FP4-only lane (~88 LUT4 per "
                "MAC) says the INT4 x INT4 mode is a large part; narrower products (a smaller "
                "FP4 exponent range per lane, or aligning lanes to a shared exponent) would "
                "shrink the rows and the tree."]
    from model.dot_baselines import get_float_format
    for kind in ("fp8", "fp16"):
        if kind not in der or "radix4" not in der:
            continue
        r = rows[kind]
        fmt = get_float_format({"fp8": "fp8_e4m3", "fp16": "fp16"}[kind])
        out += [f"- **radix-4 / {_short(r['label']).split(' x ')[0]} is "
                + _x(der[kind].get("ratio_array_lut4_per_mac_per_ns")) + " per MAC/s** ("
                + _x(der[kind].get("ratio_array_lut4_per_mac")) + " per MAC/cycle, "
                + _x(der[kind].get("ratio_array_nand2_per_mac")) + " in NAND2 eq.). The "
                "exact FP lane must place its product anywhere in a "
                f"{fmt.product_bits + 1}-bit window (a left shifter by the exponent sum), "
                "and every adder of the tree, the "
                f"{fmt.acc_bits}-bit accumulator and the FP32 conversion are that wide."]
    out += ["", "What the figures do not capture:", "",
            "- **LUT4 per MAC/s** counts LUT4 (a CCU2C as 2), not flip-flops: ECP5 slices "
            "carry two FFs per two LUT4, so FFs are free until a design has more FFs than "
            "LUT4s (FF / MAC is in the array table). It uses the PE's Fmax: the arrays share "
            "the control and drain fanout that make an array place slower, so the ratios hold "
            "only if item 5 of issue 27 lifts every array alike. One nextpnr seed; LUT4 is "
            "not ASIC area.",
            "- **NAND2 eq. per MAC** (the CMOS proxy) has no library, sizing or wires and "
            "counts a flip-flop as 24 transistors; use the ratios. A 2:1 multiplexer bit "
            "costs a LUT4, as much as an adder bit; in gates it is about half an adder bit, "
            "so the shifter-heavy FP PEs fare much better in this column.",
            "- **Neither counts energy or data movement**: INT8 and FP8 move 2x, FP16 4x the "
            "operand bits of radix-4 through the array (their forwarding registers are in "
            "FF / MAC) and from memory (not measured here at all).",
            "- **The FP baselines are a best case** (docs/architecture.md): exact "
            "accumulation with one rounding costs one carry chain per group, less than an "
            "FP32-rounding accumulator; a design that aligns to the group's largest "
            "exponent in a narrow window (inexact, as MXDOTP-style units do) or converts to "
            "FP32 once per column instead of in every PE would be cheaper still.",
            "- **Features differ**: radix-4 multiplies three A by two B formats and keeps an "
            "overflow flag (INT8 keeps the same flag; the FP PEs flag their fixed-point "
            "range and keep NaN/Inf); a 4-bit training chip also needs 8-bit layers "
            "(nibble decomposition, 4x the MACs), which the per-MAC ratios leave out.", ""]
    return out


def render(results: dict) -> str:
    """docs/dot-baselines.md."""
    return ("# k-lane dot-product PEs: radix-4 against INT8, FP8 and FP16 baselines\n\n"
            "Generated by `python -m scripts.measure_dot_baselines` — do not edit by hand "
            "(`radix4 synth --update-docs` puts the same section into "
            "docs/hardware-cost.md); analysis and what the figures leave out: "
            "docs/hardware-cost.md, \"k-lane comparison: analysis\".\n\n"
            + section(results, level=2))


def plot(results: dict, path) -> None:
    """Bars per design: array LUT4 per MAC/ns and NAND2 eq. per MAC (PNG, atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from model.fileio import atomic_open
    der, rows = results["derived"], results["rows"]
    kinds = [k for k in der if der[k].get("array_lut4_per_mac_per_ns")]
    if not kinds:
        return
    labels = [_short(rows[k]["label"]) for k in kinds]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = (("array_lut4_per_mac", "8x8 array: ECP5 LUT4 per MAC/cycle"),
              ("array_lut4_per_mac_per_ns", "8x8 array: LUT4 per MAC/ns (PE Fmax)"),
              ("array_nand2_per_mac", "8x8 array: CMOS NAND2 eq. per MAC"))
    for ax, (metric, title) in zip(axes, panels):
        vals = [der[k].get(metric) or 0 for k in kinds]
        bars = ax.bar(labels, vals, color=["C0" if k == "radix4" else "C7" for k in kinds])
        base = der.get("radix4", {}).get(metric)
        for b, v in zip(bars, vals):
            if base and v:
                ax.annotate(f"{v / base:.2f}x", (b.get_x() + b.get_width() / 2, v),
                            ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{rows[kinds[0]]['lanes']}-lane dot-product PEs, ratios to radix-4", fontsize=10)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)
