"""The simulated host around the accelerator tile, and its build.

Python acts per batch of jobs, never per cycle.  The host testbench
(``radix4_host``, Verilog generated here; testbench code, not chip RTL) holds
three memories standing in for host DRAM: commands, operand beats and result
rows.  For a batch the driver writes ``cmd.hex`` and ``load.hex`` into the
simulation's run directory, sets the counts and toggles ``go``; the testbench
``$readmemh``-loads both, streams them into the tile's ``cmd`` and ``load``
ports (one beat per cycle, optional random valid gaps), collects the
``result`` stream (optional random ready stalls) and, when every expected row
has arrived and the tile is idle, ``$writememh``-dumps ``res.hex`` and raises
``done``.  The clock is generated in Verilog, so one cocotb ``await`` spans a
whole batch.

The tile's performance counters are cleared when a batch starts, so after
``done`` they describe that batch alone.
"""

from __future__ import annotations

import hashlib
import os
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hw.accel import COUNTERS, job_layout, load_layout
from hw.array import output_layout
from verif import tools

__all__ = ["HostConfig", "host_verilog", "build_host", "HOST_TOP"]

HOST_TOP = "radix4_host"


@dataclass(frozen=True)
class HostConfig:
    rows: int = 8
    cols: int = 8
    acc_width: int = 32
    depth: int = 512          # tile operand bank depth (beats per job, max)
    host_beats: int = 1 << 16  # operand beats per batch
    host_cmds: int = 4096      # jobs per batch
    host_rows: int = 8192      # result rows per batch

    @property
    def cmd_width(self) -> int:
        return job_layout(self.depth).size

    @property
    def load_width(self) -> int:
        return load_layout(self.rows, self.cols).size

    @property
    def result_width(self) -> int:
        return output_layout(self.rows, self.cols, self.acc_width).size


def host_verilog(cfg: HostConfig) -> str:
    """The host testbench module ``radix4_host`` wrapping ``radix4_accel``."""
    counters = "\n".join(f"  wire [47:0] {n} /*verilator public_flat_rd*/;" for n in COUNTERS)
    counter_ports = ",\n".join(f"    .{n}({n})" for n in COUNTERS)
    return f"""`timescale 1ns/1ps
// radix4 host testbench (simulation only): host memories + DMA around the tile.
// rows={cfg.rows} cols={cfg.cols} acc_width={cfg.acc_width} depth={cfg.depth}
module {HOST_TOP};
  localparam CW = {cfg.cmd_width}, LW = {cfg.load_width}, RW = {cfg.result_width};
  localparam CD = {cfg.host_cmds}, LD = {cfg.host_beats}, RD = {cfg.host_rows};

  // Everything cocotb reads or writes is marked public for Verilator (the
  // rest of the model stays private and fully optimised).
  reg clk /*verilator public_flat_rw*/ = 1'b0;
  always #5 clk = ~clk;
  reg rst /*verilator public_flat_rw*/ = 1'b1;

  // Written by the host (cocotb) between batches.
  reg [31:0] n_cmd /*verilator public_flat_rw*/ = 0;
  reg [31:0] n_load /*verilator public_flat_rw*/ = 0;
  reg [31:0] n_res /*verilator public_flat_rw*/ = 0;
  reg [31:0] gap_permille /*verilator public_flat_rw*/ = 0;
  reg [31:0] stall_permille /*verilator public_flat_rw*/ = 0;
  reg [31:0] seed /*verilator public_flat_rw*/ = 32'h1;
  reg go /*verilator public_flat_rw*/ = 1'b0;
  reg done /*verilator public_flat_rw*/ = 1'b0;

  reg [CW-1:0] cmd_mem [0:CD-1];
  reg [LW-1:0] load_mem [0:LD-1];
  reg [RW-1:0] res_mem [0:RD-1];

  reg go_seen = 1'b0, running = 1'b0;
  reg [31:0] cmd_ptr = 0, load_ptr = 0, res_ptr = 0;
  reg cmd_v = 1'b0, load_v = 1'b0, res_r = 1'b0;
  reg [31:0] rng = 32'h1;
  wire start = go != go_seen;

  wire cmd_ready, load_ready, result_valid, idle;
  wire cmd_error /*verilator public_flat_rd*/;
  wire [RW-1:0] result_payload;
{counters}

  radix4_accel dut (
    .clk(clk), .rst(rst),
    .cmd__valid(cmd_v), .cmd__ready(cmd_ready), .cmd__payload(cmd_mem[cmd_ptr[$clog2(CD)-1:0]]),
    .load__valid(load_v), .load__ready(load_ready), .load__payload(load_mem[load_ptr[$clog2(LD)-1:0]]),
    .result__valid(result_valid), .result__ready(res_r), .result__payload(result_payload),
    .counters_clear(start), .idle(idle), .cmd_error(cmd_error),
{counter_ports}
  );

  wire cmd_fire = cmd_v & cmd_ready;
  wire load_fire = load_v & load_ready;
  wire res_fire = result_valid & res_r;
  wire [31:0] cmd_next = cmd_ptr + {{31'b0, cmd_fire}};
  wire [31:0] load_next = load_ptr + {{31'b0, load_fire}};
  // xorshift32: one draw per cycle for gaps (two halves) and stalls.
  wire [31:0] rng_a = rng ^ (rng << 13);
  wire [31:0] rng_b = rng_a ^ (rng_a >> 17);
  wire [31:0] rng_next = rng_b ^ (rng_b << 5);
  wire gap_cmd = (rng[9:0] % 1000) < gap_permille;
  wire gap_load = (rng[19:10] % 1000) < gap_permille;
  wire stall = (rng[29:20] % 1000) < stall_permille;

  always @(posedge clk) begin
    if (rst) begin
      running <= 1'b0;
      cmd_v <= 1'b0; load_v <= 1'b0; res_r <= 1'b0;
    end else if (start) begin
      go_seen <= go;
      if (n_cmd != 0) $readmemh("cmd.hex", cmd_mem, 0, n_cmd - 1);
      if (n_load != 0) $readmemh("load.hex", load_mem, 0, n_load - 1);
      cmd_ptr <= 0; load_ptr <= 0; res_ptr <= 0;
      cmd_v <= 1'b0; load_v <= 1'b0; res_r <= 1'b0;
      rng <= (seed == 0) ? 32'h1 : seed;
      running <= 1'b1;
      done <= 1'b0;
    end else if (running) begin
      rng <= rng_next;
      cmd_ptr <= cmd_next;
      load_ptr <= load_next;
      // valid stays up until its beat is taken (stream rule); gaps start only between beats.
      if (!cmd_v || cmd_fire) cmd_v <= (cmd_next < n_cmd) && !gap_cmd;
      if (!load_v || load_fire) load_v <= (load_next < n_load) && !gap_load;
      res_r <= !stall;
      if (res_fire) begin
        res_mem[res_ptr[$clog2(RD)-1:0]] <= result_payload;
        res_ptr <= res_ptr + 1;
      end
      if (res_ptr == n_res && cmd_ptr == n_cmd && load_ptr == n_load && idle && !res_fire) begin
        if (n_res != 0) $writememh("res.hex", res_mem, 0, n_res - 1);
        running <= 1'b0;
        res_r <= 1'b0;
        done <= 1'b1;
      end
    end
  end
endmodule
"""


def _source_digest() -> str:
    """Hash of every source file the generated Verilog depends on."""
    root = Path(__file__).resolve().parents[1]
    files = [root / "hw" / f for f in ("pe.py", "array.py", "accel.py", "verilog.py")]
    files += [root / "model" / "formats.py", Path(__file__).resolve()]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    import amaranth
    h.update(amaranth.__version__.encode())
    return h.hexdigest()


def build_host(cfg: HostConfig, sim: str = "verilator") -> tools.Build:
    """Build (or reuse from the cache) the host testbench + tile for ``sim``."""
    from cocotb_tools.runner import get_runner

    from hw.verilog import generate

    simulator = tools.find_simulator(sim)
    # Keyed on the sources that determine the Verilog, so a cache hit needs
    # no Amaranth elaboration (seconds per start for an 8x8 tile).
    key = {"sim": simulator.name, "sim_version": simulator.version, "cfg": cfg.__dict__,
           "sources": _source_digest(), "waves": tools.waves_enabled()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    build_dir = tools.cache_root() / simulator.name / f"host-{digest}"
    params = dict(cfg.__dict__)
    result = tools.Build(simulator, "host", HOST_TOP, params, build_dir,
                         build_dir / f"{HOST_TOP}.v", tools.waves_enabled())
    marker = build_dir / ".built"
    if marker.is_file():
        return result
    with tools.locked(build_dir.with_name(build_dir.name + ".lock")):
        if marker.is_file():
            return result
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        accel_file = build_dir / "radix4_accel.v"
        accel_file.write_text(generate("accel", rows=cfg.rows, cols=cfg.cols,
                                       acc_width=cfg.acc_width, depth=cfg.depth))
        result.verilog.write_text(host_verilog(cfg))
        log = build_dir / "build.log"
        with tools.sim_environment(simulator):
            try:
                if simulator.name == "verilator":
                    _build_verilator(simulator, [accel_file, result.verilog], build_dir,
                                     result.waves, log)
                else:
                    get_runner(simulator.name).build(
                        sources=[accel_file, result.verilog], hdl_toplevel=HOST_TOP,
                        build_dir=build_dir, timescale=tools.TIMESCALE,
                        waves=result.waves, always=True, log_file=log)
            except (RuntimeError, SystemExit, subprocess.CalledProcessError) as exc:
                tail = log.read_text()[-3000:] if log.is_file() else ""
                raise RuntimeError(f"{sim} build of the host testbench failed ({exc}):\n"
                                   f"{tail}") from None
        marker.write_text(json.dumps(key, indent=1, sort_keys=True))
    return result


def _build_verilator(simulator, sources, build_dir: Path, waves: bool, log: Path):
    """cocotb's Verilator build, minus ``--public-flat-rw``.

    cocotb's runner makes every signal public and writable, which forces
    Verilator to re-evaluate all combinational logic at every step (the model
    ran ~4x slower).  The host testbench marks the few registers cocotb
    touches ``public_flat_rw`` itself, so the tile inside is optimised as a
    real design would be.  Same harness (cocotb's ``verilator.cpp``), same
    executable name, so ``verif.tools.launch`` starts it unchanged.
    """
    import cocotb_tools.config as cfg

    libs = cfg.libs_dir
    harness = cfg.share_dir / "lib" / "verilator" / "verilator.cpp"
    cmd = [str(simulator.bin_dir / "verilator"), "-cc", "--exe", "-Mdir", str(build_dir),
           "--top-module", HOST_TOP, "--vpi", "--prefix", "Vtop", "-o", HOST_TOP,
           "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
           "--timing", "-O3", "--x-assign", "fast", "--x-initial", "fast",
           "-Wno-fatal", "-Wno-lint", "-Wno-style", "--timescale", "1ns/1ps"]
    if waves:
        cmd.append("--trace")
    cmd += [str(harness)] + [str(s) for s in sources]
    make = ["make", "-j", str(min(os.cpu_count() or 1, 4)), "-C", str(build_dir),
            "-f", "Vtop.mk", f"VM_TRACE={int(waves)}"]
    # ``tools.sim_environment`` already fixes the wheel's precompiled-header
    # flag (MAKEFLAGS); ``--timing`` coroutines also need C++20, which the
    # wheel's makefile does not ask for.
    env = dict(os.environ)
    env["CXXFLAGS"] = " ".join(filter(None, [env.get("CXXFLAGS"), "--std=c++20"]))
    with open(log, "w") as out:
        for step in (cmd, make):
            out.write(" ".join(step) + "\n")
            out.flush()
            subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=True, env=env)


