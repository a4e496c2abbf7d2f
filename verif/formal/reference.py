"""The reference properties shared by the property wrappers.

- The reference product (``hw.reference_text``, re-exported here), written
  from the golden model's value tables independently of ``hw.pe``: a literal
  case table per operand and a plain signed multiply.
- The output-row reference of the array and the tile (``Scoreboard``): every
  cell's exact running sum and sticky flag per accepted beat, a queue of the
  rows a GEMM owes, and the assertions on every row taken from the DUT
  (row order, ``last``, optionally data and flags), that nothing comes out
  with nothing owed, and that an owed row comes out within a bound while
  the consumer is ready.  ``array_props`` and ``tile_props`` differ only in
  where the beats and jobs come from.
- The stream rules: ``stream_rules`` assumes them on inputs and asserts them
  on outputs.
"""

from dataclasses import dataclass

# The reference product (value tables, a plain multiply) is one text with
# the k-lane PE's simulation model, so it lives in hw (hw.reference_text).
from hw.reference_text import REF_WIDTH, in_range, reference_functions

__all__ = ["REF_WIDTH", "in_range", "reference_functions", "B_NIBBLES", "b_restriction",
           "stream_rules", "Scoreboard"]


# DATA_CHECK (off by default, ``wrapper(..., data=True)``): the BMC wrappers
# can also compare every output row's sums and flags with the reference.
# Measured: with it, smtbmc (yices and z3 alike) did not finish BMC step 7 of
# the 2x2 array in 5 minutes even with B restricted as below; without it,
# depth 10 takes 6 s.  The sums are therefore left to the PE proof (product
# and accumulator, unbounded) and to simulation (tests/, verif/: every row
# against the golden model); the BMC proves the control: order, counts,
# stream rules, bounded delivery, state-only ready.
#
# B nibbles the BMC wrappers allow: 0, 1 and 15 (int4 -1, uint4 15).  The
# product itself is proved for every operand pair by the PE task; in the
# array and tile BMC a free 5x5 multiplier compared against the reference
# multiply over several accumulated beats is a multiplier-equivalence SAT
# problem that did not finish a single step in 10 minutes.  With B in this
# set each product is a negation or a small constant multiple of A, A stays
# free in every format, any two lanes can still differ (routing errors stay
# visible), and three 4096 x 15 products overflow W = 18 (flags exercised).
B_NIBBLES = (0, 1, 15)


def b_restriction(payload: str, offset: int, lanes: int) -> str:
    """``assume`` that every B lane of ``payload`` (at ``offset``) is in B_NIBBLES."""
    lines = []
    for c in range(lanes):
        lane = f"{payload}[{offset + 4 * c + 3}:{offset + 4 * c}]"
        lines.append("  always @(*) assume (" + " || ".join(f"{lane} == 4'd{v}" for v in B_NIBBLES)
                     + ");")
    return "\n".join(lines) + "\n"


def stream_rules(streams) -> str:
    """Valid held and payload stable while not taken: assumed on inputs, asserted on
    outputs.  ``streams``: ``(tag, valid, ready, payload, width, is_input)``."""
    regs = " ".join(f"held_{t} = 0," for t, *_ in streams).rstrip(",")
    pasts = "; ".join(f"reg [{w - 1}:0] past_{t}" for t, _, _, _, w, _ in streams)
    lines = [f"  reg {regs};", f"  {pasts};", "  always @(posedge clk) begin"]
    for t, valid, ready, payload, _, _ in streams:
        lines.append(f"    held_{t} <= !rst && {valid} && !{ready}; past_{t} <= {payload};")
    lines += ["  end", "  always @(*) begin"]
    for t, valid, _, payload, _, is_input in streams:
        if is_input:
            lines.append(f"    if (held_{t}) assume ({valid} && {payload} == past_{t});")
        else:
            lines.append(f"    if (held_{t}) begin assert ({valid}); "
                         f"assert ({payload} == past_{t}); end")
    lines.append("  end")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Scoreboard:
    """The expected output rows of an R x C array of ``acc_width``-bit
    accumulators (module docstring), as Verilog text pieces.

    ``out_payload``/``out_layout``: the DUT's output row stream (payload
    expression and ``hw.drain.output_layout``); ``queue``: how many GEMMs
    may be owed at once (a power of two).
    """

    rows: int
    cols: int
    acc_width: int
    out_payload: str
    out_layout: object
    queue: int

    @property
    def cells(self) -> int:
        return self.rows * self.cols

    def declarations(self) -> str:
        n, W, q = self.cells, self.acc_width, self.queue
        qb = (q - 1).bit_length()
        rw = self.out_layout["row"].width
        return f"""\
  reg [{n * W - 1}:0] acc = 0; reg [{n - 1}:0] ovf = 0;
  reg [{n * W - 1}:0] row_d; reg [{n - 1}:0] row_f;  // the GEMM's rows after this beat
  reg [{n * W - 1}:0] q_data [0:{q - 1}]; reg [{n - 1}:0] q_ovf [0:{q - 1}];
  reg [{qb - 1}:0] q_head = 0, q_tail = 0; reg [{qb}:0] q_count = 0;
  wire [{n * W - 1}:0] head_d = q_data[q_head]; wire [{n - 1}:0] head_f = q_ovf[q_head];
  reg [{rw - 1}:0] out_row = 0;
"""

    def beat(self, first: str, a_fmt: str, a_lane, b_fmt: str, b_lane) -> str:
        """Statements for one accepted beat: every cell adds the reference
        product of its lanes (``a_lane(r)``, ``b_lane(c)``: Verilog
        expressions) to its running sum, or starts a new one when ``first``;
        ``row_d``/``row_f`` are the rows the GEMM would emit now."""
        W, X = self.acc_width, REF_WIDTH
        cells = ["        row_d = 0; row_f = 0;"]
        for r in range(self.rows):
            for c in range(self.cols):
                k = r * self.cols + c
                cells.append(f"""\
        begin : cell_{r}_{c}
          reg signed [{X - 1}:0] s;
          s = ({first} ? {X}'sd0 : {{{{({X}-{W}){{acc[{k * W + W - 1}]}}}}, acc[{k * W + W - 1}:{k * W}]}})
              + ref_product({a_fmt}, {a_lane(r)},
                            {b_fmt}, {b_lane(c)});
          acc[{k * W + W - 1}:{k * W}] <= s[{W - 1}:0];
          row_d[{k * W + W - 1}:{k * W}] = s[{W - 1}:0];
          row_f[{k}] = (ovf[{k}] & ~{first}) | !{in_range("s", W)};
          ovf[{k}] <= row_f[{k}];
        end""")
        return "\n".join(cells) + "\n"

    def push_rows(self) -> str:
        """Statement: queue ``row_d``/``row_f`` (the GEMM's R rows) at the tail."""
        return "        q_data[q_tail] <= row_d; q_ovf[q_tail] <= row_f;"

    def bookkeeping(self, push: str, pop: str, take_out: str) -> str:
        """Sequential statements: queue pointers and the row counter."""
        return f"""\
      if ({push}) q_tail <= q_tail + 1;
      if ({pop}) q_head <= q_head + 1;
      q_count <= q_count + {push} - {pop};
      if ({take_out}) out_row <= (out_row == {self.rows - 1}) ? 0 : out_row + 1;
"""

    def row_checks(self, take_out: str, data: bool) -> str:
        """Combinational assertions on every row taken (``data``: also the sums
        and flags; see DATA_CHECK above)."""
        R, C, W, lay, o = self.rows, self.cols, self.acc_width, self.out_layout, self.out_payload
        rw_o, rw_w = lay["row"].offset, lay["row"].width
        d_o, ov_o, last_o = lay["data"].offset, lay["overflow"].offset, lay["last"].offset
        checks = "" if not data else "\n".join(
            f"      assert ({o}[{d_o + W * c + W - 1}:{d_o + W * c}] == head_d[(out_row * {C} + {c}) * {W} +: {W}]);\n"
            f"      assert ({o}[{ov_o + c}] == head_f[out_row * {C} + {c}]);"
            for c in range(C))
        return f"""\
    assert (q_count <= {self.queue - 1});
    if (!rst && {take_out}) begin
      assert (q_count != 0);
      assert ({o}[{rw_o + rw_w - 1}:{rw_o}] == out_row);
      assert ({o}[{last_o}] == (out_row == {R - 1}));
{checks}
    end
"""

    def nothing_lost(self, take_out: str, out_ready: str, bound: int) -> str:
        """While rows are owed and the consumer stays ready, a row within ``bound`` cycles."""
        return f"""\
  reg [5:0] wait_cycles = 0;
  always @(posedge clk)
    wait_cycles <= (rst || q_count == 0 || {take_out} || !{out_ready}) ? 0 : wait_cycles + 1;
  always @(*) assert (wait_cycles <= {bound});
"""
