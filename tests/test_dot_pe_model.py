"""The k-lane PE's word-level simulation model (hw.dot_pe_model).

Where it may stand in (``model.config.PROVED_PE_MODELS``, the ``make formal``
tasks that prove it equal to ``hw.dot_pe.DotProductPE``) and nowhere else;
``radix4 verilog`` never emits it; and, beside the proof, a differential run
on Icarus: the model and the gate-level PE side by side on random streams
(random resets, clears, stalls, format selects; W = 18 so groups overflow),
in configurations the proof does NOT cover (there the model is never built
for an array: this only shows how far the equality reaches) and in one it
does.  A bug seeded into the model's text is caught by the same run.
"""

import functools
import subprocess

import pytest

from hw.dot_pe_model import model_module_name, model_verilog
from hw.verilog import dot_pe_verilog, generate
from model.config import PROVED_PE_MODELS, ConfigError, DatapathConfig, default_pe_latency
from model.formats import FORMATS
from model.hw_vocab import select_width, side_formats
from verif.formal import run as formal


def test_proved_table_is_the_formal_tasks():
    """Every configuration the model may stand in for is a prove task of that configuration."""
    for lanes, latency, width in PROVED_PE_MODELS:
        task = formal.TASKS[formal.dot_pe_task_name(lanes, width)]
        assert task.mode == "prove"
        text = task.wrapper()
        assert f"module {model_module_name(width, lanes, latency)}(" in text
        assert model_verilog(width, lanes, latency) in text   # the one text, embedded unchanged
        assert latency == default_pe_latency(lanes)


@pytest.mark.parametrize("fields", [
    {"lanes": 4, "acc_width": 32},                      # no proof at W = 32 for 4 lanes
    {"lanes": 8, "acc_width": 32, "pe_latency": 6},     # not the proved latency
    {"lanes": 1},                                       # hw.pe, not the k-lane PE
    {"lanes": 8, "pe": "mxfp4"},
    {"lanes": 8, "acc_width": 32, "pe_model": "fast"},
])
def test_refused_where_no_proof_covers_it(fields):
    import hw.pe_kinds  # noqa: F401  (registers mxfp4)
    with pytest.raises(ConfigError) as exc:
        DatapathConfig(**{"pe_model": "proved", **fields})
    assert exc.value.field == "pe_model"


def test_verilog_keeps_the_synthesizable_pe():
    """Without pe_model (``radix4 verilog``), no model; with it, one module
    appended and an instance of it per PE."""
    plain = generate("array", rows=1, cols=2, lanes=2, acc_width=18)
    assert "radix4_dot_pe_model" not in plain
    proved = generate("array", rows=1, cols=2, lanes=2, acc_width=18, pe_model="proved")
    name = model_module_name(18, 2, 4)
    assert proved.count(f"module {name}(") == 1
    assert proved.count(f"  {name} ") == 2
    assert "pe_model=proved (simulation only" in proved.splitlines()[0]


@functools.lru_cache(maxsize=None)
def _gate_pe(width, lanes, latency):
    return dot_pe_verilog(width, lanes, latency)


def _testbench(lanes, latency, width, cycles, seed, model_text):
    sa, sb = select_width("a"), select_width("b")

    def pick(side, reg):
        codes = [FORMATS[n].hw_code for n in side_formats(side)]
        arms = " ".join(f"{i}: {reg} = {c};" for i, c in enumerate(codes))
        return f"case ({{$random(seed)}} % {len(codes)}) {arms} endcase"
    lanes_in = "\n".join(f"      a[{4 * i + 3}:{4 * i}] = $random(seed); "
                         f"b[{4 * i + 3}:{4 * i}] = $random(seed);" for i in range(lanes))
    return f"""\
{_gate_pe(width, lanes, latency)}
{model_text}
module tb;
  reg clk = 0, rst = 1, valid = 0, clear = 0;
  reg [{4 * lanes - 1}:0] a = 0, b = 0; reg [{sa - 1}:0] a_fmt = 0; reg [{sb - 1}:0] b_fmt = 0;
  wire signed [{width - 1}:0] acc_g, acc_m; wire ovf_g, ovf_m;
  radix4_dot_pe gate(.clk(clk), .rst(rst), .a(a), .a_fmt(a_fmt), .b(b), .b_fmt(b_fmt),
                     .valid(valid), .clear(clear), .acc(acc_g), .overflow(ovf_g));
  {model_module_name(width, lanes, latency)} model(.clk(clk), .rst(rst), .a(a), .a_fmt(a_fmt),
      .b(b), .b_fmt(b_fmt), .valid(valid), .clear(clear), .acc(acc_m), .overflow(ovf_m),
      .lane_refs());
  always #5 clk = ~clk;
  integer seed = {seed}, i, bad = 0, flagged = 0;
  initial begin
    for (i = 0; i < {cycles}; i = i + 1) begin
      @(negedge clk);
      if (acc_g !== acc_m || ovf_g !== ovf_m) begin
        if (bad < 5) $display("cycle %0d: gate %0d/%b model %0d/%b", i, acc_g, ovf_g, acc_m, ovf_m);
        bad = bad + 1;
      end
      flagged = flagged + ovf_g;
      rst = i < 2 || {{$random(seed)}} % 211 == 0;
      valid = {{$random(seed)}} % 4 != 0;     // stalls: one beat in four is not valid
      clear = {{$random(seed)}} % 37 == 0;
{lanes_in}
      {pick("a", "a_fmt")}
      {pick("b", "b_fmt")}
    end
    $display("CHECKED %0d MISMATCHES %0d FLAGGED %0d", {cycles}, bad, flagged);
    $finish;
  end
endmodule
"""


def _run(tmp_path, lanes, latency, width, model_text, cycles=3000, seed=7):
    src = tmp_path / "tb.v"
    src.write_text(_testbench(lanes, latency, width, cycles, seed, model_text))
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "tb.vvp"), "-s", "tb", str(src)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], check=True,
                         capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("CHECKED"))
    _, checked, _, bad, _, flagged = line.split()
    return int(bad), int(flagged), out


# (lanes, latency, W): two the proof does not cover, one it does (the 8- and
# 16-lane gate PEs take 7-17 s on Icarus: make test-slow).
DIFF_CONFIGS = [(4, 3, 18), (16, default_pe_latency(16), 18), (8, 5, 18)]


@pytest.mark.parametrize("lanes,latency,width", [
    pytest.param(*c, marks=[pytest.mark.slow] if c[0] > 4 else []) for c in DIFF_CONFIGS],
    ids=[f"k{k}-l{lat}-w{w}" for k, lat, w in DIFF_CONFIGS])
def test_model_equals_gate_pe_on_random_streams(tmp_path, lanes, latency, width):
    proved = (lanes, latency, width) in PROVED_PE_MODELS
    assert proved == ((lanes, latency, width) == (8, 5, 18))
    bad, flagged, out = _run(tmp_path, lanes, latency, width, model_verilog(width, lanes, latency))
    assert bad == 0, out
    assert flagged > 100, out        # the overflow rule was exercised, both ways


def test_seeded_model_bug_is_caught(tmp_path):
    """The model with a clear beat that keeps the old overflow flag (the
    catalogue's ``model_clear_keeps_flag``) differs from the PE."""
    text = model_verilog(18, 4, 3)
    seeded = text.replace("ovf_q <= (ovf_q & ~c_q2) | !", "ovf_q <= ovf_q | !")
    assert seeded != text
    bad, _, out = _run(tmp_path, 4, 3, 18, seeded)
    assert bad > 0, out


def test_cli_refuses_an_unproved_model_in_one_line(tmp_path):
    """``--pe-model proved`` where no proof covers it: one line, exit 2, before any file is read."""
    import sys
    proc = subprocess.run([sys.executable, "-m", "scripts.cli", "gemm", "--a", "a.npy", "--b", "b.npy",
                           "--a-format", "int4", "--b-format", "int4", "--sim", "icarus",
                           "--lanes", "4", "--pe-model", "proved", "-o", str(tmp_path / "c.npy")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "--pe-model proved exists only where `make formal` proves it" in proc.stderr
