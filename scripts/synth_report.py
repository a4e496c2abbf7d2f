"""docs/hardware-cost.md from the results of ``radix4 synth``.

The prose lives in ``scripts/templates/hardware_cost.md`` (string.Template
fragments); this module computes the tables and figures and chooses which
optional paragraphs the results call for.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from string import Template

__all__ = ["render", "TEMPLATE", "PAPER_CLAIM"]

TEMPLATE = Path(__file__).parent / "templates" / "hardware_cost.md"
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


def render(results: dict, hs=None) -> str:
    """The report for ``results`` (the dict ``radix4 synth`` saves as results.json).

    ``hs`` is accepted for callers of the old signature and not used.
    """
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

    minutes, seconds = divmod(int(round(results["seconds"])), 60)
    host = results["host"]
    return _text(
        "report", mode=results["mode"], minutes=minutes, seconds=seconds,
        cpus=host["cpus"], machine=host["machine"], date=host["date"],
        tools=", ".join(f"`{k}` {v}" for k, v in results["tools"].items()),
        synth_rows=_synth_rows(D, S), composed_checks=_composed_checks(D, S),
        per_pe=_per_pe(D, S), seed=results["seed"],
        ecp5_mhz=results["targets_mhz"]["ecp5"], ice40_mhz=results["targets_mhz"]["ice40"],
        fmax_rows=_fmax_rows(D, S, pnr, fmax_cell), skipped=_skipped(D),
        ratios=_ratios(S, pnr)) + "\n"


def _synth_rows(D, S) -> str:
    rows = []
    for key, s in S.items():
        method = D[key].get("method", "flattened")
        rows.append(
            f"| {D[key]['label']} | {method} | {_fmt(s.generic_cells())} | "
            f"{_fmt(s.generic_flops())} | "
            f"{_fmt(s.luts('ice40'))} | {_fmt(s.ffs('ice40'))} | "
            f"{_fmt(s.luts('ice40_dsp'))} + {s.dsps('ice40_dsp')} | "
            f"{_fmt(s.luts('ecp5_nodsp'))} | {_fmt(s.ffs('ecp5_nodsp'))} | "
            f"{_fmt(s.luts('ecp5'))} + {s.dsps('ecp5')} |\n")
    return "".join(rows)


def _composed_checks(D, S) -> str:
    """One paragraph per array both flattened and composed: how far apart they are."""
    from hw.synth import SynthResult

    out = []
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
            out.append(_block("composed_check", label=D[key]["label"],
                              checks="; ".join(checks)))
    return "".join(out)


def _per_pe(D, S) -> str:
    arrays = [k for k in S if D[k]["kind"] == "array"]
    if not arrays or "radix4_pe" not in S:
        return ""
    pe = S["radix4_pe"]
    rows = [f"| radix-4 PE alone | {pe.luts('ecp5_nodsp')} | {pe.ffs('ecp5_nodsp')} | "
            f"{pe.luts('ice40')} | {pe.generic_cells()} |"]
    for k in arrays:
        n = D[k]["macs_per_cycle"]
        s = S[k]
        rows.append(f"| {D[k]['label']} | {s.luts('ecp5_nodsp') / n:.1f} | "
                    f"{s.ffs('ecp5_nodsp') / n:.1f} | "
                    f"{s.luts('ice40') / n:.1f} | {s.generic_cells() / n:.1f} |")
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


def _ratios(S, pnr) -> str:
    """The baseline/radix-4 ratio table and the comparison with the paper's claim."""
    if "radix4_pe" not in S:
        return ""
    pe = S["radix4_pe"]
    rows = []
    for key, name in (("fp16_pe", "FP16-PE / radix-4-PE"), ("int8_pe", "INT8-PE / radix-4-PE")):
        if key not in S:
            continue
        b = S[key]
        ecp_f = {k: (pnr(k, "ecp5_nodsp") or {}).get("fmax_mhz") for k in (key, "radix4_pe")}
        thr = None
        if ecp_f[key] and ecp_f["radix4_pe"]:
            thr = ((b.luts("ecp5_nodsp") / ecp_f[key])
                   / (pe.luts("ecp5_nodsp") / ecp_f["radix4_pe"]))
        rows.append((name, _ratio(b.luts("ecp5_nodsp"), pe.luts("ecp5_nodsp")),
                     _ratio(b.luts("ice40"), pe.luts("ice40")),
                     _ratio(b.generic_cells(), pe.generic_cells()),
                     _ratio(b.ffs("ecp5_nodsp"), pe.ffs("ecp5_nodsp")), thr))
    table = "".join(f"| {name} | " + " | ".join("—" if v is None else f"{v:.2f}x" for v in vals)
                    + " |\n" for name, *vals in rows)
    fp = next((r for r in rows if r[0].startswith("FP16")), None)
    ours = ""
    if fp and fp[1]:
        _, lut_ratio, ice40, generic, _, thr = fp
        if lut_ratio >= PAPER_CLAIM:
            verdict = _text("claim_met")
        else:
            further = ice40 and generic and max(ice40, generic) < lut_ratio
            verdict = _text("claim_short", share=f"{lut_ratio / PAPER_CLAIM:.0%}",
                            further_off=_text("further_off") if further else "")
        clock = ""
        if thr:
            f16 = (pnr("fp16_pe", "ecp5_nodsp") or {}).get("fmax_mhz")
            r4 = (pnr("radix4_pe", "ecp5_nodsp") or {}).get("fmax_mhz")
            clock = _block("clock_rate", fp16_mhz=f"{f16:.0f}", radix4_mhz=f"{r4:.0f}",
                           ratio=f"{thr:.1f}")
        others = (_text("other_targets", ice40=f"{ice40:.1f}", generic=f"{generic:.1f}")
                  if ice40 and generic else "")
        ours = _block("ours", lut_ratio=f"{lut_ratio:.1f}", other_targets=others,
                      verdict=verdict, clock_rate=clock)
    return _text("ratios", rows=table, ours=ours)
