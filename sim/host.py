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

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hw.accel import COUNTERS, job_layout, load_layout, tile_pe_signature
from hw.array import output_layout
from model.config import DatapathConfig
from verif import toolchain as tc

__all__ = ["HostConfig", "host_verilog", "host_sources", "host_key", "build_host", "HOST_TOP"]

HOST_TOP = "radix4_host"


@dataclass(frozen=True)
class HostConfig(DatapathConfig):
    """The tile's ``DatapathConfig`` (validated there, before a build directory
    or lock exists for it) plus the host testbench's memory sizes."""

    host_beats: int = 1 << 16  # operand beats per batch
    host_cmds: int = 4096      # jobs per batch
    host_rows: int = 8192      # result rows per batch

    def __post_init__(self):
        super().__post_init__()
        for name in ("host_beats", "host_cmds", "host_rows"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2 or v & (v - 1):
                raise ValueError(f"{name} must be a power of two >= 2, got {v!r}")

    @property
    def cmd_width(self) -> int:
        return job_layout(self.depth, tile_pe_signature(self.datapath())).size

    @property
    def load_width(self) -> int:
        return load_layout(self.rows, self.cols, tile_pe_signature(self.datapath())).size

    @property
    def result_width(self) -> int:
        return output_layout(self.rows, self.cols, self.acc_width).size


def host_verilog(cfg: HostConfig) -> str:
    """The host testbench module ``radix4_host`` wrapping ``radix4_accel``."""
    counters = "\n".join(f"  wire [47:0] {n} /*verilator public_flat_rd*/;" for n in COUNTERS)
    counter_ports = ",\n".join(f"    .{n}({n})" for n in COUNTERS)
    return f"""`timescale 1ns/1ps
// radix4 host testbench (simulation only): host memories + DMA around the tile.
// rows={cfg.rows} cols={cfg.cols} acc_width={cfg.acc_width} depth={cfg.depth} pe_latency={cfg.pe_latency} lanes={cfg.lanes} pe={cfg.pe}
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


def host_sources(cfg: HostConfig) -> dict[str, str]:
    """``{file name: Verilog text}`` of the host testbench build: the tile from
    the project's generator and the host module around it."""
    from hw.verilog import generate

    return {"radix4_accel.v": generate("accel", config=cfg.datapath()),
            f"{HOST_TOP}.v": host_verilog(cfg)}


def host_key(cfg: HostConfig, simulator: tc.Simulator, sources: dict[str, str],
             waves: bool) -> dict:
    """The cache key of a host build: the generated Verilog itself (so any
    change to any hw module, including a new one, rebuilds), the tools and
    the flags.  Costs one Amaranth elaboration per start (about 3 s for 8x8);
    a key built from a list of source files went stale silently."""
    return {**tc.tool_key(simulator), "top": HOST_TOP, "cfg": dict(cfg.__dict__),
            "verilog_sha256": {n: tc.sha256_text(t) for n, t in sorted(sources.items())},
            "verilator_flags": list(_VERILATOR_FLAGS) if simulator.name == "verilator" else [],
            "waves": waves}


def build_host(cfg: HostConfig, sim: str = "verilator") -> tc.Build:
    """Build (or reuse from the cache) the host testbench + tile for ``sim``.

    The configuration is validated (``HostConfig``) and the Verilog generated
    before any directory or lock is created.
    """
    return build_testbench(cfg, host_sources(cfg), sim, "host", "host testbench")


def build_testbench(cfg, sources: dict[str, str], sim: str, label: str,
                    what: str) -> tc.Build:
    """Build (or reuse) a host testbench whose Verilog ``sources`` are
    generated; shared by the plain host and the quantization host
    (``sim.quant_host``), so both use one cache key rule and one build."""
    simulator = tc.find_simulator(sim)
    waves = tc.waves_enabled()
    key = host_key(cfg, simulator, sources, waves)

    def populate(build_dir: Path) -> None:
        files = []
        for name, text in sources.items():
            tc.write_atomic(build_dir / name, text)
            files.append(build_dir / name)
        log = build_dir / "build.log"
        try:
            if simulator.name == "verilator":
                _build_verilator(simulator, files, build_dir, waves, log)
            else:
                tc.cocotb_build(simulator, files, HOST_TOP, build_dir, build_args=[],
                                waves=waves, log=log)
        except (RuntimeError, SystemExit, subprocess.CalledProcessError) as exc:
            tail = log.read_text()[-3000:] if log.is_file() else ""
            raise RuntimeError(f"{sim} build of the {what} failed ({exc}); "
                               f"log {log}:\n{tail}") from None

    build_dir, _ = tc.cached_build(tc.cache_root() / simulator.name, label, key, populate)
    return tc.Build(simulator, label, HOST_TOP, dict(cfg.__dict__), build_dir,
                    build_dir / f"{HOST_TOP}.v", waves)


# cocotb's Verilator build flags minus ``--public-flat-rw`` (see _build_verilator).
_VERILATOR_FLAGS = ("--timing", "-O3", "--x-assign", "fast", "--x-initial", "fast",
                    *tc.VERILATOR_BUILD_ARGS, "--timescale", "1ns/1ps")


def _build_verilator(simulator, sources, build_dir: Path, waves: bool, log: Path):
    """cocotb's Verilator build, minus ``--public-flat-rw``.

    cocotb's runner makes every signal public and writable, which forces
    Verilator to re-evaluate all combinational logic at every step (the model
    ran ~4x slower).  The host testbench marks the few registers cocotb
    touches ``public_flat_rw`` itself, so the tile inside is optimised as a
    real design would be.  Same harness (cocotb's ``verilator.cpp``), same
    executable name, so ``verif.toolchain.launch`` starts it unchanged.
    """
    harness = tc.verilator_harness()
    cmd = [str(simulator.executable), "-cc", "--exe", "-Mdir", str(build_dir),
           "--top-module", HOST_TOP, "--vpi", "--prefix", "Vtop", "-o", HOST_TOP,
           "-LDFLAGS", harness["ldflags"], *_VERILATOR_FLAGS]
    if waves:
        cmd.append("--trace")
    cmd += [str(harness["cpp"])] + [str(s) for s in sources]
    make = ["make", "-j", str(min(os.cpu_count() or 1, 4)), "-C", str(build_dir),
            "-f", "Vtop.mk", f"VM_TRACE={int(waves)}"]
    # ``tc.tool_env`` sets the make variables every Verilator build needs
    # (helper-script interpreter, precompiled-header flag); ``--timing``
    # coroutines also need C++20, which the wheel's makefile does not ask for.
    env = tc.tool_env(simulator)
    env["CXXFLAGS"] = " ".join(filter(None, [env.get("CXXFLAGS"), "--std=c++20"]))
    with open(log, "w") as out:
        for step in (cmd, make):
            out.write(" ".join(step) + "\n")
            out.flush()
            subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=True, env=env)
