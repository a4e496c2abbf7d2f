"""Number formats of the radix4 datapath (SPEC sections 1.1-1.5).

One table, ``FORMATS``, holds every format's parameters; the codecs below are
driven by it, so adding a format means adding a row, not special cases.

Integer formats (``int4``, ``uint4``) are plain codes.  Logarithmic formats
(``fp4`` radix 4, and the ``fp4r2`` radix-2 ablation) have layout [1,3,0]:
bit 3 sign, bits 2..0 exponent field ``e``; ``e == 0`` is zero and for
``e in 1..7``::

    value = (-1)^s * mag(e) * 2^(sigma + phase - log2(radix) * 6)
    mag(e) = radix^(e - 1)

so the largest magnitude ("top") is ``2^(sigma + phase)``.  ``mag(e)`` is the
integer the hardware multiplies by: a left shift by ``log2(radix)*(e-1)``.

Minifloat formats (kind ``"float"``: ``e2m1``, the OCP FP4 element of MXFP4
and NVFP4) have layout [1, exp_bits, man_bits]: bit 3 sign, then exponent
field ``e``, then mantissa ``m``; no infinities or NaN.  Their integer value is
the value in units of the smallest subnormal, ``2^(1 - bias - man_bits)``::

    iv = (m + (e > 0) * 2^man_bits) * 2^max(e - 1, 0)
    value = (-1)^s * iv * 2^-scale_offset,   scale_offset = bias + man_bits - 1

so E2M1 codes 0..7 have ``iv`` 0, 1, 2, 3, 4, 6, 8, 12 (values 0, 0.5, 1,
1.5, 2, 3, 4, 6).  The block scales around them are in ``model.block_formats``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "FormatSpec", "FORMATS", "get_format", "int_value", "int_value_table",
    "check_codes", "to_nibbles", "from_nibbles", "int_encode", "checked_value",
    "checked_nibbles",
    "fp4_encode", "fp4_decode", "log_encode", "log_decode", "fp4_levels",
    "grad_scale_sigma", "tpr_encode", "ROUNDING_MODES", "sigma_range",
]

ROUNDING_MODES = ("nearest", "stochastic")


@dataclass(frozen=True)
class FormatSpec:
    """Parameters of one 4-bit number format."""

    name: str
    kind: str            # "int", "log" or "float" (minifloat)
    bits: int            # width of a code
    code_min: int        # smallest legal code value as held in numpy
    code_max: int        # largest legal code value as held in numpy
    dtype: type          # numpy dtype codes are held in
    hw_code: int | None  # value of the format-select field in the RTL (None: model only)
    radix: int = 0       # log formats: ratio between adjacent levels
    exp_bits: int = 0    # log formats: width of the exponent field
    sides: str = ""      # GEMM operand sides the datapath accepts it on: "a", "b", "ab"
    man_bits: int = 0    # float formats: mantissa width
    bias: int = 0        # float formats: exponent bias

    @property
    def is_log(self) -> bool:
        return self.kind == "log"

    @property
    def shift_per_exp(self) -> int:
        """log2(radix): the shift one exponent step stands for."""
        return int(self.radix).bit_length() - 1

    @property
    def e_max(self) -> int:
        return (1 << self.exp_bits) - 1

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def scale_offset(self) -> int:
        """Log formats: value = int_value * 2^(sigma + phase - scale_offset);
        float formats: value = int_value * 2^-scale_offset."""
        if self.is_float:
            return self.bias + self.man_bits - 1
        return self.shift_per_exp * (self.e_max - 1)

    @property
    def int_min(self) -> int:
        """Smallest integer value a code can stand for."""
        return self.code_min if self.kind == "int" else -self.int_max

    @property
    def int_max(self) -> int:
        """Largest integer value a code can stand for."""
        if self.is_log:
            return self.radix ** (self.e_max - 1)
        if self.is_float:
            return ((2 << self.man_bits) - 1) << (self.e_max - 1)
        return self.code_max


FORMATS: dict[str, FormatSpec] = {
    "int4": FormatSpec("int4", "int", 4, -8, 7, np.int8, hw_code=0, sides="ab"),
    "uint4": FormatSpec("uint4", "int", 4, 0, 15, np.uint8, hw_code=1, sides="ab"),
    # A log format rides on A only: the PE turns it into a shift of the B operand.
    "fp4": FormatSpec("fp4", "log", 4, 0, 15, np.uint8, hw_code=2, radix=4, exp_bits=3,
                      sides="a"),
    # Radix-2 [1,3,0] ablation: levels 2x apart, top / 2^6 at the bottom.
    "fp4r2": FormatSpec("fp4r2", "log", 4, 0, 15, np.uint8, hw_code=None, radix=2, exp_bits=3),
    # OCP FP4 E2M1 (the element of MXFP4 and NVFP4): +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
    # Model only until the block-scaled PEs exist (issue 25 hardware half).
    "e2m1": FormatSpec("e2m1", "float", 4, 0, 15, np.uint8, hw_code=None, exp_bits=2,
                       man_bits=1, bias=1),
}


def get_format(name: str) -> FormatSpec:
    """Look a format up by name; unknown names raise ``ValueError``."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown format {name!r}; expected one of {', '.join(FORMATS)}") from None


def check_codes(codes, fmt: str, name: str = "codes") -> np.ndarray:
    """Validate a code array for ``fmt``; return it as an ``int64`` array.

    Rejects non-integer dtypes and codes outside the format's range with a
    ``ValueError`` that names the tensor.
    """
    spec = get_format(fmt)
    arr = np.asarray(codes)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: {fmt} codes must have an integer dtype, got {arr.dtype}")
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) > spec.code_max:
        # Checked before the cast: uint64 codes above 2^63 would wrap to
        # negative int64 values and could pass as legal signed codes.
        raise ValueError(f"{name}: code {int(arr.max())} out of range for {fmt} "
                         f"[{spec.code_min}, {spec.code_max}]")
    wide = arr.astype(np.int64)
    if wide.size:
        lo, hi = int(wide.min()), int(wide.max())
        if lo < spec.code_min or hi > spec.code_max:
            bad = lo if lo < spec.code_min else hi
            raise ValueError(
                f"{name}: code {bad} out of range for {fmt} "
                f"[{spec.code_min}, {spec.code_max}]")
    return wide


def int_value_table(fmt: str) -> np.ndarray:
    """Integer value of every 4-bit pattern 0..15 (the nibble on the wire)."""
    spec = get_format(fmt)
    nib = np.arange(1 << spec.bits, dtype=np.int64)
    if spec.is_log:
        e = nib & spec.e_max
        sign = np.where(nib >> spec.exp_bits, -1, 1)
        mag = np.where(e == 0, 0, spec.radix ** np.maximum(e - 1, 0))
        return sign * mag
    if spec.is_float:
        field = spec.exp_bits + spec.man_bits
        e = (nib >> spec.man_bits) & spec.e_max
        m = nib & ((1 << spec.man_bits) - 1)
        mag = (m + ((e > 0) << spec.man_bits)) << np.maximum(e - 1, 0)
        return np.where(nib >> field, -mag, mag)
    if spec.code_min < 0:  # two's complement
        return np.where(nib >= (1 << (spec.bits - 1)), nib - (1 << spec.bits), nib)
    return nib


def to_nibbles(codes, fmt: str, name: str = "codes") -> np.ndarray:
    """Raw 4-bit patterns (``uint8`` 0..15) of validated codes."""
    return checked_nibbles(check_codes(codes, fmt, name), fmt)


def checked_nibbles(codes, fmt: str) -> np.ndarray:
    """``to_nibbles`` of codes that already passed ``check_codes`` (not checked again)."""
    return (np.asarray(codes).astype(np.int64) & ((1 << get_format(fmt).bits) - 1)) \
        .astype(np.uint8)


def from_nibbles(nibbles, fmt: str) -> np.ndarray:
    """Codes of ``fmt`` (in its numpy dtype) from raw 4-bit patterns."""
    spec = get_format(fmt)
    nib = check_codes(nibbles, "uint4", "nibbles")
    if spec.kind == "int" and spec.code_min < 0:
        return int_value_table(fmt)[nib].astype(spec.dtype)
    return nib.astype(spec.dtype)


def int_value(codes, fmt: str, name: str = "codes") -> np.ndarray:
    """The integer each code stands for (SPEC 2's ``iv``), as ``int64``."""
    return checked_value(check_codes(codes, fmt, name), fmt)


def checked_value(codes, fmt: str) -> np.ndarray:
    """``int_value`` of codes that already passed ``check_codes`` (not checked again)."""
    wide = np.asarray(codes).astype(np.int64, copy=False)
    if get_format(fmt).kind != "int":
        return int_value_table(fmt)[wide]
    return wide


def int_encode(x, fmt: str, name: str = "x") -> np.ndarray:
    """Round real numbers to the nearest integer code (ties to even), clipped."""
    spec = get_format(fmt)
    if spec.kind != "int":
        raise ValueError(f"int_encode: {fmt} is not an integer format")
    arr = np.asarray(x, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name}: NaN cannot be encoded as {fmt}")
    return np.clip(np.rint(arr), spec.code_min, spec.code_max).astype(spec.dtype)


# --------------------------------------------------------------------------
# Logarithmic (FP4) formats


# Largest legal sigma: the top level of phase 1, 2^(sigma + 1), must be a
# finite float64 (2^1023 is the largest power of two that is).
SIGMA_MAX = 1022
# Smallest normal float64 is 2^-1022.
_MIN_NORMAL_EXP = -1022


def sigma_range(fmt: str = "fp4") -> tuple[int, int]:
    """Legal scale exponents ``(lo, hi)`` of a logarithmic format, both phases.

    ``hi``: the top level ``2^(sigma+1)`` of phase 1 is finite.  ``lo``: the
    bottom level ``2^(sigma - scale_offset)`` of phase 0 is a normal float, so
    every level, every rounding threshold (``(1+radix)/2 * L``, ``m/2``) and
    every decoded value is exact; below it the thresholds themselves would
    round.  fp4: [-1010, 1022]; fp4r2: [-1016, 1022].
    """
    return _MIN_NORMAL_EXP + get_format(fmt).scale_offset, SIGMA_MAX


def _check_scale(sigma, phase, fmt: str = "fp4", name: str = "tensor") -> tuple[int, int]:
    if isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, (int, np.integer)):
        raise ValueError(f"{name}: sigma must be an integer scale exponent, got {sigma!r}")
    if phase not in (0, 1) or isinstance(phase, (bool, np.bool_)):
        raise ValueError(f"{name}: phase must be 0 or 1, got {phase!r}")
    sigma = int(sigma)
    lo, hi = sigma_range(fmt)
    if not lo <= sigma <= hi:
        raise ValueError(f"{name}: sigma {sigma} is outside the legal range [{lo}, {hi}] of "
                         f"{fmt} (its levels must be finite, normal float64 values)")
    return sigma, int(phase)


def fp4_levels(sigma: int, phase: int = 0, fmt: str = "fp4") -> np.ndarray:
    """Non-zero magnitudes of ``fmt`` for (sigma, phase), bottom to top."""
    spec = get_format(fmt)
    sigma, phase = _check_scale(sigma, phase, fmt)
    mags = spec.radix ** np.arange(spec.e_max, dtype=np.float64)
    return np.ldexp(mags, sigma + phase - spec.scale_offset)


def log_encode(x, sigma, phase=0, rounding="nearest", rng=None, *,
               fmt: str = "fp4", name: str = "tensor") -> np.ndarray:
    """Encode real numbers to a logarithmic 4-bit format (SPEC 1.3).

    Levels ``L_j = top * radix^-j``; between adjacent levels ``L`` and
    ``radix*L`` nearest rounding picks the upper one iff ``|x|`` reaches the
    linear midpoint ``(1 + radix)/2 * L`` (ties go up); below the bottom level
    ``m`` it gives 0 under ``m/2`` and ``m`` from there.  Stochastic rounding
    goes up with probability proportional to the distance from the lower
    level, so it is unbiased for ``|x| <= top``.  Magnitudes above ``top``
    (and infinities) saturate.  NaN raises ``ValueError`` naming ``name``.
    """
    spec = get_format(fmt)
    if not spec.is_log:
        raise ValueError(f"log_encode: {fmt} is not a logarithmic format")
    sigma, phase = _check_scale(sigma, phase, fmt, name)
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding must be one of {ROUNDING_MODES}, got {rounding!r}")
    if rounding == "stochastic" and not isinstance(rng, np.random.Generator):
        raise ValueError("stochastic rounding needs rng=numpy.random.Generator")
    arr = np.asarray(x, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name}: contains NaN; refusing to encode it as {fmt}")

    shift = spec.shift_per_exp
    log2_top = sigma + phase
    log2_bottom = log2_top - spec.scale_offset
    ax = np.abs(arr)
    e = np.zeros(arr.shape, dtype=np.int64)

    # Between two levels: exact exponent of |x| from frexp (no log rounding).
    inside = (ax > 0) & (ax >= np.ldexp(1.0, log2_bottom)) & (ax < np.ldexp(1.0, log2_top))
    _, exp2 = np.frexp(np.where(inside, ax, 1.0))
    k = np.where(inside, ((exp2 - 1) - log2_bottom) // shift, 0)  # lower level index
    lower = np.ldexp(1.0, log2_bottom + shift * k)
    if rounding == "nearest":
        up = ax >= (1 + spec.radix) / 2 * lower
    else:
        up = rng.random(arr.shape) < (ax - lower) / ((spec.radix - 1) * lower)
    e = np.where(inside, k + 1 + up, e)

    # Below the bottom level: 0 or the bottom level.
    bottom = np.ldexp(1.0, log2_bottom)
    below = (ax > 0) & (ax < bottom)
    if rounding == "nearest":
        to_bottom = ax >= bottom / 2
    else:
        to_bottom = rng.random(arr.shape) < ax / bottom
    e = np.where(below & to_bottom, 1, e)

    # At or above the top (including inf): saturate.
    e = np.where(ax >= np.ldexp(1.0, log2_top), spec.e_max, e)

    sign = (arr < 0) & (e != 0)  # zero, and anything rounded to zero, is 0x0
    code = (sign.astype(np.int64) << spec.exp_bits) | e
    return code.astype(np.uint8)


def log_decode(codes, sigma, phase=0, *, fmt: str = "fp4") -> np.ndarray:
    """Real values (``float64``) of logarithmic codes."""
    spec = get_format(fmt)
    if not spec.is_log:
        raise ValueError(f"log_decode: {fmt} is not a logarithmic format")
    sigma, phase = _check_scale(sigma, phase, fmt, "codes")
    iv = int_value(codes, fmt).astype(np.float64)
    return np.ldexp(iv, sigma + phase - spec.scale_offset)


def fp4_encode(x, sigma, phase=0, rounding="nearest", rng=None, *, name="tensor"):
    """Radix-4 FP4 encoder of SPEC 1.3; returns ``np.uint8`` codes."""
    return log_encode(x, sigma, phase, rounding, rng, fmt="fp4", name=name)


def fp4_decode(codes, sigma, phase=0):
    """Radix-4 FP4 decoder of SPEC 1.2; returns ``np.float64`` values."""
    return log_decode(codes, sigma, phase, fmt="fp4")


# --------------------------------------------------------------------------
# GradScale and two-phase rounding


def grad_scale_sigma(g, name: str = "gradient") -> int:
    """GradScale (SPEC 1.4): ``ceil(log2(max|g|))``, 0 for an all-zero tensor."""
    arr = np.asarray(g, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name}: contains NaN; cannot choose a GradScale exponent")
    if arr.size == 0:
        return 0
    amax = float(np.max(np.abs(arr)))
    if np.isinf(amax):
        raise ValueError(f"{name}: contains inf; cannot choose a GradScale exponent")
    if amax == 0.0:
        return 0
    mant, exp2 = np.frexp(amax)  # amax = mant * 2^exp2, mant in [0.5, 1); exact for subnormals
    sigma = int(exp2 - 1) if mant == 0.5 else int(exp2)
    if sigma > SIGMA_MAX:
        raise ValueError(f"{name}: max |g| = {amax:.6g} needs sigma {sigma}, above {SIGMA_MAX}: "
                         f"the phase-1 top level 2^(sigma+1) would overflow float64")
    # Too small a sigma is format-dependent (sigma_range) and raised by the encoder.
    return sigma


def tpr_encode(g, sigma=None, *, tpr: bool = True, rounding: str = "nearest",
               rng=None, fmt: str = "fp4", name: str = "gradient"):
    """Two-phase rounding (SPEC 1.5) of one gradient tensor.

    Returns ``(codes_dx, codes_dw, sigma)``: the codes for the
    activation-gradient GEMM (phase 0) and for the weight-gradient GEMM
    (phase 1, or phase 0 too when ``tpr`` is False), and the scale exponent
    used (GradScale of ``g`` when ``sigma`` is None).
    """
    if sigma is None:
        sigma = grad_scale_sigma(g, name)
    codes_dx = log_encode(g, sigma, 0, rounding, rng, fmt=fmt, name=name)
    codes_dw = log_encode(g, sigma, 1 if tpr else 0, rounding, rng, fmt=fmt, name=name)
    return codes_dx, codes_dw, sigma

