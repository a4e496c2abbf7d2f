"""Integer arithmetic of the on-chip quantization unit (SPEC 1.7, docs/quantizer.md).

This module is the truth for the unit: integers in, codes out, exactly what
``hw/quant_unit.py`` computes.  No floating point is used on the data path;
floats appear only in the host helpers that turn a real scale into a
(mantissa, shift) pair.

Per job the unit gets a multiplier ``M = mantissa * 2^-shift``
(``mantissa`` 1..2^16-1, ``shift`` 0..63) that converts an accumulator value
into the unit of the output grid:

forward (``uint4`` PACT, ``int4``)::

    v    = acc + bias[col]                     (bias optional, int32)
    P    = v * mantissa                        (exact, signed)
    t    = floor(2P / 2^shift)                 (= floor(2 v M))
    code = clamp(floor((t + 1) / 2), lo, hi)   (round half up of v*M)
    mask = lo2 <= t < hi2                      ([0 <= v M < 15] for uint4)

backward (radix-4 FP4, both TPR phases)::

    a    = acc if mask else 0
    P    = |a| * mantissa
    Qt   = floor(P * 2^(28 - sigma - shift))   (Q = 4|g|/m0 with 14 fraction bits)
    st   = 1 if that floor dropped a non-zero remainder
    nearest:    e_p = #{thresholds T of phase p with Qt >= T * 2^14}
    stochastic: see ``_stochastic_exponent``

where ``g = a * M`` is the real gradient and ``m0 = 2^(sigma-12)`` the bottom
FP4 level of phase 0.  Every comparison is an exact integer compare, so the
result equals SPEC 1.3's real-number rule applied to ``g`` exactly (nearest
rounding) or to within 2^-16 of a level step in probability (stochastic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The per-lane generator of stochastic rounding lives in its own module.
from .requant_prng import (SEED_BITS, ZERO_SEED, _is_int, lane_constant, lane_randoms,
                           lane_seeds, xorshift32)

__all__ = [
    "MANT_BITS", "SHIFT_BITS", "SIGMA_BITS", "SIGMA_MIN", "SIGMA_MAX", "BIAS_BITS",
    "SEED_BITS", "RAND_BITS", "FRAC_BITS", "QT_MAX", "MODES", "FWD_RANGE",
    "JobConfig", "JobResult", "check_multiplier", "check_sigma", "quantize_multiplier",
    "forward_codes", "backward_codes", "fp4_thresholds", "amax", "sigma_from_amax",
    "xorshift32", "lane_constant", "ZERO_SEED", "E_MAX", "lane_seeds", "lane_randoms", "run_job",
]

MANT_BITS = 16          # unsigned multiplier mantissa, 1 .. 2^16 - 1
SHIFT_BITS = 6          # shift 0 .. 63
SIGMA_BITS = 8          # signed GradScale exponent the unit holds
SIGMA_MIN, SIGMA_MAX = -(1 << (SIGMA_BITS - 1)), (1 << (SIGMA_BITS - 1)) - 1
BIAS_BITS = 32          # signed per-column bias
RAND_BITS = 16          # random bits per element and phase
FRAC_BITS = RAND_BITS - 2   # fraction bits of Qt: what the stochastic compare needs exactly
QT_MAX = (1 << 30) - 1  # Qt saturates here; every threshold and compare is below it
E_MAX = 7               # FP4 exponent field of the top level

# mode name -> hardware code
MODES = {"uint4": 0, "int4": 1, "fp4": 2}
# forward modes: code range and the range of t = floor(2 v M) that the mask passes
FWD_RANGE = {"uint4": ((0, 15), (0, 30)), "int4": ((-7, 7), (-14, 14))}
ROUNDINGS = ("nearest", "stochastic")


# --------------------------------------------------------------------------
# Validation


def check_multiplier(mantissa, shift) -> tuple[int, int]:
    """``ValueError`` naming the field unless 1 <= mantissa < 2^16 and 0 <= shift < 64."""
    if not _is_int(mantissa) or not 1 <= int(mantissa) < (1 << MANT_BITS):
        raise ValueError(f"multiplier mantissa must be an integer in [1, {(1 << MANT_BITS) - 1}], "
                         f"got {mantissa!r}")
    if not _is_int(shift) or not 0 <= int(shift) < (1 << SHIFT_BITS):
        raise ValueError(f"multiplier shift must be an integer in [0, {(1 << SHIFT_BITS) - 1}], "
                         f"got {shift!r}")
    return int(mantissa), int(shift)


def check_sigma(sigma) -> int:
    if not _is_int(sigma) or not SIGMA_MIN <= int(sigma) <= SIGMA_MAX:
        raise ValueError(f"sigma {sigma!r} cannot be represented by the quantization unit "
                         f"(signed {SIGMA_BITS} bits: [{SIGMA_MIN}, {SIGMA_MAX}])")
    return int(sigma)


def _acc_array(acc, name="acc") -> np.ndarray:
    arr = np.asarray(acc)
    if arr.dtype == object:
        if not all(_is_int(v) for v in arr.ravel()):
            raise ValueError(f"{name}: accumulator values must be integers")
        return arr
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: accumulator values must have an integer dtype, got {arr.dtype}")
    # int64 holds every product below when |acc| < 2^45; beyond that, exact Python ints.
    if arr.size and int(np.max(np.abs(arr.astype(object)))) >= (1 << 45):
        return arr.astype(object)
    return arr.astype(np.int64)


def _mask_array(mask, shape, name="mask") -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{name}: shape {m.shape} does not match the accumulator stream "
                         f"{tuple(shape)}")
    if m.dtype != np.bool_:
        if not np.issubdtype(m.dtype, np.integer) or (m.size and (m.min() < 0 or m.max() > 1)):
            raise ValueError(f"{name}: mask bits must be 0/1 or bool")
        m = m.astype(bool)
    return m


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(mantissa, shift) with mantissa * 2^-shift nearest to ``real`` (host helper).

    The mantissa is normalised to [2^15, 2^16) when the shift range allows;
    a multiplier too large (>= 2^16) or too small to represent raises.
    """
    if not np.isfinite(real) or real <= 0:
        raise ValueError(f"multiplier must be a positive finite number, got {real!r}")
    _, exp2 = math.frexp(real)             # real = f * 2^exp2, f in [0.5, 1)
    shift = MANT_BITS - exp2               # mantissa = real * 2^shift in [2^15, 2^16)
    shift = min(shift, (1 << SHIFT_BITS) - 1)
    if shift < 0:
        raise ValueError(f"multiplier {real!r} too large for the unit (max < 2^{MANT_BITS})")
    mantissa = int(round(math.ldexp(real, shift)))
    if mantissa == 1 << MANT_BITS:         # rounded up to the next binade
        mantissa, shift = mantissa >> 1, shift - 1
        if shift < 0:
            raise ValueError(f"multiplier {real!r} too large for the unit")
    if mantissa == 0:
        raise ValueError(f"multiplier {real!r} too small for the unit (shift <= 63)")
    return check_multiplier(mantissa, shift)


# --------------------------------------------------------------------------
# Forward mode


def _floor_shift(x, s: int):
    """floor(x / 2^s) for s >= 0 (arithmetic shift; exact for Python and int64)."""
    return x >> s


def forward_codes(acc, mantissa, shift, *, mode="uint4", bias=None):
    """Forward requantization of accumulator values (any shape).

    Returns ``(codes, mask)``: ``codes`` as the code values (``uint4`` 0..15
    in ``np.uint8``, ``int4`` -7..7 in ``np.int8``) and the straight-through
    mask ``[lo <= v*M < hi]`` (``bool``).  ``bias`` (int32) broadcasts along
    the last axis (the column).
    """
    if mode not in FWD_RANGE:
        raise ValueError(f"forward mode must be one of {tuple(FWD_RANGE)}, got {mode!r}")
    mantissa, shift = check_multiplier(mantissa, shift)
    v = _acc_array(acc)
    if bias is not None:
        b = _acc_array(bias, "bias")
        if b.size and (int(np.min(b)) < -(1 << (BIAS_BITS - 1))
                       or int(np.max(b)) >= 1 << (BIAS_BITS - 1)):
            raise ValueError(f"bias: values must fit signed {BIAS_BITS} bits")
        v = v + b
    (lo, hi), (tlo, thi) = FWD_RANGE[mode]
    t = _floor_shift(v * mantissa * 2, shift)      # floor(2 v M)
    code = (t + 1) >> 1                              # floor(v M + 1/2): round half up
    code = np.clip(code, lo, hi).astype(np.int64)
    mask = ((t >= tlo) & (t < thi)).astype(bool)
    dtype = np.uint8 if mode == "uint4" else np.int8
    return code.astype(dtype), mask


# --------------------------------------------------------------------------
# Backward mode


def fp4_thresholds(phase: int) -> tuple[int, ...]:
    """Nearest-rounding thresholds of phase ``p`` in units of Q = 4|g|/m0.

    Levels are lambda_k = 2^(2+p+2k), k = 0..6.  Half the bottom level,
    then 2.5 * lambda_k for k = 0..5: e = number of thresholds <= Q.
    """
    return (1 << (1 + phase),) + tuple(5 << (1 + phase + 2 * k) for k in range(6))


def _scaled_magnitude(acc, mantissa, shift, sigma):
    """(Qt, sticky, negative) of the backward data path, exact integers."""
    P = np.abs(acc) * mantissa
    d = sigma + shift - 2 * FRAC_BITS               # Qt = floor(P / 2^d)
    wide = P.dtype == object                        # int64 only when P < 2^61
    if d >= 0:
        if not wide and d >= 62:                    # numpy shifts >= 64 are undefined
            qt, sticky = np.zeros_like(P), P != 0
        else:
            qt, sticky = P >> d, (P & ((1 << d) - 1)) != 0
    else:
        k = -d
        # Saturate before shifting so int64 cannot overflow.
        big = P > (QT_MAX >> k)
        qt = np.where(big, QT_MAX, P << min(k, 62))
        sticky = np.zeros(np.shape(P), dtype=bool)
    qt = np.minimum(qt, QT_MAX)
    return qt, np.asarray(sticky, dtype=bool)


def _nearest_exponent(qt, phase):
    e = np.zeros(np.shape(qt), dtype=np.int64)
    for thr in fp4_thresholds(phase):
        e += (qt >= (thr << FRAC_BITS))
    return e


def _stochastic_exponent(qt, sticky, rand, phase):
    """Stochastic rounding with a RAND_BITS-bit uniform ``rand`` per element.

    With lambda_k <= Q < lambda_(k+1): up iff r/2^16 < (Q - lambda_k)/(3 lambda_k),
    i.e. ``(3r + 2^16) << (p + 2k) < ceil(Qt)`` (= Qt + sticky).  Below the
    bottom: 1 iff r/2^16 < Q/lambda_0, i.e. ``r << p < ceil(Qt)``.  At or above
    the top: 7.
    """
    r = np.asarray(rand, dtype=np.int64)
    ceil_qt = qt + sticky.astype(np.int64)
    e = np.zeros(np.shape(qt), dtype=np.int64)
    below = qt < (1 << (2 + phase + FRAC_BITS))
    e = np.where(below & ((r << phase) < ceil_qt), 1, e)
    for k in range(6):
        lam = 1 << (2 + phase + 2 * k + FRAC_BITS)
        inside = (qt >= lam) & (qt < lam << 2)
        up = ((3 * r + (1 << RAND_BITS)) << (phase + 2 * k)) < ceil_qt
        e = np.where(inside, k + 1 + up.astype(np.int64), e)
    top = qt >= (1 << (14 + phase + FRAC_BITS))
    return np.where(top, E_MAX, e)


def backward_codes(acc, mantissa, shift, sigma, *, mask=None, rounding="nearest",
                   rand0=None, rand1=None):
    """Both TPR phases of FP4 codes (``np.uint8`` each) for ``g = acc * M``.

    ``mask`` (same shape as ``acc``) zeroes the elements where it is 0.
    Stochastic rounding takes the 16-bit random numbers per element of
    phase 0 (``rand0``) and phase 1 (``rand1``).
    """
    mantissa, shift = check_multiplier(mantissa, shift)
    sigma = check_sigma(sigma)
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    a = _acc_array(acc)
    if mask is not None:
        a = np.where(_mask_array(mask, a.shape), a, 0)
    qt, sticky = _scaled_magnitude(a, mantissa, shift, sigma)
    qt = np.asarray(qt).astype(np.int64)
    neg = np.asarray(a < 0, dtype=bool)
    codes = []
    for phase, rand in ((0, rand0), (1, rand1)):
        if rounding == "nearest":
            e = _nearest_exponent(qt, phase)
        else:
            if rand is None or np.shape(rand) != np.shape(qt):
                raise ValueError(f"stochastic rounding needs rand{phase} of shape {np.shape(qt)}")
            e = _stochastic_exponent(qt, sticky, rand, phase)
        codes.append((((neg & (e != 0)).astype(np.int64) << 3) | e).astype(np.uint8))
    return codes[0], codes[1]


# --------------------------------------------------------------------------
# GradScale from the unit's amax


def amax(acc, mask=None) -> int:
    """max |acc| over the elements (masked-out elements count as 0); 0 when empty."""
    a = _acc_array(acc)
    if mask is not None:
        a = np.where(_mask_array(mask, a.shape), a, 0)
    return int(np.max(np.abs(a.astype(object)))) if a.size else 0


def sigma_from_amax(amax_value: int, mantissa, shift) -> int:
    """GradScale exponent ``ceil(log2(amax * M))`` (0 for amax 0), exact (host side).

    Exact variant: ``amax`` of this job's accumulators.  Delayed variant: the
    previous step's ``amax`` (then values above ``2^sigma`` saturate, SPEC 1.3).
    Raises if the result is outside what the unit holds.
    """
    mantissa, shift = check_multiplier(mantissa, shift)
    if not _is_int(amax_value) or amax_value < 0:
        raise ValueError(f"amax must be a non-negative integer, got {amax_value!r}")
    if amax_value == 0:
        return 0
    x = int(amax_value) * mantissa                  # |g| * 2^shift
    return check_sigma((x - 1).bit_length() - shift)  # ceil(log2(x)) - shift


# --------------------------------------------------------------------------
# One job of the unit, as a stream of rows


@dataclass(frozen=True)
class JobConfig:
    """Per-job configuration (one ``cfg`` beat of the unit)."""

    mode: str                 # "uint4", "int4" (forward) or "fp4" (backward)
    mantissa: int
    shift: int
    sigma: int = 0            # backward only
    rounding: str = "nearest"  # backward only: "nearest" or "stochastic"
    seed: int = 0             # stochastic: lane generators' seed
    bias: tuple | None = None  # forward only: one int32 per column, None = no bias
    emit: bool = True         # False: only the job's last beat (amax) is emitted

    def validate(self, cols: int) -> "JobConfig":
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {tuple(MODES)}, got {self.mode!r}")
        check_multiplier(self.mantissa, self.shift)
        check_sigma(self.sigma)
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, got {self.rounding!r}")
        lane_seeds(self.seed, 1)
        if self.bias is not None:
            if len(self.bias) != cols:
                raise ValueError(f"bias has {len(self.bias)} values for {cols} columns")
            if any(not _is_int(b) or not -(1 << 31) <= int(b) < (1 << 31) for b in self.bias):
                raise ValueError(f"bias: values must be integers fitting signed {BIAS_BITS} bits")
        return self


@dataclass
class JobResult:
    code0: np.ndarray        # (beats, cols) uint8 nibbles: forward codes / backward phase 0
    code1: np.ndarray        # (beats, cols) uint8 nibbles: backward phase 1 (0 forward)
    mask: np.ndarray         # (beats, cols) bool: forward STE mask (False backward)
    amax: int                # max |acc| over the job (after the mask in backward mode)
    overflow: bool           # some input element carried the array's overflow flag
    emitted: list            # beat indices that leave the unit (all, or the last if not emit)


def run_job(cfg: JobConfig, acc, mask=None, overflow=None) -> JobResult:
    """The unit over one job: ``acc`` is (beats, cols), a row per input beat.

    ``mask`` (backward) and ``overflow`` are (beats, cols) bits riding in the
    same beats; a mask of another shape raises ``ValueError``.
    """
    a = _acc_array(acc)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"acc: a job is a (beats, cols) array with beats >= 1, got {a.shape}")
    beats, cols = a.shape
    cfg.validate(cols)
    if mask is not None:
        mask = _mask_array(mask, a.shape)
    ovf = False if overflow is None else bool(np.any(_mask_array(overflow, a.shape, "overflow")))
    zeros = np.zeros(a.shape, dtype=np.uint8)
    if cfg.mode in FWD_RANGE:
        codes, ste = forward_codes(a, cfg.mantissa, cfg.shift, mode=cfg.mode,
                                   bias=None if cfg.bias is None else np.array(cfg.bias))
        code0 = (codes.astype(np.int64) & 15).astype(np.uint8)
        code1, out_mask, amx = zeros, ste, amax(a)
    else:
        r0 = r1 = None
        if cfg.rounding == "stochastic":
            words = lane_randoms(cfg.seed, beats, cols).astype(np.int64)
            r0, r1 = words & 0xFFFF, words >> 16
        code0, code1 = backward_codes(a, cfg.mantissa, cfg.shift, cfg.sigma, mask=mask,
                                      rounding=cfg.rounding, rand0=r0, rand1=r1)
        out_mask, amx = np.zeros(a.shape, dtype=bool), amax(a, mask)
    emitted = list(range(beats)) if cfg.emit else [beats - 1]
    return JobResult(code0, code1, out_mask, amx, ovf, emitted)
