"""Reference arithmetic of the k-lane dot-product baselines (issue 27 item 4).

The hardware-cost report compares the radix-4 k-lane PE with three baseline
PEs built the same way (``hw.baselines.dot_pe``): INT8 x INT8 into an INT32
accumulator, FP8 E4M3 x E4M3 and FP16 x FP16, both with an FP32 result.  This
module is their golden model; docs/hardware-cost.md ("Baseline arithmetic")
states the same rules in prose.

INT8 (``int8_dot``): every product exact, the running sum kept in a signed
32-bit register that wraps, and a sticky overflow flag judged on the exact
running sum after each group of ``lanes`` products -- the radix-4 PE's rule
(``model.gemm.overflow_mask``), so the two accumulators are identical.

Floating point (``fp_dot``), the *exact-accumulate* definition:

1. every operand is decoded exactly (subnormals included) to an integer
   ``q`` times ``2^(1 - bias - man_bits)``;
2. every product is exact: an integer times ``2^lsb_exp``
   (``lsb_exp = 2 * (1 - bias - man_bits)``: -18 for E4M3, -48 for FP16);
3. the products are summed exactly in a signed fixed-point register of
   ``acc_bits`` bits with that LSB (54 for E4M3, 98 for FP16: the largest
   product's bits plus 17 bits of headroom, as INT8 products have in INT32,
   plus a sign).  The register wraps; a sticky ``overflow`` flag is judged on
   the exact running sum after each group of ``lanes`` (as for INT8);
4. the result is the register rounded **once** to FP32, round to nearest
   even (``round_to_fp32``).  Every such value is a normal FP32 number or
   zero, so no FP32 subnormal, overflow or underflow can occur; an exact
   zero is ``+0``.

Specials (sticky from ``clear`` on, like the sum): E4M3 (OCP FP8) has no
infinities and one NaN per sign (``S.1111.111``); FP16 has IEEE infinities
and NaNs.  A product is NaN if an operand is NaN or it is Inf x 0, else
+-Inf if an operand is Inf.  The result is the canonical NaN ``0x7FC00000``
if any product was NaN or both +Inf and -Inf occurred, else +-Inf if one
infinity occurred, else the rounded sum.

Step 3 and 4 are *more* accurate than an FP32 accumulator (which rounds after
every add) and, in logic, cheaper at one group per cycle: the loop is one
carry chain instead of an FP32 adder.  So the FP baselines are given their
best case here (docs/hardware-cost.md, "What the figures do not capture").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FloatFormat", "FLOAT_FORMATS", "get_float_format", "decode", "product",
           "round_to_fp32", "fp_dot", "int8_dot",
           "CANONICAL_NAN32", "POS_INF32", "NEG_INF32", "INT8_ACC_WIDTH", "ACC_HEADROOM"]

CANONICAL_NAN32 = 0x7FC00000
POS_INF32 = 0x7F800000
NEG_INF32 = 0xFF800000
INT8_ACC_WIDTH = 32
# Bits of headroom above the largest product: 2^17 products of the largest
# magnitude fit, as INT8 products (2^14) do in a signed 32-bit register.
ACC_HEADROOM = 17


@dataclass(frozen=True)
class FloatFormat:
    """One binary floating-point operand format (one row per format)."""

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    has_inf: bool        # IEEE: exponent all ones is Inf (mantissa 0) / NaN
    # Without infinities (OCP E4M3): only all-ones exponent *and* mantissa is NaN.

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def exp_max_field(self) -> int:
        return (1 << self.exp_bits) - 1

    @property
    def lsb_exp(self) -> int:
        """Exponent of an operand's integer ``q``: value = q * 2^lsb_exp."""
        return 1 - self.bias - self.man_bits

    @property
    def product_lsb_exp(self) -> int:
        return 2 * self.lsb_exp

    @property
    def max_q(self) -> int:
        """The largest finite magnitude as an integer times 2^lsb_exp."""
        if self.has_inf:
            e, f = self.exp_max_field - 1, (1 << self.man_bits) - 1
        else:
            e, f = self.exp_max_field, (1 << self.man_bits) - 2
        return (f | (1 << self.man_bits)) << (e - 1)

    @property
    def product_bits(self) -> int:
        """Bits of the largest exact product's magnitude (units 2^product_lsb_exp)."""
        return (self.max_q * self.max_q).bit_length()

    @property
    def acc_bits(self) -> int:
        """Width of the signed fixed-point accumulator (module docstring, step 3)."""
        return self.product_bits + ACC_HEADROOM + 1


FLOAT_FORMATS = {f.name: f for f in (
    FloatFormat("fp8_e4m3", exp_bits=4, man_bits=3, bias=7, has_inf=False),
    FloatFormat("fp16", exp_bits=5, man_bits=10, bias=15, has_inf=True),
)}


def get_float_format(name: str) -> FloatFormat:
    try:
        return FLOAT_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown float format {name!r}; known: "
                         f"{', '.join(FLOAT_FORMATS)}") from None


def decode(codes, fmt: FloatFormat):
    """Codes -> (q, nan, inf) arrays: the signed exact value ``q * 2^lsb_exp``
    (0 for specials), and the NaN / +-Inf masks (``inf`` holds the sign: +1/-1/0)."""
    c = np.asarray(codes, dtype=np.int64)
    if c.size and (c.min() < 0 or c.max() >= 1 << fmt.bits):
        raise ValueError(f"{fmt.name} codes must be in 0..{(1 << fmt.bits) - 1}")
    sign = (c >> (fmt.bits - 1)) & 1
    e = (c >> fmt.man_bits) & fmt.exp_max_field
    f = c & ((1 << fmt.man_bits) - 1)
    mant = np.where(e == 0, f, f | (1 << fmt.man_bits))
    q = mant << np.maximum(e - 1, 0)
    if fmt.has_inf:
        top = e == fmt.exp_max_field
        nan, inf = top & (f != 0), top & (f == 0)
    else:
        nan = (e == fmt.exp_max_field) & (f == (1 << fmt.man_bits) - 1)
        inf = np.zeros_like(nan)
    special = nan | inf
    q = np.where(special, 0, np.where(sign == 1, -q, q))
    return q, nan, np.where(inf, 1 - 2 * sign, 0)


def product(a_codes, b_codes, fmt: FloatFormat):
    """Exact products (Python ints in an object array, units 2^product_lsb_exp),
    and their NaN mask and infinity sign (+1/-1/0)."""
    qa, na, ia = decode(a_codes, fmt)
    qb, nb, ib = decode(b_codes, fmt)
    p = qa.astype(object) * qb.astype(object)
    a_zero = (qa == 0) & (ia == 0) & ~na
    b_zero = (qb == 0) & (ib == 0) & ~nb
    nan = na | nb | ((ia != 0) & b_zero) | ((ib != 0) & a_zero)
    inf_sign = np.where(nan, 0, np.where(ia != 0, ia * np.where(ib != 0, ib, np.sign(qb)),
                                         np.where(ib != 0, ib * np.sign(qa), 0)))
    return p, nan, inf_sign


def round_to_fp32(value: int, lsb_exp: int) -> int:
    """FP32 bits of ``value * 2^lsb_exp`` rounded to nearest, ties to even.

    Only for values that are zero or normal in FP32 (every value of this
    module is): an exact zero is +0."""
    value = int(value)
    if value == 0:
        return 0
    sign = 1 if value < 0 else 0
    mag = -value if sign else value
    n = mag.bit_length()
    if n <= 24:
        sig = mag << (24 - n)
    else:
        shift = n - 24
        sig, rem = mag >> shift, mag & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rem > half or (rem == half and sig & 1):
            sig += 1
        if sig == 1 << 24:
            sig >>= 1
            n += 1
    biased = lsb_exp + n - 1 + 127
    if not 1 <= biased <= 254:
        raise ValueError("value outside the normal FP32 range")
    return (sign << 31) | (biased << 23) | (sig & 0x7FFFFF)


def _wrap(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _groups(k: int, lanes: int):
    return [(g, min(g + lanes, k)) for g in range(0, k, lanes)]


def fp_dot(a_codes, b_codes, fmt, lanes: int = 1) -> tuple[int, bool]:
    """The FP baseline's result for one dot product: ``(fp32_bits, overflow)``.

    ``a_codes``, ``b_codes``: 1-D, same length K (the sum since ``clear``,
    K zero-padded to a multiple of ``lanes``, which adds exact zeros)."""
    fmt = get_float_format(fmt) if isinstance(fmt, str) else fmt
    a, b = np.asarray(a_codes).ravel(), np.asarray(b_codes).ravel()
    if a.shape != b.shape:
        raise ValueError("a and b must have the same length")
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or lanes < 1:
        raise ValueError(f"lanes must be a positive integer, got {lanes!r}")
    p, nan, inf = product(a, b, fmt)
    bits = fmt.acc_bits
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    exact, overflow = 0, False
    for start, stop in _groups(len(p), lanes):
        exact += sum(int(x) for x in p[start:stop])
        overflow |= not lo <= exact <= hi
    if nan.any() or ((inf > 0).any() and (inf < 0).any()):
        return CANONICAL_NAN32, overflow
    if (inf > 0).any():
        return POS_INF32, overflow
    if (inf < 0).any():
        return NEG_INF32, overflow
    return round_to_fp32(_wrap(exact, bits), fmt.product_lsb_exp), overflow


def int8_dot(a, b, lanes: int = 1, acc_width: int = INT8_ACC_WIDTH) -> tuple[int, bool]:
    """The INT8 baseline's result for one dot product: ``(acc, overflow)``
    (signed, wrapped to ``acc_width`` bits; overflow judged after each group)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError("a and b must have the same length")
    if a.size and (min(a.min(), b.min()) < -128 or max(a.max(), b.max()) > 127):
        raise ValueError("INT8 operands must be in -128..127")
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    exact, overflow = 0, False
    for start, stop in _groups(a.size, lanes):
        exact += int(np.dot(a[start:stop].astype(np.int64), b[start:stop].astype(np.int64)))
        overflow |= not lo <= exact <= hi
    return _wrap(exact, acc_width), overflow
