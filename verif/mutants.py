"""The mutation catalogue: seeded RTL bugs the suite must catch (``make mutate``).

Each mutant is one exact text replacement in one file under hw/ (or, with
``file``, another source file: the driver's lane packing and padding).  The old
text must occur exactly once in the current source, so a refactor that moves
it makes the catalogue fail loudly (``verif.mutate`` reports it as STALE)
instead of silently testing nothing.  ``layers`` names the test selections
that must *each* kill the mutant (issue 17: a hole in one layer must not be
hidden by another): ``tests`` is the Amaranth-simulation suite of the module,
``verif`` the cocotb bench (Icarus), ``driver`` the driver-level tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Test selections (pytest arguments, run from the mutated copy's root).
SELECTIONS = {
    "tests:pe": ["tests/test_pe.py"],
    "tests:array": ["tests/test_array.py"],
    "tests:tile": ["tests/test_accel.py"],
    "tests:quant": ["tests/test_quant_unit.py"],
    "verif:array": ["verif/test_array.py", "-k", "icarus and (2x3 or 3x5)"],
    "verif:tile": ["verif/test_accel.py"],
    # The real driver and host testbench (sim.backends, Icarus): a sticky
    # overflow across a job chain and batches, counters, backpressure.
    "driver": ["tests/test_driver_overflow.py"],
    # The tile with the quantization unit through its host (Icarus only: the
    # Verilator build of it takes minutes).
    "tests:quant_tile": ["tests/test_quant_tile.py", "-k", "not verilator"],
    # The k-lane PE (hw/dot_pe.py, dot_rows.py, adder_tree.py): Amaranth
    # simulation, and its cocotb bench on Icarus at 2, 4 and 16 lanes, W = 18.
    "tests:dot_pe": ["tests/test_dot_pe.py", "tests/test_adder_tree.py"],
    # The quantization unit's cocotb bench, Icarus at 3 lanes W = 18.
    "verif:quant": ["verif/test_quant_unit.py", "-k", "icarus-c3w18"],
    "verif:dot_pe": ["verif/test_dot_pe.py", "-k", "icarus-k2-w18 or icarus-k4-w18 or icarus-k16-w18"],
    # The k-lane baselines of the cost report (hw/baselines/int8_dot.py,
    # fp_dot.py, dot_base.py) against model/dot_baselines.py, Amaranth simulation.
    "tests:dot_baselines": ["tests/test_dot_baselines_rtl.py", "-m", "not slow"],
    # The block-scaled PEs (hw/block_dot_pe.py) against model/block_hw.py's beat
    # reference, and the array carrying their scale fields (issue 25 item 3).
    "tests:block_pe": ["tests/test_block_dot_pe.py"],
    "tests:block_array": ["tests/test_block_array.py"],
    # The AXI shell (hw/axi_*.py): its cocotbext-axi bench on Icarus, and the
    # table-driven CSR decode in Amaranth simulation.
    "verif:axi": ["verif/test_axi.py", "-k", "icarus"],
    "tests:axi": ["tests/test_axi_csr.py"],
    # The shell around the tile with the quantization unit (hw/axi_quant.py and
    # the route logic of hw/axi_shell.py): its cocotbext-axi bench on Icarus.
    "verif:axiq": ["verif/test_axiq.py", "-k", "icarus"],
    # The array and driver with k-lane PEs (issue 27 item 2): Amaranth array
    # tests, the array's cocotb bench on Icarus at 2x3 k = 8, and the Icarus
    # tile through the real driver (padding, lane packing) against the model.
    "tests:lanes": ["tests/test_array_lanes.py"],
    "verif:array_lanes": ["verif/test_array.py", "-k", "lanes and icarus and k8"],
    "driver:lanes": ["tests/test_driver_lanes.py", "-m", "not slow"],
    # Block-scaled GEMMs through the real driver and tile (Icarus, NVFP4), and
    # the driver's beat packing on its own (issue 25).
    "driver:block": ["tests/test_block_rtl.py", "-m", "not slow"],
    "driver:block_plan": ["tests/test_block_backend.py", "-k", "plan"],
    # The synthesized netlist of a small array (Yosys, PEs as black boxes):
    # replicated control and drain enables stay apart (docs/timing.md).
    "tests:replica": ["tests/test_replica.py"],
}
DEFAULT_LAYER = {"pe": "tests:pe", "product": "tests:pe", "product_pipeline": "tests:pe", "skew": "tests:array",
                 "grid": "tests:array", "drain": "tests:array", "array": "tests:array",
                 "accel": "tests:tile", "tile_quant": "tests:quant_tile", "quant_unit": "tests:quant",
                 "dot_pe": "tests:dot_pe", "dot_rows": "tests:dot_pe", "adder_tree": "tests:dot_pe",
                 "axi_shell": "verif:axi", "axi_lite": "verif:axi", "axi_csr": "tests:axi",
                 "axi_quant": "verif:axiq",
                 "replica": "tests:replica", "block_dot_pe": "tests:block_pe"}


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str          # hw/<module>.py
    old: str
    new: str
    why: str             # what the bug is
    layers: tuple = field(default=())   # default: the module's tests/ selection
    file: str = ""       # a source file outside hw/ (default hw/<module>.py)

    @property
    def path(self) -> str:
        return self.file or f"hw/{self.module}.py"

    @property
    def kill_layers(self) -> tuple:
        return self.layers or (DEFAULT_LAYER[self.module],)


M = Mutant
DOT_LAYERS = ("tests:dot_pe", "verif:dot_pe")
BASE_LAYERS = ("tests:dot_baselines",)
CATALOGUE = [
    # ---- PE -------------------------------------------------------------------
    M("pe_fp4_shift", "product", "b_value << (spec.shift_per_exp * (e - 1))",
      "b_value << (spec.shift_per_exp * (e - 1) + (e == 4))", "FP4 exponent 4 shifts one too far"),
    M("pe_fp4_sign", "product", "Mux(sign, -shifted, shifted)", "Mux(sign, shifted, -shifted)",
      "FP4 sign inverted"),
    M("pe_int_zero_extend", "product", "code.as_signed() if spec.code_min < 0 else code",
      "code if spec.code_min < 0 else code", "signed codes zero-extended"),
    M("pe_reserved_select", "product", "with m.Default():  # select codes no format uses\n"
      "                m.d.comb += self.product.eq(0)",
      "with m.Default():  # select codes no format uses\n"
      "                m.d.comb += self.product.eq(int_product)", "reserved a_fmt multiplies"),
    M("pe_clear_ignored", "pe", "with m.If(valid & clear):", "with m.If(valid & clear & 0):",
      "clear does not restart the sum"),
    M("pe_overflow_not_sticky", "pe", "self.overflow.eq(self.overflow | leaves_range)",
      "self.overflow.eq(leaves_range)", "overflow flag not sticky: a sum out of range "
      "mid-chain and back is not reported (issue 17)", ("tests:pe", "driver")),
    M("pe_overflow_sign_only", "pe", "total[width] ^ total[width - 1]", "total[width]",
      "overflow from the sign bit instead of the range", ("tests:pe", "driver")),
    M("pe_clear_without_valid", "pe", "m.d.sync += [self.acc.eq(0), self.overflow.eq(0)]",
      "m.d.sync += [self.overflow.eq(0)]", "clear without valid keeps acc"),
    M("pe_l2_clear_lost", "pe", "valid.eq(self.valid), clear.eq(self.clear)]",
      "valid.eq(self.valid), clear.eq(0)]", "latency-2 stage drops clear"),
    # ---- the two-stage product (PE latency 3, the default) ---------------------
    M("pp_split_shift", "product_pipeline", "int_sum.eq(pp_lo + (pp_hi << k))",
      "int_sum.eq(pp_lo + (pp_hi << (k - 1)))", "high partial product one bit short"),
    M("pp_int_not_zeroed", "product_pipeline", "pp_lo.eq(Mux(is_int, lo, 0))", "pp_lo.eq(lo)",
      "integer partial product leaks into FP4 products"),
    M("pp_log_sign_dropped", "product_pipeline", "signed_b.eq(Mux(sign, -b_value, b_value))",
      "signed_b.eq(b_value)", "FP4 sign ignored in the two-stage product"),
    M("pp_exponent_not_gated", "product_pipeline",
      "exponent.eq(Mux(self.a_fmt == spec.hw_code, a_lane[:spec.exp_bits], 0))",
      "exponent.eq(a_lane[:spec.exp_bits])", "shift term leaks into integer products"),
    M("pp_clear_one_stage", "product_pipeline", "self.clear_out.eq(clear_1)",
      "self.clear_out.eq(self.clear)", "clear reaches the accumulator a cycle early"),
    # ---- the k-lane dot-product PE (issue 27) -----------------------------------
    M("tree_term_dropped", "adder_tree",
      "m.d.comb += up.eq((x.value >> d) + y.value + (c if c is not None else 0))",
      "m.d.comb += up.eq((x.value >> d) + (c if c is not None else 0))",
      "adder tree: one operand of every adder dropped", DOT_LAYERS),
    M("tree_width_narrowed", "adder_tree",
      'Signal(signed(signed_width(up_lo, up_hi)), name=f"{name}_{n}"',
      'Signal(signed(signed_width(up_lo, up_hi) - 1), name=f"{name}_{n}"',
      "adder tree one bit narrower than its value interval", DOT_LAYERS),
    M("tree_carry_dropped", "adder_tree", "c = carries.pop(j)[0] if j is not None else None",
      "c = None", "negation carries (+1 of x ^ neg) never added", DOT_LAYERS),
    M("tree_low_bits_dropped", "adder_tree", "m.d.comb += [low.eq(x.value), value.eq(Cat(low, up))]",
      "m.d.comb += [low.eq(0), value.eq(Cat(low, up))]",
      "the lower operand's bits below the higher weight are not wired through",
      # reduce_by_weight now serves the INT8 baseline only (the radix-4 PE sums
      # whole lane products with reduce_terms): its unit tests and the INT8 PE.
      ("tests:dot_pe", "tests:dot_baselines")),
    M("rows_chain_carry_dropped", "dot_rows", "m.d.comb += up.eq((s >> f) + (v << d) + carry)",
      "m.d.comb += up.eq((s >> f) + (v << d))",
      "a lane's adder chain drops the +1 of its rows' x ^ neg", DOT_LAYERS),
    M("rows_booth_two", "dot_rows", "two_c.append(is_int & ((x2 & ~x1 & ~x0) | (~x2 & x1 & x0)))",
      "two_c.append(is_int & (x2 & ~x1 & ~x0))", "Booth digit +2 never selected", DOT_LAYERS),
    M("rows_log_sign", "dot_rows", "neg_c[row] = neg_c[row] | (hit & s)",
      "neg_c[row] = neg_c[row]", "FP4 sign ignored", DOT_LAYERS),
    M("rows_zero_digit_kept", "dot_rows", "m.d.sync += row.eq(Mux(one | two, value, 0))",
      "m.d.sync += row.eq(value)", "a zero Booth digit does not clear its row", DOT_LAYERS),
    M("rows_top_digit", "dot_rows", "top_c = is_int & (bit(2 * t) ^ bit(2 * t - 1))",
      "top_c = is_int & bit(2 * t - 1)", "the top row also lights for negative INT4", DOT_LAYERS),
    M("rows_post_index", "dot_rows", "post_c = Mux(hit, plan.posts.index(p), post_c)",
      "post_c = Mux(hit, plan.posts.index(p) - 1, post_c)",
      "FP4 post shift one step short", DOT_LAYERS),
    M("rows_post_narrow", "dot_rows", "m.d.comb += out.eq(s[:width].as_signed() << p)",
      "m.d.comb += out.eq(s[:width - 1].as_signed() << p)",
      "the post shift keeps one bit of S too few", DOT_LAYERS),
    M("tree_lane_term_dropped", "adder_tree",
      "m.d.comb += s.eq(x.value + y.value + (c if c is not None else 0))",
      "m.d.comb += s.eq(x.value + (c if c is not None else 0))",
      "lane tree: one operand of every adder dropped", DOT_LAYERS + BASE_LAYERS),
    M("dot_lane_pairing", "dot_pe",
      "lane.elaborate_into(m, self.a[i], self.a_fmt, self.b[i], self.b_fmt)",
      "lane.elaborate_into(m, self.a[i], self.a_fmt, self.b[(i + 1) % self.lanes], self.b_fmt)",
      "lane order: lane i's A multiplied by lane i+1's B", DOT_LAYERS),
    M("dot_overflow_group_only", "dot_pe",
      "self.overflow.eq(self.overflow | ~_fits(Term(total, 0, 0), width))",
      "self.overflow.eq(self.overflow | ~_fits(group, width))",
      "overflow judged on the group alone instead of acc + the group", DOT_LAYERS),
    M("dot_clear_never_overflows", "dot_pe", "self.overflow.eq(~_fits(group, width))",
      "self.overflow.eq(0)", "a clear beat's group is not judged (it can overflow for k > 1)",
      DOT_LAYERS),
    M("dot_fits_sign_only", "dot_pe", "return (top == 0) | (top == (1 << len(top)) - 1)",
      "return top == 0", "negative sums always flagged (range check on one side)", DOT_LAYERS),
    # ---- the k-lane baselines of the cost report (issue 27 item 4) ---------------
    M("fpdot_round_half_up", "baselines/fp_dot",
      "up.eq(norm[W - 25] & (norm[:W - 25].any() | norm[W - 24]))", "up.eq(norm[W - 25])",
      "FP32 rounding: ties away from zero instead of to even", BASE_LAYERS),
    M("fpdot_sticky_dropped", "baselines/fp_dot",
      "up.eq(norm[W - 25] & (norm[:W - 25].any() | norm[W - 24]))",
      "up.eq(norm[W - 25] & norm[W - 24])", "FP32 rounding ignores the bits below the round bit", BASE_LAYERS),
    M("fpdot_exponent_bump_lost", "baselines/fp_dot", "Cat(frac, (exp3 + bump)[:8], side[\"neg\"])",
      "Cat(frac, exp3, side[\"neg\"])", "rounding up into the next binade keeps the exponent",
      BASE_LAYERS),
    M("fpdot_subnormal_hidden_bit", "baselines/fp_dot", "Cat(frac, e != 0)", "Cat(frac, 1)",
      "subnormal operands get a hidden bit", BASE_LAYERS),
    M("fpdot_inf_times_zero", "baselines/fp_dot",
      "nan = da[\"nan\"] | db[\"nan\"] | (da[\"inf\"] & db[\"zero\"]) | (db[\"inf\"] & da[\"zero\"])",
      "nan = da[\"nan\"] | db[\"nan\"]", "Inf x 0 is not NaN", BASE_LAYERS),
    M("fpdot_inf_sign", "baselines/fp_dot", "lane_flags.append((nan, inf & ~sign, inf & sign))",
      "lane_flags.append((nan, inf, 0))", "every infinity is +Inf", BASE_LAYERS),
    M("fpdot_lane_pairing", "baselines/fp_dot", "self._decode(self.a[lane]), self._decode(self.b[lane])",
      "self._decode(self.a[lane]), self._decode(self.b[(lane + 1) % self.lanes])",
      "lane order: lane i's A multiplied by lane i+1's B", BASE_LAYERS),
    M("dotbase_flags_not_sticky", "baselines/dot_base",
      "m.d.sync += [sticky[n].eq(sticky[n] | gflags[n]) for n in names]",
      "m.d.sync += [sticky[n].eq(gflags[n]) for n in names]",
      "a NaN / Inf in an earlier group of the sum is forgotten", BASE_LAYERS),
    M("int8dot_booth_minus_one", "baselines/int8_dot", "neg.eq(x2 & ~(x1 & x0))",
      "neg.eq(x2 & ~x1 & ~x0)", "INT8 Booth digit -1 taken as +1", BASE_LAYERS),
    M("int8dot_zero_digit_kept", "baselines/int8_dot", "m.d.sync += row.eq(Mux(one | two, value, 0))",
      "m.d.sync += row.eq(value)", "INT8: a zero Booth digit does not clear its row", BASE_LAYERS),
    # ---- the block-scaled PEs (issue 25 item 3) ----------------------------------
    M("blockpe_scale_factor", "block_dot_pe", 'for name, value in (("ma", ma), ("mb", mb)):',
      'for name, value in (("ma", ma), ("mb", ma)):',
      "NVFP4: A's scale significand used for B's too"),
    M("blockpe_shift_amount", "block_dot_pe", "shift.eq(2 * hwf.window - da - db)",
      "shift.eq(2 * hwf.window - da - da)", "B's scale exponent ignored (A's twice)"),
    M("blockpe_lane_order", "block_dot_pe", "a, b = self.a[lane], self.b[lane]",
      "a, b = self.a[lane], self.b[(lane + 1) % self.lanes]",
      "lane order: lane i's A multiplied by lane i+1's B"),
    M("blockpe_sign", "block_dot_pe", "Mux(a[field] ^ b[field], -product, product)",
      "Mux(a[field], -product, product)", "B's sign ignored"),
    M("blockpe_product_table", "block_dot_pe", "m.d.comb += product.eq(va * vb)",
      "m.d.comb += product.eq(va * vb + (ca == 7 == cb))",
      "the largest product (6 x 6) off by one"),
    M("array_side_operand_skew", "skew", 'flat[width * i:width * (i + 1)], i, f"{side}_skew_{i}"',
      'flat[width * i:width * (i + 1)], i + 1, f"{side}_skew_{i}"',
      "a scale field one beat late against its codes", ("tests:block_array",)),
    # ---- the array and driver with k-lane PEs (issue 27 item 2) -----------------
    M("array_lane_order", "array", "skew.a.eq(held.a),",
      "skew.a.eq(sum(held.a[sig.lane_shape.width * (r * sig.lanes + j):][:sig.lane_shape.width]"
      ".as_unsigned() << sig.lane_shape.width * (r * sig.lanes + sig.lanes - 1 - j)"
      " for r in range(R) for j in range(sig.lanes))),",
      "lane order: each PE's A lanes reversed on the way in (B in order)",
      ("tests:lanes", "verif:array_lanes")),
    M("driver_lane_order", "driver", ".transpose(0, 2, 1, 3)", ".transpose(0, 2, 3, 1)",
      "driver packs lane j of row r (column c) at j*R + r instead of r*k + j", ("driver:lanes",),
      file="sim/driver.py"),
    M("driver_pad_front", "driver", "a_lanes[:, :k] = a_nib", "a_lanes[:, kp - k:] = a_nib",
      "driver zero-pads A's K at the front, B's at the end (K not a multiple of k)",
      ("driver:lanes",), file="sim/driver.py"),
    # ---- the driver of block-scaled GEMMs (issue 25) -----------------------------
    M("driver_block_scale_rows", "driver",
      '"a_scale": np.asarray(a_scale).reshape(m, beats, 1)',
      '"a_scale": np.asarray(a_scale)[::-1].reshape(m, beats, 1)',
      "driver sends A's per-row scale fields in reverse row order",
      ("driver:block", "driver:block_plan"), file="sim/driver.py"),
    M("driver_block_scale_beat", "driver",
      '"b_scale": np.asarray(b_scale).reshape(n, beats, 1)',
      '"b_scale": np.roll(np.asarray(b_scale), 1, axis=1).reshape(n, beats, 1)',
      "driver sends each B scale field one beat late (a block's first beat gets the "
      "previous block's scale)", ("driver:block", "driver:block_plan"), file="sim/driver.py"),
    # ---- skew / grid / drain / array ------------------------------------------
    M("skew_a_delay", "skew", 'self.a[lane * r:lane * (r + 1)], r, f"a_skew_{r}"',
      'self.a[lane * r:lane * (r + 1)], r // 2, f"a_skew_{r}"', "A row 1 not delayed"),
    M("skew_b_delay", "skew", 'self.b[lane * c:lane * (c + 1)], c, f"b_skew_{c}"',
      'self.b[lane * c:lane * (c + 1)], c // 2, f"b_skew_{c}"', "B column 1 not delayed"),
    M("skew_ctrl_not_registered", "skew", "m.d.sync += nxt.eq(ctrl)", "m.d.comb += nxt.eq(ctrl)",
      "control reaches row r without its delay"),
    M("grid_clear_on_bubble", "grid", '"clear": ctrl[c].valid & ctrl[c].first}',
      '"clear": ctrl[c].first}', "a bubble after a first beat clears the sums"),
    M("grid_capture_early", "grid", "capture = ends[c + L]", "capture = ends[c + L - 1]",
      "result captured one cycle before the last product"),
    M("grid_b_not_forwarded", "grid", "m.d.sync += b_next.eq(b_from_above[c])",
      "m.d.comb += b_next.eq(b_from_above[c])", "B reaches the next row a cycle early"),
    M("grid_a_not_forwarded", "grid", "m.d.sync += a_next.eq(a_from_left)",
      "m.d.comb += a_next.eq(a_from_left)", "A reaches the next column a cycle early"),
    M("grid_fmt_from_column0", "grid", '"a_fmt": ctrl[c].a_fmt,', '"a_fmt": ctrl[0].a_fmt,',
      "each column uses column 0's (later) A format"),
    M("grid_done_early", "grid", "self.done[r].eq(ends[done_stage(C, L)])",
      "self.done[r].eq(ends[done_stage(C, L) - 1])", "row read before its last column is final"),
    M("grid_overflow_dropped", "grid", "ovf.eq(pe.overflow)]", "ovf.eq(0)]",
      "overflow flags never reach the result", ("tests:array", "driver")),
    M("grid_overflow_reversed", "grid", "self.overflow[r].eq(Cat(*flags))",
      "self.overflow[r].eq(Cat(*reversed(flags)))",
      "overflow bits in reversed column order (issue 17)",
      ("tests:array", "verif:array", "driver")),
    M("drain_row_no_wrap", "drain", "Mux(read_row == R - 1, 0, read_row + 1)",
      "read_row + 1",
      "row pointer does not wrap at R-1; only a non-power-of-two R shows it (issue 17)",
      ("tests:array", "verif:array")),
    M("drain_overflow_columns_reversed", "drain", "self.o.payload.overflow[c].eq(",
      "self.o.payload.overflow[C - 1 - c].eq(",
      "the output's overflow bits leave in reversed column order; the directed overflow "
      "test's asymmetric pattern shows it (issue 17; was a Verilog-text mutant)",
      ("tests:array", "verif:array")),
    M("drain_last_flag", "drain", "self.o.payload.last.eq(read_row == R - 1)",
      "self.o.payload.last.eq(read_row == 0)", "last on row 0"),
    M("drain_load_ignores_ready", "drain",
      "load_c = head_c & (~valid_c | self.o.ready)", "load_c = head_c",
      "output register loaded while its row is held (issue 17: output register load)",
      ("tests:array", "verif:array", "driver")),
    M("drain_valid_dropped", "drain", "with m.Elif(self.o.ready):\n"
      "            m.d.sync += self.o.valid.eq(0)",
      "with m.Elif(1):\n            m.d.sync += self.o.valid.eq(0)",
      "a row not taken is dropped", ("tests:array", "verif:array", "driver")),
    M("drain_ready_bits_all_cleared", "drain", "~(read_now & (read_row == r))",
      "~read_now", "reading one row forgets the others"),
    M("drain_pending_rows_survive_reset", "drain", "row_ready = Signal(R)       # row r",
      "row_ready = Signal(R, reset_less=True)       # row r",
      "rows pending at reset come out after it (issue 17: reset of pending results; only "
      "seen with the next GEMM's row 0 readable behind a held last row)",
      ("tests:array", "verif:array")),
    M("drain_column_row_late", "drain", "m.d.sync += row_c.eq(read_row_next)",
      "m.d.sync += row_c.eq(read_row)",
      "a column's copy of the row pointer lags the pointer by a cycle (wrong row's words)",
      ("tests:array", "verif:array")),
    M("drain_head_behind", "drain",
      "head_next = _row_mux([ready_next[r] for r in range(R)])[read_row_next]",
      "head_next = _row_mux([ready_next[r] for r in range(R)])[read_row]",
      "head_ready computed for the current row, not the next: a bubble after every row",
      ("tests:array",)),
    # Timing structure (docs/timing.md): equivalent in behaviour, so only the
    # netlist test sees them.
    M("replica_attr_dropped", "replica", "attrs[REPLICA_ATTR] = 1", "pass",
      "replicas not marked: Yosys merges every anti-diagonal's control registers"),
    M("grid_ctrl_merged", "grid", 'reg = replica(control_layout(sig), f"ctrl_fwd_{r}_{c - 1}")',
      'reg = Signal(control_layout(sig), name=f"ctrl_fwd_{r}_{c - 1}")',
      "grid control registers merge along anti-diagonals", ("tests:replica",)),
    M("skew_ctrl_merged", "skew", 'nxt = replica(control_layout(self.pe), f"ctrl_skew_{r + 1}")',
      'nxt = Signal(control_layout(self.pe), name=f"ctrl_skew_{r + 1}")',
      "a row's skewed control merges with the row above's forwarding register",
      ("tests:replica",)),
    M("array_input_enable_shared", "array",
      "load_g = self.i.valid & (~full_g | ~(last_g & pending_g))",
      "load_g = self.i.valid & self.i.ready", "one load enable for every input flip-flop",
      ("tests:replica",)),
    M("array_input_copy_ignores_last", "array",
      "load_g = self.i.valid & (~full_g | ~(last_g & pending_g))",
      "load_g = self.i.valid & ~full_g",
      "the lanes' copy of i.ready takes a beat only when empty: back-to-back beats lose "
      "their operands",
      ("tests:array", "verif:array")),
    M("drain_shared_enable", "drain", "load_c = head_c & (~valid_c | self.o.ready)",
      "load_c = read_now", "one load enable for every output flip-flop", ("tests:replica",)),
    M("array_pending_survives_reset", "array", "results_pending = Signal()\n",
      "results_pending = Signal(reset_less=True)\n",
      "after a reset with results pending the next last beat waits forever "
      "(issue 17: reset of pending results)", ("tests:array", "verif:array")),
    M("array_no_pipelined_accept", "array", "self.i.ready.eq(~held_full | issue)",
      "self.i.ready.eq(~held_full)", "a beat every other cycle (throughput)"),
    M("array_last_not_held", "array", "issue.eq(held_full & ~(held.last & results_pending))",
      "issue.eq(held_full)", "a last beat overwrites results still pending"),
    # ---- accelerator tile -------------------------------------------------------
    M("tile_counters_clear_ignored", "accel", "with m.If(self.counters_clear):",
      "with m.If(self.counters_clear & 0):", "counters_clear does nothing (issue 17)",
      ("tests:tile", "verif:tile", "driver")),
    M("tile_idle_ignores_beat", "accel",
      "self.idle.eq(~loading & ~bank_full[0] & ~bank_full[1] & ~beat_valid)",
      "self.idle.eq(~loading & ~bank_full[0] & ~bank_full[1])",
      "idle while a beat is still in hand (issue 17)", ("tests:tile", "verif:tile")),
    M("tile_stall_counts_idle", "accel", '"stall_cycles": busy & ~entered',
      '"stall_cycles": ~entered', "stall counter counts idle cycles (issue 17)",
      ("tests:tile", "driver")),
    M("tile_mac_per_row", "accel", '"mac_pe_cycles": entered * (R * C)',
      '"mac_pe_cycles": entered * R', "MAC counter counts rows only"),
    M("tile_jobs_done_emit_only", "accel", '"jobs_done": entered & beat_job_end',
      '"jobs_done": entered & beat_last', "only emitting jobs counted"),
    M("tile_accumulate_ignored", "accel",
      "beat_first.eq((seq_ptr == 0) & ~cur_job.accumulate)", "beat_first.eq(seq_ptr == 0)",
      "accumulate jobs clear the sums", ("tests:tile", "driver")),
    M("tile_emit_ignored", "accel", "beat_last.eq((seq_ptr == cur_last) & cur_job.emit)",
      "beat_last.eq(seq_ptr == cur_last)", "every job emits"),
    M("tile_k0_accepted", "accel", "with m.If((k == 0) | (k > self.depth)):",
      "with m.If(k > self.depth):", "k = 0 command starts a job"),
    M("tile_bank_swap", "accel", "Mux(next_bank, bank_full[1], bank_full[0])",
      "Mux(next_bank, bank_full[0], bank_full[1])", "loader checks the wrong bank"),
    M("tile_read_bank0", "accel", "rd.addr.eq(seq_bank << addr_bits | seq_ptr[:addr_bits])",
      "rd.addr.eq(seq_ptr[:addr_bits])", "sequencer always reads bank 0"),
    M("tile_no_same_cycle_claim", "accel",
      "& ~(free_bank & (seq_bank == next_bank))),", "),",
      "a bank freed this cycle is not claimable (a bubble per job)"),
    # ---- tile + quantization unit (hw/tile_quant.py) -----------------------------
    M("qtile_both_not_raw", "tile_quant", "to_raw = route != ROUTE_UNIT",
      "to_raw = route == ROUTE_RAW",
      "route 'both' rows not sent to the host (the measuring pass loses its INT32 rows)"),
    M("qtile_qlast_ignored", "tile_quant", "unit.i.payload.last.eq(row.last & qlast)",
      "unit.i.payload.last.eq(row.last)",
      "every emitting job's last row ends the unit job (a job over several tiles is cut)"),
    M("qtile_mask_valid_ignored", "tile_quant", "mask_ok = ~mask_en | self.mask.valid",
      "mask_ok = ~mask_en | 1", "a routed row enters the unit before its mask beat"),
    # ---- AXI shell (issue 26) -------------------------------------------------------
    M("axi_start_while_busy", "axi_shell", "accept.eq(start & ~busy & ~bad_k & ~bad_fmt)",
      "accept.eq(start & ~bad_k & ~bad_fmt)", "start while busy replaces the running job"),
    M("axi_busy_ignores_rows", "axi_shell",
      "busy.eq(cmd_valid | ~tile.idle | (rows_pending != 0))", "busy.eq(cmd_valid | ~tile.idle)",
      "not busy while result rows are still to leave (done too early)"),
    M("axi_k0_starts", "axi_shell", "bad_k.eq((k == 0) | (k > depth))", "bad_k.eq(k > depth)",
      "k = 0 is passed to the tile instead of refused"),
    M("axi_tlast_missing_unflagged", "axi_shell",
      'err["tlast_missing"].eq(~self.s_axis_tlast & is_last)', 'err["tlast_missing"].eq(0)',
      "a job's last beat without tlast is not flagged"),
    M("axi_tlast_early_unflagged", "axi_shell",
      'err["tlast_early"].eq(self.s_axis_tlast & ~is_last)', 'err["tlast_early"].eq(0)',
      "tlast before a job's last beat is not flagged"),
    M("axi_overflow_unflagged", "axi_shell",
      'err["overflow"].eq(out_fire & (res.payload.overflow != 0))', 'err["overflow"].eq(0)',
      "ERR.overflow never set"),
    M("axi_done_not_cleared", "axi_shell", "                done.eq(0),\n", "",
      "STATUS.done stays set while the next job runs"),
    M("axi_irq_ignores_enable", "axi_shell",
      "(csr.irq_status_done & csr.irq_enable_done)", "csr.irq_status_done",
      "irq raised for a masked cause"),
    M("axi_tdata_shifted", "axi_shell", "load.payload.eq(self.s_axis_tdata[:self.load_bits])",
      "load.payload.eq(self.s_axis_tdata[1:self.load_bits + 1])",
      "operand beats taken one bit off"),
    M("axil_bresp_always_okay", "axi_lite", "self.bresp.eq(Mux(self.w_err, RESP_SLVERR, RESP_OKAY))",
      "self.bresp.eq(RESP_OKAY)", "illegal writes answered OKAY"),
    M("axil_read_overrun", "axi_lite", "self.arready.eq(~self.rvalid)", "self.arready.eq(1)",
      "a read accepted while its predecessor's response waits (response lost)"),
    M("csr_ro_write_ok", "axi_csr", "self.w_err.eq(self.w_en & (~w_hit | w_ro))",
      "self.w_err.eq(self.w_en & ~w_hit)", "write to a read-only register gets OKAY",
      ("tests:axi", "verif:axi")),
    M("csr_strobes_ignored", "axi_csr", "wdata.eq(self.w_data & mask)", "wdata.eq(self.w_data)",
      "byte strobes ignored on write-1 registers"),
    M("csr_w1c_clear_lost", "axi_csr", "m.d.sync += port.eq((port & ~clear) | setp)",
      "m.d.sync += port.eq(port | setp)", "write 1 does not clear a sticky bit",
      ("tests:axi", "verif:axi")),
    # ---- AXI shell around the tile with the quantization unit ----------------------
    M("axiq_route_dropped", "axi_shell", "cmd.payload.route.eq(route)", "cmd.payload.route.eq(0)",
      "JOB_FLAGS.route not passed to the tile (rows never reach the unit)", ("verif:axiq",)),
    M("axiq_qlast_dropped", "axi_shell", "cmd.payload.qlast.eq(csr.job_flags_qlast)",
      "cmd.payload.qlast.eq(0)", "JOB_FLAGS.qlast not passed (unit jobs never end)",
      ("verif:axiq",)),
    M("axiq_route3_accepted", "axi_shell", "bad_route.eq((route == 3) if self.quant",
      "bad_route.eq((route == 4) if self.quant", "reserved route 3 reaches the tile",
      ("verif:axiq",)),
    M("axiq_unit_rows_pending", "axi_shell", "raw_rows = route != ROUTE_UNIT", "raw_rows = 1",
      "rows routed to the unit counted as m_axis rows (busy never falls)", ("verif:axiq",)),
    M("axiq_qcfg_bad_unflagged", "axi_quant", 'err["qcfg_bad"].eq(qcfg_bad)',
      'err["qcfg_bad"].eq(0)', "ERR.qcfg_bad never set"),
    M("axiq_q_tlast_every_row", "axi_quant", 'port["tlast"].eq(inner.payload.last)',
      'port["tlast"].eq(1)', "m_axis_q tlast on every row, not on the unit job's last"),
    M("axiq_tdata_shifted", "axi_quant", 'inner.payload.eq(port["tdata"][:bits])',
      'inner.payload.eq(port["tdata"][1:bits + 1])', "unit stream beats taken one bit off"),
    # ---- quantization unit ------------------------------------------------------
    M("qu_xorshift", "quant_unit", "x = x ^ (x >> 17)", "x = x ^ (x >> 15)", "wrong PRNG step"),
    M("qu_fifo_overfill", "quant_unit", "a_valid + b_valid < FIFO_DEPTH)",
      "a_valid + b_valid <= FIFO_DEPTH)", "input taken with no room left"),
    M("qu_zero_mantissa_accepted", "quant_unit", "(cfg.mode == 3) | (cfg.mantissa == 0)",
      "(cfg.mode == 3)", "zero mantissa config accepted"),
    M("qu_overflow_not_sticky", "quant_unit", "ovf_reg.eq(~b_last & (ovf_reg | b_ovf))",
      "ovf_reg.eq(~b_last & b_ovf)", "job overflow only from the previous beat"),
    M("qu_amax_not_reset", "quant_unit", "amax_reg.eq(Mux(b_last, 0, job_max))",
      "amax_reg.eq(job_max)", "amax carried into the next job"),
    M("qu_round_down", "quant_unit", "rounded = ((sh + 1) >> 1)[:5]", "rounded = (sh >> 1)[:5]",
      "forward codes truncate"),
    M("qu_emit_only", "quant_unit", "fifo.w_en.eq(b_valid & (emit | b_last))",
      "fifo.w_en.eq(b_valid & emit)", "measuring pass loses its amax beat"),
    M("qu_sticky_dropped", "quant_unit", "ceil_qt.eq(qt + sticky)", "ceil_qt.eq(qt)",
      "stochastic compare ignores the bits shifted out"),
    # Issue 24: survived the cocotb bench, which never reached the band.
    M("qu_sr_top_ignores_phase", "quant_unit", "qt >= (1 << (14 + phase + rq.FRAC_BITS))",
      "qt >= (1 << (14 + rq.FRAC_BITS))",
      "stochastic rounding saturates phase 1 at phase 0's top",
      layers=("tests:quant", "verif:quant")),
]

# Mutants argued equivalent in docs/verification.md ("Mutation gate"): none.
EQUIVALENT: dict[str, str] = {}
