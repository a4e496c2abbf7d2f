"""On-chip quantization unit: accumulator rows in, 4-bit codes out (SPEC 1.7).

The arithmetic is ``model.requant`` (docs/quantizer.md); this is its RTL.
The unit is a stream component meant to sit on the tile's result path::

    cfg --> [job registers: mode, multiplier, shift amount, sticky mask, column biases, PRNGs]
    i   --> [A: input row, L columns per cycle] --> [B: v or |masked acc|, times mantissa]
        --> [C: one arithmetic right shift, compares, codes, amax] --> [row assembly]
        --> FIFO (5) --> o

``lanes`` (L, dividing ``cols``) datapath lanes are time-shared: a row of C
values takes C/L cycles ("slices"), L values per cycle, and leaves as one
beat with all C codes (the beat layout does not depend on L).  Bias and
xorshift registers stay per column and rotate by L columns per slice, so
column c's generator steps exactly when column c's element is processed, as
``model.requant.lane_randoms`` defines: the results do not depend on L.

Per lane the only wide operators are one multiplier (operand x 16-bit
mantissa) and one barrel shifter: both modes scale ``P = operand * mantissa``
by a per-job right shift of ``P << 31``, forward by ``shift + 30`` (giving
``t = floor(2 v M)``) and backward by ``sigma + shift + 3`` (giving
``Qt = floor(4|g|/m0 * 2^14)``).  Everything after the shift compares against
constants, so both TPR phases come out of one read of each element.

A job is one ``cfg`` beat followed by input beats up to one with ``last``.
``cfg`` is taken only between jobs with the pipeline empty (so stages never
mix two jobs' settings).  The output beat of the job's last input beat
carries the job's ``amax`` (max |acc|, after the mask in backward mode) and
the OR of the input overflow flags.  With ``emit`` clear only that beat leaves
the unit (the measuring pass of exact GradScale).  A ``cfg`` with the
reserved mode 3 or a zero mantissa is dropped and sets the sticky
``cfg_error``; no job starts, so no input is taken or lost.

``i.ready`` depends on state only: the pipeline never stalls, and a row is
taken while stage A is free (or on its last slice) and the FIFO plus the
rows in flight leave room.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from model import requant as rq
from model.config import DatapathConfig

__all__ = ["QuantUnit", "cfg_rejected", "check_lanes", "config_layout", "input_layout", "output_layout",
           "MODE_UINT4", "MODE_INT4", "MODE_FP4", "FIFO_DEPTH", "generate_verilog", "TOPLEVEL"]

MODE_UINT4, MODE_INT4, MODE_FP4 = rq.MODES["uint4"], rq.MODES["int4"], rq.MODES["fp4"]
FIFO_DEPTH = 5            # 2 beats in flight + 2 in the buffered FIFO at full rate + 1: no bubble
TOPLEVEL = "radix4_quant_unit"
_PRE = 31                 # P << 31: room for the backward left shift (up to 30) and the forward *2


def config_layout(cols: int) -> data.StructLayout:
    return data.StructLayout({
        "mode": 2, "rounding": 1, "emit": 1, "bias_en": 1,
        "mantissa": rq.MANT_BITS, "shift": rq.SHIFT_BITS, "sigma": signed(rq.SIGMA_BITS),
        "seed": rq.SEED_BITS, "bias": data.ArrayLayout(signed(rq.BIAS_BITS), cols),
    })


def input_layout(cols: int, acc_width: int) -> data.StructLayout:
    # data/overflow as the array's output rows (column c at data[W*c +: W])
    return data.StructLayout({
        "data": data.ArrayLayout(signed(acc_width), cols), "overflow": cols, "mask": cols,
        "last": 1,
    })


def output_layout(cols: int, acc_width: int) -> data.StructLayout:
    return data.StructLayout({
        "code0": data.ArrayLayout(4, cols), "code1": data.ArrayLayout(4, cols), "mask": cols,
        "last": 1, "amax": unsigned(acc_width), "overflow": 1,
    })


def cfg_rejected(cfg):
    """A ``cfg`` beat the unit drops (sticky ``cfg_error``): the reserved mode 3
    or a zero mantissa.  The AXI shell flags the same beats (``ERR.qcfg_bad``)."""
    return (cfg.mode == 3) | (cfg.mantissa == 0)


def check_lanes(cols: int, lanes) -> int:
    """``lanes`` (None: one per column) must divide ``cols``: a row takes cols/lanes cycles."""
    if lanes is None:
        return cols
    if isinstance(lanes, bool) or not isinstance(lanes, int) or not 1 <= lanes <= cols \
            or cols % lanes:
        raise ValueError(f"lanes must be an integer dividing cols = {cols}, got {lanes!r}")
    return lanes


def _xorshift32(x):
    x = x ^ (x << 13)[:32]
    x = x ^ (x >> 17)
    return x ^ (x << 5)[:32]


def _max(a, b):
    return Mux(a > b, a, b)


class QuantUnit(wiring.Component):
    """Requantization of ``cols``-wide accumulator rows on ``lanes`` datapath lanes
    (see module docstring); ``lanes`` divides ``cols``, default one lane per column."""

    def __init__(self, cols: int | None = None, acc_width: int | None = None,
                 lanes: int | None = None, *, config: DatapathConfig | None = None):
        # ``config``: the tile's (its cols and acc_width); ``lanes`` are the
        # unit's own datapath lanes, not the PE's.
        try:
            cfg = DatapathConfig.of(config, cols=cols, acc_width=acc_width)
            self.cols, self.acc_width = cols, acc_width = cfg.cols, cfg.acc_width
            self.lanes = check_lanes(cols, lanes)
        except ValueError:
            self._MustUse__silence = True
            raise
        super().__init__({
            "cfg": In(stream.Signature(config_layout(cols))),
            "i": In(stream.Signature(input_layout(cols, acc_width))),
            "o": Out(stream.Signature(output_layout(cols, acc_width))),
            "cfg_error": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        C, W, L = self.cols, self.acc_width, self.lanes
        S = C // L                                    # slices (cycles) per row
        VW = max(W, rq.BIAS_BITS) + 1                 # acc + bias, exact
        PW = VW + 1 + rq.MANT_BITS + 1                # signed product
        XW = PW + _PRE                                # P << 31

        # ---- job registers -------------------------------------------------
        active = Signal()
        mode = Signal(2)
        rounding = Signal()
        emit = Signal()
        bias_en = Signal()
        mantissa = Signal(rq.MANT_BITS)
        # bias and generator registers are per column and rotate by L columns per
        # slice, so slice s always finds its columns at positions 0..L-1 (no muxes);
        # after the S slices of a row they are back in place
        bias = Signal(data.ArrayLayout(signed(rq.BIAS_BITS), C))
        amt = Signal(range(XW + 1))                   # right shift of P << 31, clamped
        low_mask = Signal(XW)                         # bits shifted out: the sticky bit
        sat_all = Signal()                            # backward shift left by > 30
        lanes = [Signal(32, name=f"prng_{c}") for c in range(C)]

        a_valid, b_valid = Signal(), Signal()
        fifo = m.submodules.fifo = SyncFIFOBuffered(width=output_layout(C, W).size,
                                                    depth=FIFO_DEPTH)

        cfg = self.cfg.payload
        m.d.comb += self.cfg.ready.eq(~active & ~a_valid & ~b_valid)
        m.d.comb += self.busy.eq(active | a_valid | b_valid)
        fwd_amt = Signal(signed(12))
        bwd_amt = Signal(signed(12))
        m.d.comb += [fwd_amt.eq(cfg.shift + (_PRE - 1)),
                     bwd_amt.eq(cfg.sigma + cfg.shift + (_PRE - 2 * rq.FRAC_BITS))]
        new_amt = Signal(signed(12))
        m.d.comb += new_amt.eq(Mux(cfg.mode == MODE_FP4, bwd_amt, fwd_amt))
        clamped = Signal(range(XW + 1))
        m.d.comb += clamped.eq(Mux(new_amt < 0, 0, Mux(new_amt > XW, XW, new_amt)))
        with m.If(self.cfg.valid & self.cfg.ready):
            with m.If(cfg_rejected(cfg)):
                m.d.sync += self.cfg_error.eq(1)
            with m.Else():
                m.d.sync += [
                    active.eq(1), mode.eq(cfg.mode), rounding.eq(cfg.rounding),
                    emit.eq(cfg.emit), bias_en.eq(cfg.bias_en), mantissa.eq(cfg.mantissa),
                    bias.eq(cfg.bias), amt.eq(clamped), sat_all.eq(new_amt < 0),
                    low_mask.eq(~(Const((1 << XW) - 1, XW) << clamped)[:XW]),
                ]
                for c in range(C):
                    # model.requant.lane_seeds: seed ^ lane constant, 0 replaced;
                    # the first word used is one step further
                    init = Signal(32, name=f"prng_init_{c}")
                    m.d.comb += init.eq(cfg.seed ^ rq.lane_constant(c))
                    seeded = Mux(init == 0, rq.ZERO_SEED, init)
                    m.d.sync += lanes[c].eq(_xorshift32(seeded))

        # ---- stage A: input row register, shifted down L columns per slice -----
        inp = self.i.payload
        a_data = Signal(data.ArrayLayout(signed(W), C))
        a_mask = Signal(C)
        a_ovf, a_last = Signal(), Signal()
        a_slice = Signal(range(S))
        a_final = Signal()                            # A holds its row's last slice
        m.d.comb += a_final.eq(a_slice == S - 1)
        # a row is taken when A is empty or issues its last slice this cycle
        m.d.comb += self.i.ready.eq(active & (~a_valid | a_final)
                                    & (fifo.level + a_valid + b_valid < FIFO_DEPTH))
        take = self.i.valid & self.i.ready
        with m.If(take):
            m.d.sync += [a_valid.eq(1), a_slice.eq(0), a_data.eq(inp.data),
                         a_mask.eq(inp.mask), a_ovf.eq(inp.overflow.any()), a_last.eq(inp.last)]
            with m.If(inp.last):
                m.d.sync += active.eq(0)
        with m.Elif(a_valid):
            with m.If(a_final):
                m.d.sync += a_valid.eq(0)
            with m.Else():
                m.d.sync += [a_slice.eq(a_slice + 1),
                             a_data.eq(a_data.as_value()[L * W:]),
                             a_mask.eq(a_mask[L:])]
        if S > 1:
            with m.If(a_valid):
                m.d.sync += bias.eq(Cat(bias.as_value()[L * rq.BIAS_BITS:],
                                        bias.as_value()[:L * rq.BIAS_BITS]))

        # ---- stage B: operand and product ----------------------------------
        is_fwd = mode != MODE_FP4
        b_prod = [Signal(signed(PW), name=f"b_prod_{c}") for c in range(L)]
        b_abs = [Signal(W, name=f"b_abs_{c}") for c in range(L)]
        b_neg = Signal(L)
        b_ovf = Signal()
        b_row_end = Signal()                          # the slice completes a row
        b_last = Signal()                             # ... and that row ends the job
        m.d.sync += b_valid.eq(a_valid)
        with m.If(a_valid):
            for c in range(L):
                acc = a_data[c]
                v = Signal(signed(VW), name=f"v_{c}")
                m.d.comb += v.eq(acc + Mux(bias_en, bias[c], 0))
                masked = Mux(a_mask[c], acc, 0)
                mag = Signal(W, name=f"mag_{c}")     # |x| of a W-bit value fits W bits unsigned
                m.d.comb += mag.eq(Mux(masked < 0, -masked, masked))
                operand = Mux(is_fwd, v, mag)
                m.d.sync += [
                    b_prod[c].eq(operand * mantissa),
                    b_abs[c].eq(Mux(is_fwd, Mux(acc < 0, -acc, acc), mag)),
                    b_neg[c].eq(acc < 0),
                ]
            m.d.sync += [b_ovf.eq(a_ovf), b_row_end.eq(a_final), b_last.eq(a_last & a_final)]

        # ---- stage C: shift, codes, amax -> FIFO ------------------------------
        out = Signal(output_layout(C, W))
        code0, code1, omask = [], [], []              # this slice's L columns
        for c in range(L):
            x = Signal(signed(XW), name=f"x_{c}")
            m.d.comb += x.eq(b_prod[c] << _PRE)
            sh = Signal(signed(XW), name=f"sh_{c}")
            m.d.comb += sh.eq(x >> amt)

            # forward: t = floor(2 v M); code = clamp(floor((t + 1) / 2))
            mode_s = mode == MODE_INT4
            lo = Mux(mode_s, rq.FWD_RANGE["int4"][0][0], rq.FWD_RANGE["uint4"][0][0])
            hi = Mux(mode_s, rq.FWD_RANGE["int4"][0][1], rq.FWD_RANGE["uint4"][0][1])
            tlo = Mux(mode_s, rq.FWD_RANGE["int4"][1][0], rq.FWD_RANGE["uint4"][1][0])
            thi = Mux(mode_s, rq.FWD_RANGE["int4"][1][1], rq.FWD_RANGE["uint4"][1][1])
            rounded = ((sh + 1) >> 1)[:5]
            fcode = Mux(sh >= 2 * hi - 1, hi, Mux(sh <= 2 * lo - 2, lo, rounded))
            fmask = (sh >= tlo) & (sh < thi)

            # backward: Qt (saturated), sticky, then constant compares per phase
            qt = Signal(30, name=f"qt_{c}")
            m.d.comb += qt.eq(Mux(sat_all, Mux(b_prod[c] != 0, rq.QT_MAX, 0),
                                  Mux(sh > rq.QT_MAX, rq.QT_MAX, sh[:30])))
            sticky = ~sat_all & (x & low_mask).any()
            ceil_qt = Signal(31, name=f"ceil_qt_{c}")
            m.d.comb += ceil_qt.eq(qt + sticky)
            bcodes = []
            for phase in (0, 1):
                # column s*L + c's generator sits at position c during slice s
                r = lanes[c][16 * phase:16 * phase + 16]
                near = Signal(3, name=f"near_{c}_{phase}")
                m.d.comb += near.eq(sum((qt >= (t << rq.FRAC_BITS))
                                        for t in rq.fp4_thresholds(phase)))
                stoch = Signal(3, name=f"stoch_{c}_{phase}")
                with m.If(qt >= (1 << (14 + phase + rq.FRAC_BITS))):
                    m.d.comb += stoch.eq(rq.E_MAX)
                for k in reversed(range(6)):
                    lam = 1 << (2 + phase + 2 * k + rq.FRAC_BITS)
                    with m.Elif(qt >= lam):
                        up = ((3 * r + (1 << rq.RAND_BITS)) << (phase + 2 * k)) < ceil_qt
                        m.d.comb += stoch.eq(k + 1 + up)
                with m.Else():
                    m.d.comb += stoch.eq((r << phase) < ceil_qt)
                e = Mux(rounding, stoch, near)
                bcodes.append(Cat(e, b_neg[c] & (e != 0)))
            code0.append(Mux(is_fwd, fcode[:4], bcodes[0]))
            code1.append(Mux(is_fwd, 0, bcodes[1]))
            omask.append(is_fwd & fmask)

        # the row's earlier slices wait in shift registers; the last slice completes
        # the beat combinationally (with L == C there is nothing to hold)
        for name, slice_bits, width in (("code0", code0, 4), ("code1", code1, 4),
                                        ("mask", omask, 1)):
            held = Signal((C - L) * width, name=f"held_{name}")
            row = Cat(held, *[Cat(b)[:width] for b in slice_bits])
            m.d.comb += getattr(out, name).eq(row)
            if S > 1:
                with m.If(b_valid):
                    m.d.sync += held.eq(row[L * width:])

        # amax and overflow of the job so far, reported on the last beat
        amax_reg = Signal(W)
        ovf_reg = Signal()
        row_max = b_abs[0]
        for c in range(1, L):
            row_max = _max(row_max, b_abs[c])
        job_max = Signal(W)
        m.d.comb += job_max.eq(_max(amax_reg, row_max))
        m.d.comb += [out.last.eq(b_last),
                     out.amax.eq(Mux(b_last, job_max, 0)),
                     out.overflow.eq(b_last & (ovf_reg | b_ovf))]
        with m.If(b_valid):
            m.d.sync += [amax_reg.eq(Mux(b_last, 0, job_max)),
                         ovf_reg.eq(~b_last & (ovf_reg | b_ovf))]
            # advance the slice's L generators and rotate the next slice's into place
            for c in range(C):
                nxt = lanes[c + L] if c + L < C else _xorshift32(lanes[c + L - C])
                m.d.sync += lanes[c].eq(nxt)

        with m.If(b_row_end):
            m.d.comb += fifo.w_en.eq(b_valid & (emit | b_last))
        m.d.comb += [
            fifo.w_data.eq(out),
            self.o.valid.eq(fifo.r_rdy),
            self.o.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.o.ready),
        ]
        return m


def generate_verilog(cols: int | None = None, acc_width: int | None = None,
                     lanes: int | None = None, *, config: DatapathConfig | None = None) -> str:
    """Verilog of the unit (module ``radix4_quant_unit``) with a header, like ``hw.verilog``."""
    from amaranth.back import verilog

    from .verilog_text import TIMESCALE, kick_comb_blocks
    unit = QuantUnit(cols, acc_width, lanes, config=config)
    cols, acc_width = unit.cols, unit.acc_width
    body = kick_comb_blocks(verilog.convert(unit, name=TOPLEVEL, emit_src=False))
    lanes = check_lanes(cols, lanes)
    return (f"// {TOPLEVEL}: radix4 quantization unit (cols={cols} acc_width={acc_width} "
            f"lanes={lanes})\n"
            f"// Generated by hw.quant_unit.generate_verilog from hw/ (Amaranth); do not edit.\n"
            f"{TIMESCALE}\n") + body
