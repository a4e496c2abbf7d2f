"""FP8 E4M3 and FP16 k-lane dot-product PEs with an FP32 result (issue 27 item 4).

Arithmetic: ``model.dot_baselines.fp_dot`` (exact products, an exact
fixed-point accumulator of ``acc_bits``, one rounding to FP32, sticky
specials).  Built like the radix-4 k-lane PE (``hw.baselines.dot_base``);
per lane:

* decode: sign, significand ``M`` (hidden bit, none for subnormals), the
  shift ``max(E, 1) - 1``, NaN / Inf; the signed significand ``+-Ma``;
* multiply: ``+-Ma * Mb`` (signed, ``2m + 3`` bits);
* align: the signed product shifted left by ``sa + sb`` into
  ``product_bits + 1`` bits, the lane's one term of the adder tree.

Decode and multiply take a stage each (``mul_stages``; FP8 in one stage
placed at 101 MHz).  FP16's tree has one adder level a stage (81-bit adders).

After the accumulator, six conversion stages: magnitude (``|acc|``, one
carry chain), leading-zero count, normalize (left shift by the count's high
bits, then by its low three), the rounding decision (round bit, sticky OR),
round to nearest even and pack (specials override).  Measured on ECP5, the
FP8 PE placed at 87 MHz with count and shift in one stage, 101 MHz with the
decision and the increment in one, 142 MHz with the shift in one.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, signed, unsigned  # no __future__ annotations: Amaranth reads them

from model.dot_baselines import CANONICAL_NAN32, NEG_INF32, POS_INF32, get_float_format

from ..adder_tree import Term
from ..grid import register_each
from .dot_base import DotBaselinePE
from .fp_stages import leading_zeros_tree

__all__ = ["FpDotPE", "Fp8DotPE", "Fp16DotPE"]

_FINE = 3   # the normalize shift's second step: the count's low bits


class FpDotPE(DotBaselinePE):
    """Base of the FP baselines: ``fmt`` names the row of ``model.dot_baselines.FLOAT_FORMATS``."""

    fmt = None
    acc_shape = unsigned(32)  # FP32 bits
    convert_stages = 6
    rows = 1
    flags = ("nan", "pinf", "ninf")
    mul_stages = 1            # 1: decode and multiply in one stage; 2: a stage each

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        f = get_float_format(cls.fmt)
        cls.format = f
        cls.lane_shape = f.bits
        cls.acc_bits = f.acc_bits
        cls.front_stages = cls.mul_stages + 1

    # ---- front end -------------------------------------------------------
    def _decode(self, code):
        f = self.format
        e, frac = code[f.man_bits:f.man_bits + f.exp_bits], code[:f.man_bits]
        sign = code[f.bits - 1]
        top = e == f.exp_max_field
        if f.has_inf:
            nan, inf = top & (frac != 0), top & (frac == 0)
        else:
            nan, inf = top & (frac == (1 << f.man_bits) - 1), Const(0, 1)
        # Specials multiply as 0 (their flags say what they are).
        return dict(sign=sign, mant=Mux(nan | inf, 0, Cat(frac, e != 0)),
                    shift=Mux(e == 0, 0, e - 1), nan=nan, inf=inf, zero=(e == 0) & (frac == 0))

    def front(self, m):
        f = self.format
        lanes_out, lane_flags = [], []
        for lane in range(self.lanes):
            da, db = self._decode(self.a[lane]), self._decode(self.b[lane])
            sign = da["sign"] ^ db["sign"]
            nan = da["nan"] | db["nan"] | (da["inf"] & db["zero"]) | (db["inf"] & da["zero"])
            inf = (da["inf"] | db["inf"]) & ~nan
            lane_flags.append((nan, inf & ~sign, inf & sign))
            # Decode: the signed A significand (a narrow carry chain).
            sa = Signal(signed(f.man_bits + 2), name=f"sa_{lane}")
            m.d.comb += sa.eq(Mux(sign, -da["mant"], da["mant"]))
            mb = Signal(f.man_bits + 1, name=f"mb_{lane}")
            m.d.comb += mb.eq(db["mant"])
            shift = Signal(range(2 * f.exp_max_field), name=f"shift_{lane}")
            m.d.comb += shift.eq(da["shift"] + db["shift"])
            prod_width = 2 * f.man_bits + 3
            if self.mul_stages == 2:
                sa_q, mb_q = Signal.like(sa, name=f"sa_q_{lane}"), Signal.like(mb, name=f"mb_q_{lane}")
                sh_q = Signal.like(shift, name=f"shift_q0_{lane}")
                m.d.sync += [sa_q.eq(sa), mb_q.eq(mb), sh_q.eq(shift)]
                sa, mb, shift = sa_q, mb_q, sh_q
            prod = Signal(signed(prod_width), name=f"prod_{lane}")
            sh1 = Signal.like(shift, name=f"shift_q1_{lane}")
            m.d.sync += [prod.eq(sa * mb), sh1.eq(shift)]
            # Align: the lane's term, registered (the last front stage).
            bound = f.max_q * f.max_q
            term = Signal(signed(f.product_bits + 1), name=f"term_{lane}")
            m.d.sync += term.eq(prod << sh1)
            lanes_out.append(([Term(term, -bound, bound)], []))
        # The beat's flags, ORed over the lanes and delayed with the terms.
        flags = {}
        for j, name in enumerate(self.flags):
            value = 0
            for lf in lane_flags:
                value = value | lf[j]
            for i in range(self.front_stages):
                q = Signal(name=f"{name}_f{i}")
                m.d.sync += q.eq(value)
                value = q
            flags[name] = value
        return lanes_out, flags

    # ---- conversion to FP32 ---------------------------------------------
    def convert(self, m, acc, flags, overflow):
        f, W = self.format, self.acc_bits
        names = list(self.flags)

        def carry(stage, values):
            return register_each(m, values, lambda n: f"cv{stage}_{n}")

        # Stage 1: sign and magnitude (W bits: |-2^(W-1)| fits unsigned).
        neg = acc[W - 1]
        mag = Signal(W, name="cv0_mag")
        m.d.sync += mag.eq(Mux(neg, -acc, acc))
        side = carry(0, dict(neg=neg, ovf=overflow, **flags))

        # Stage 2: the leading-zero count (a log-depth tree).
        lz = Signal(range(W + 1), name="cv1_lz")
        m.d.sync += lz.eq(leading_zeros_tree(mag))
        mag2 = Signal(W, name="cv1_mag")
        m.d.sync += mag2.eq(mag)
        side = carry(1, side)

        # Stages 3 and 4: normalize, leading one to bit W - 1, in two steps
        # (the count's high bits, then its low ``_FINE`` bits).
        coarse = Signal(W, name="cv2_coarse")
        m.d.sync += coarse.eq(mag2 << (lz[_FINE:] << _FINE))
        lz_lo = Signal(_FINE, name="cv2_lz_lo")
        exp = Signal(range(256), name="cv2_exp")
        # value = norm * 2^(lsb_exp - lz); leading one at W-1-lz -> exponent
        # lsb_exp + W - 1 - lz (always 1..254: model.dot_baselines).
        zero = Signal(name="cv2_zero")
        m.d.sync += [lz_lo.eq(lz[:_FINE]), exp.eq(f.product_lsb_exp + W - 1 + 127 - lz),
                     zero.eq(mag2 == 0)]
        side = carry(2, side)
        norm = Signal(W, name="cv3_norm")
        m.d.sync += norm.eq(coarse << lz_lo)
        exp_n, zero_n = Signal.like(exp, name="cv3_exp"), Signal(name="cv3_zero")
        m.d.sync += [exp_n.eq(exp), zero_n.eq(zero)]
        exp, zero = exp_n, zero_n
        side = carry(3, side)

        # Stage 5: the rounding decision (the sticky OR of the bits below).
        sig = Signal(24, name="cv4_sig")
        up = Signal(name="cv4_up")
        m.d.sync += [sig.eq(norm[W - 24:W]),
                     up.eq(norm[W - 25] & (norm[:W - 25].any() | norm[W - 24]))]
        exp3, zero3 = Signal.like(exp, name="cv4_exp"), Signal(name="cv4_zero")
        m.d.sync += [exp3.eq(exp), zero3.eq(zero)]
        side = carry(4, side)

        # Stage 6: round to nearest even and pack; specials override.
        rounded = Signal(25, name="cv_rounded")
        m.d.comb += rounded.eq(sig + up)
        bump = rounded[24]
        frac = Mux(bump, rounded[1:24], rounded[:23])
        packed = Cat(frac, (exp3 + bump)[:8], side["neg"])
        value = Signal(32, name="cv5_acc")
        nan = side["nan"] | (side["pinf"] & side["ninf"])
        m.d.sync += value.eq(Mux(nan, CANONICAL_NAN32,
                                 Mux(side["pinf"], POS_INF32,
                                     Mux(side["ninf"], NEG_INF32,
                                         Mux(zero3, 0, packed)))))
        ovf = Signal(name="cv5_ovf")
        m.d.sync += ovf.eq(side["ovf"])
        return value, ovf


class Fp8DotPE(FpDotPE):
    """FP8 E4M3 (OCP) x E4M3, ``lanes`` products per cycle, FP32 result."""

    fmt = "fp8_e4m3"
    mul_stages = 2     # in one stage with the decode: 101 MHz on ECP5


class Fp16DotPE(FpDotPE):
    """IEEE binary16 x binary16, ``lanes`` products per cycle, FP32 result."""

    fmt = "fp16"
    mul_stages = 2
    levels_per_stage = 1   # 81-bit adders: one a stage
