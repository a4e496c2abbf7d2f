"""The simulated host around the tile *with* the quantization unit, and its build.

Same scheme as ``sim.host`` (host memories standing in for DRAM, one DMA per
stream, ``$readmemh`` in / ``$writememh`` out, one ``done`` per batch), with
the streams of ``hw.tile_quant.QuantTile``: inputs ``cmd``, ``load``,
``qcfg``, ``mask``, ``requant`` (files ``cmd.hex`` ``load.hex`` ``qcfg.hex``
``mask.hex`` ``rq.hex``), outputs ``result`` (``res.hex``, INT32 rows) and
``qout`` (``qres.hex``, code rows).  The module keeps the name
``radix4_host`` so ``sim.host``'s Verilator build is reused unchanged; its
build cache label is ``qhost`` and its key holds its own Verilog.
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.accel import COUNTERS, load_layout
from hw.array import output_layout
from hw.quant_unit import output_layout as unit_output_layout
from hw.tile_quant import (default_quant_lanes, mask_layout, qcfg_layout, qjob_layout,
                           requant_layout)
from verif import toolchain as tc

from .host import HOST_TOP, HostConfig, build_testbench

__all__ = ["QuantHostConfig", "quant_host_sources", "build_quant_host", "INPUTS", "OUTPUTS"]

# stream name, memory/file name, depth attribute
INPUTS = (("cmd", "cmd", "host_cmds"), ("load", "load", "host_beats"),
          ("qcfg", "qcfg", "host_qcfgs"), ("mask", "mask", "host_rows"),
          ("requant", "rq", "host_rows"))
OUTPUTS = (("result", "res", "host_rows"), ("qout", "qres", "host_rows"))


@dataclass(frozen=True)
class QuantHostConfig(HostConfig):
    host_qcfgs: int = 2048     # unit configurations per batch
    quant_lanes: int | None = None   # the unit's datapath lanes (None: the tile's default)

    def __post_init__(self):
        super().__post_init__()
        default_quant_lanes(self.cols, self.quant_lanes)     # refused before any build

    def widths(self) -> dict[str, int]:
        r, c, w, d = self.rows, self.cols, self.acc_width, self.depth
        return {"cmd": qjob_layout(d).size, "load": load_layout(r, c, lanes=self.lanes).size,
                "qcfg": qcfg_layout(c).size, "mask": mask_layout(c).size,
                "rq": requant_layout(c, w).size, "res": output_layout(r, c, w).size,
                "qres": unit_output_layout(c, w).size}


def _input_dma(stream, mem, i):
    # xorshift word i (one per stream) decides this stream's valid gaps
    return f"""
  reg [31:0] n_{mem} /*verilator public_flat_rw*/ = 0;
  reg [31:0] {mem}_ptr = 0;
  reg {mem}_v = 1'b0;
  wire {mem}_ready;
  wire {mem}_fire = {mem}_v & {mem}_ready;
  wire [31:0] {mem}_next = {mem}_ptr + {{31'b0, {mem}_fire}};
  wire {mem}_gap = (rng{i // 3}[{10 * (i % 3) + 9}:{10 * (i % 3)}] % 1000) < gap_permille;"""


def quant_host_verilog(cfg: QuantHostConfig) -> str:
    w = cfg.widths()
    depth = {mem: getattr(cfg, attr) for _, mem, attr in INPUTS + OUTPUTS}
    decl = "\n".join(f"  reg [{w[mem] - 1}:0] {mem}_mem [0:{depth[mem] - 1}];"
                     for _, mem, _ in INPUTS + OUTPUTS)
    dmas = "".join(_input_dma(s, mem, i) for i, (s, mem, _) in enumerate(INPUTS))
    outs = "".join(f"""
  reg [31:0] n_{mem} /*verilator public_flat_rw*/ = 0;
  reg [31:0] {mem}_ptr = 0;
  reg {mem}_r = 1'b0;
  wire {mem}_valid;
  wire [{w[mem] - 1}:0] {mem}_payload;
  wire {mem}_fire = {mem}_valid & {mem}_r;""" for _, mem, _ in OUTPUTS)
    ports = ",\n".join(
        [f"    .{s}__valid({mem}_v), .{s}__ready({mem}_ready), "
         f".{s}__payload({mem}_mem[{mem}_ptr[{(depth[mem] - 1).bit_length() - 1}:0]])"
         for s, mem, _ in INPUTS]
        + [f"    .{s}__valid({mem}_valid), .{s}__ready({mem}_r), .{s}__payload({mem}_payload)"
           for s, mem, _ in OUTPUTS]
        + [f"    .{n}({n})" for n in COUNTERS])
    counters = "\n".join(f"  wire [47:0] {n} /*verilator public_flat_rd*/;" for n in COUNTERS)
    start = "\n".join(
        f"      if (n_{mem} != 0) $readmemh(\"{mem}.hex\", {mem}_mem, 0, n_{mem} - 1);\n"
        f"      {mem}_ptr <= 0; {mem}_v <= 1'b0;" for _, mem, _ in INPUTS)
    start += "\n" + "\n".join(f"      {mem}_ptr <= 0; {mem}_r <= 1'b0;" for _, mem, _ in OUTPUTS)
    run_in = "\n".join(
        f"      {mem}_ptr <= {mem}_next;\n"
        f"      if (!{mem}_v || {mem}_fire) {mem}_v <= ({mem}_next < n_{mem}) && !{mem}_gap;"
        for _, mem, _ in INPUTS)
    run_out = "\n".join(
        f"      {mem}_r <= !stall_{j};\n"
        f"      if ({mem}_fire) begin\n"
        f"        {mem}_mem[{mem}_ptr[{(depth[mem] - 1).bit_length() - 1}:0]] <= {mem}_payload;\n"
        f"        {mem}_ptr <= {mem}_ptr + 1;\n"
        f"      end" for j, (_, mem, _) in enumerate(OUTPUTS))
    all_in = " && ".join(f"{mem}_ptr == n_{mem}" for _, mem, _ in INPUTS + OUTPUTS)
    no_fire = " && ".join(f"!{mem}_fire" for _, mem, _ in OUTPUTS)
    dump = "\n".join(f"        if (n_{mem} != 0) $writememh(\"{mem}.hex\", {mem}_mem, 0, n_{mem} - 1);\n"
                     f"        {mem}_r <= 1'b0;" for _, mem, _ in OUTPUTS)
    return f"""`timescale 1ns/1ps
// radix4 host testbench (simulation only) around the tile with the quantization unit.
// rows={cfg.rows} cols={cfg.cols} acc_width={cfg.acc_width} depth={cfg.depth}
module {HOST_TOP};
  reg clk /*verilator public_flat_rw*/ = 1'b0;
  always #5 clk = ~clk;
  reg rst /*verilator public_flat_rw*/ = 1'b1;
  reg [31:0] gap_permille /*verilator public_flat_rw*/ = 0;
  reg [31:0] stall_permille /*verilator public_flat_rw*/ = 0;
  reg [31:0] seed /*verilator public_flat_rw*/ = 32'h1;
  reg go /*verilator public_flat_rw*/ = 1'b0;
  reg done /*verilator public_flat_rw*/ = 1'b0;
  reg go_seen = 1'b0, running = 1'b0;
  wire start = go != go_seen;
  wire idle;
  wire cmd_error /*verilator public_flat_rd*/;
  wire cfg_error /*verilator public_flat_rd*/;
{counters}
{decl}
  // two xorshift32 generators, 10 bits per decision: gaps of 5 inputs, stalls of 2 outputs
  reg [31:0] rng0 = 32'h1, rng1 = 32'h2, rng2 = 32'h3;
  function [31:0] xs(input [31:0] x);
    reg [31:0] a, b;
    begin a = x ^ (x << 13); b = a ^ (a >> 17); xs = b ^ (b << 5); end
  endfunction
  wire stall_0 = (rng1[29:20] % 1000) < stall_permille;
  wire stall_1 = (rng2[9:0] % 1000) < stall_permille;
{dmas}
{outs}

  radix4_qtile dut (
    .clk(clk), .rst(rst), .counters_clear(start), .idle(idle),
    .cmd_error(cmd_error), .cfg_error(cfg_error),
{ports}
  );

  always @(posedge clk) begin
    if (rst) begin
      running <= 1'b0;
    end else if (start) begin
      go_seen <= go;
{start}
      rng0 <= (seed == 0) ? 32'h1 : seed;
      rng1 <= xs((seed == 0) ? 32'h1 : seed) ^ 32'h9E3779B9;
      rng2 <= xs(xs((seed == 0) ? 32'h1 : seed)) ^ 32'h7F4A7C15;
      running <= 1'b1;
      done <= 1'b0;
    end else if (running) begin
      rng0 <= xs(rng0);
      rng1 <= xs(rng1);
      rng2 <= xs(rng2);
{run_in}
{run_out}
      if ({all_in} && idle && {no_fire}) begin
{dump}
        running <= 1'b0;
        done <= 1'b1;
      end
    end
  end
endmodule
"""


def quant_host_sources(cfg: QuantHostConfig) -> dict[str, str]:
    from hw.tile_quant import generate_verilog

    verilog = generate_verilog(quant_lanes=cfg.quant_lanes, config=cfg.datapath())
    return {"radix4_qtile.v": verilog,
            f"{HOST_TOP}.v": quant_host_verilog(cfg)}


def build_quant_host(cfg: QuantHostConfig, sim: str = "verilator") -> tc.Build:
    """Build (or reuse from the cache) the quant host testbench for ``sim``."""
    return build_testbench(cfg, quant_host_sources(cfg), sim, "qhost", "quant host testbench")

