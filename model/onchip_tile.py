"""Golden model of the tile with the quantization unit on its result path.

What ``hw.tile_quant.QuantTile`` plus the driver (``sim.quant_backend``)
compute, in the same order: a GEMM's output tiles leave the array in
row-major tile order (R rows of C columns per tile, rows beyond M and
columns beyond N padded with zeros), and the unit sees them as one stream of
beats.  Position matters only for stochastic rounding (beat n of a job uses
each lane's (n+1)-th xorshift word) and for which lane holds which bias, so
the model lays results out in that order (``to_beats``) and runs
``model.requant.run_job`` on it.

Jobs (docs/quantizer.md, "Tile integration"):

- ``forward_quant``: one unit job per output tile (the bias is per lane, so
  each tile of C columns has its own), forward PACT ``uint4`` or ``int4``;
  codes and the STE mask come back, no INT32.
- ``backward_quant``: the whole GEMM is one unit job in FP4 mode with the
  mask of the activation it flows into; both TPR phases and amax come back.
  ``measure_only``: emit only the last beat (amax), the first pass of exact
  GradScale.  ``keep_int32``: the INT32 rows go to the host as well (route
  "both").
- ``requant``: stored INT32 rows (same tile order) stream back through the
  unit as one job: the second pass of exact GradScale.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from . import requant as rq
from .backend import GemmOverflowError, GemmPart, GoldenBackend, check_gemm
from .config import DatapathConfig

__all__ = ["to_beats", "from_beats", "BackwardOut", "QuantUnitJobs", "GoldenQuantTile",
           "check_quant_gemm"]


def to_beats(x, rows: int, cols: int, fill=0) -> np.ndarray:
    """(M, N) -> (tiles * rows, cols) in the tile's result order, zero padded."""
    x = np.asarray(x)
    m, n = x.shape
    mt, nt = -(-m // rows), -(-n // cols)
    pad = np.full((mt * rows, nt * cols), fill, dtype=x.dtype)
    pad[:m, :n] = x
    return pad.reshape(mt, rows, nt, cols).transpose(0, 2, 1, 3).reshape(mt * nt * rows, cols)


def from_beats(beats, m: int, n: int, rows: int, cols: int) -> np.ndarray:
    """Inverse of ``to_beats`` (padding dropped)."""
    beats = np.asarray(beats)
    mt, nt = -(-m // rows), -(-n // cols)
    full = beats.reshape(mt, nt, rows, cols).transpose(0, 2, 1, 3).reshape(mt * rows, nt * cols)
    return full[:m, :n]


@dataclass
class BackwardOut:
    code0: np.ndarray | None   # (M, N) uint8 FP4 codes, phase 0 (None when measure_only)
    code1: np.ndarray | None   # phase 1
    amax: int                  # max |acc| after the mask, in accumulator units
    acc: np.ndarray | None     # the INT32 results when kept (int64)


def check_quant_gemm(a, b, fa: str, fb: str, name: str) -> GemmPart:
    """The one check of a quantized GEMM's operands: a 4-bit GEMM that runs as
    given (A format on the datapath's A side); its only part."""
    op = check_gemm(a, b, fa, fb, name=name)
    if len(op.parts) != 1:
        raise ValueError(f"GEMM {name!r}: on-chip quantization takes 4-bit operands, "
                         f"got {fa} x {fb}")
    part = op.parts[0]
    if part.transposed:
        raise ValueError(f"GEMM {name!r}: on-chip quantization needs {fa} on the A side "
                         f"(the unit sees the tile's rows as they leave the array)")
    return part


def _check_mask(mask, shape, name):
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"GEMM {name!r}: mask has shape {m.shape}, the result {tuple(shape)}")
    if m.dtype != np.bool_:
        raise ValueError(f"GEMM {name!r}: mask must be bool, got {m.dtype}")
    return m


def _check_bias(bias, n, name):
    if bias is None:
        return None
    b = np.asarray(bias)
    if b.shape != (n,) or not np.issubdtype(b.dtype, np.integer):
        raise ValueError(f"GEMM {name!r}: bias must be {n} integers, got {b.dtype} {b.shape}")
    if b.size and (int(b.min()) < -(1 << 31) or int(b.max()) >= 1 << 31):
        raise ValueError(f"GEMM {name!r}: bias values must fit int32")
    return b.astype(np.int64)


class QuantUnitJobs(abc.ABC):
    """The quantization unit's three jobs, declared and checked once.

    A backend with the unit (``GoldenQuantTile`` here,
    ``sim.quant_backend.QuantRtlBackend``) derives from this and from its
    ``model.backend.Backend``, and implements the jobs on checked input
    (``_forward_job``, ``_backward_job``, ``_requant_job``).  Every check
    runs before anything is computed or sent, so bad input (multiplier,
    shift, sigma, mask shape, bias) raises ``ValueError`` with a simulator
    untouched.  ``config`` (rows, cols, acc_width) is the backend's.
    """

    def forward_quant(self, a, b, fa, fb, *, mantissa, shift, bias=None, mode="uint4",
                      name="gemm"):
        """(codes, STE mask) of the GEMM's results, each tile one forward job."""
        part = check_quant_gemm(a, b, fa, fb, name)
        rq.check_multiplier(mantissa, shift)
        if mode not in rq.FWD_RANGE:
            raise ValueError(f"GEMM {name!r}: forward mode must be uint4 or int4, got {mode!r}")
        bias = _check_bias(bias, part.shape[2], name)
        return self._forward_job(part, mantissa=mantissa, shift=shift, bias=bias, mode=mode)

    def backward_quant(self, a, b, fa, fb, *, mantissa, shift, sigma=0, mask=None,
                       rounding="nearest", seed=0, keep_int32=False, measure_only=False,
                       name="gemm") -> BackwardOut:
        """The GEMM as one FP4 unit job (docstring of the module)."""
        part = check_quant_gemm(a, b, fa, fb, name)
        m, _, n = part.shape
        mask = self._check_backward((m, n), mantissa, shift, sigma, mask, rounding, seed, name)
        return self._backward_job(part, mantissa=mantissa, shift=shift, sigma=sigma, mask=mask,
                                  rounding=rounding, seed=seed, keep_int32=keep_int32,
                                  measure_only=measure_only)

    def requant(self, acc, *, mantissa, shift, sigma, mask=None, rounding="nearest", seed=0,
                name="requant") -> BackwardOut:
        """Stored accumulator results through the unit as one FP4 job."""
        acc = self._check_acc(acc, name)
        mask = self._check_backward(acc.shape, mantissa, shift, sigma, mask, rounding, seed,
                                    name)
        return self._requant_job(acc, mantissa=mantissa, shift=shift, sigma=sigma, mask=mask,
                                 rounding=rounding, seed=seed, name=name)

    # -- checks --------------------------------------------------------------
    def _check_backward(self, shape, mantissa, shift, sigma, mask, rounding, seed, name):
        rq.JobConfig("fp4", mantissa, shift, sigma, rounding, seed).validate(self.config.cols)
        return _check_mask(mask, shape, name)

    def _check_acc(self, acc, name):
        acc = np.asarray(acc)
        if acc.ndim != 2 or not np.issubdtype(acc.dtype, np.integer):
            raise ValueError(f"requant {name!r}: stored results must be a 2-D integer array")
        lo, hi = self.config.acc_range
        if acc.size and (int(acc.min()) < lo or int(acc.max()) > hi):
            raise ValueError(f"requant {name!r}: stored results outside the "
                             f"{self.config.acc_width}-bit accumulator range")
        return acc.astype(np.int64)

    # -- the jobs, on checked input ------------------------------------------
    @abc.abstractmethod
    def _forward_job(self, part: GemmPart, *, mantissa, shift, bias, mode):
        """(codes, mask) of a forward job per output tile."""

    @abc.abstractmethod
    def _backward_job(self, part: GemmPart, *, mantissa, shift, sigma, mask, rounding, seed,
                      keep_int32, measure_only) -> BackwardOut:
        """The GEMM as one FP4 unit job."""

    @abc.abstractmethod
    def _requant_job(self, acc, *, mantissa, shift, sigma, mask, rounding, seed,
                     name) -> BackwardOut:
        """Stored rows through the unit."""


class GoldenQuantTile(QuantUnitJobs, GoldenBackend):
    """``GoldenBackend`` plus the unit's jobs, for an R x C tile."""

    name = "golden"

    def __init__(self, rows: int | None = None, cols: int | None = None,
                 acc_width: int | None = None, *, config: DatapathConfig | None = None,
                 lanes: int | None = None):
        super().__init__(config=DatapathConfig.of(config, rows=rows, cols=cols,
                                                  acc_width=acc_width, lanes=lanes))

    def _unit_acc(self, part):
        """The part's sums, raising on overflow like the RTL."""
        acc, overflow = self.run_part(part)
        if overflow.any():
            raise GemmOverflowError(part.name, int(overflow.sum()), self.acc_width)
        return acc

    def _forward_job(self, part, *, mantissa, shift, bias, mode):
        return rq.forward_codes(self._unit_acc(part), mantissa, shift, mode=mode, bias=bias)

    def _backward_job(self, part, *, mantissa, shift, sigma, mask, rounding, seed, keep_int32,
                      measure_only):
        acc = self._unit_acc(part)
        out = self._run_backward(acc, mantissa, shift, sigma, mask, rounding, seed, measure_only)
        out.acc = acc if keep_int32 else None
        return out

    def _requant_job(self, acc, *, mantissa, shift, sigma, mask, rounding, seed, name):
        return self._run_backward(acc, mantissa, shift, sigma, mask, rounding, seed, False)

    def _run_backward(self, acc, mantissa, shift, sigma, mask, rounding, seed, measure_only):
        m, n = acc.shape
        R, C = self.config.rows, self.config.cols
        if m * n == 0:
            return BackwardOut(None if measure_only else np.zeros((m, n), np.uint8),
                               None if measure_only else np.zeros((m, n), np.uint8), 0, None)
        beats = to_beats(acc, R, C)
        mbeats = to_beats(np.ones((m, n), bool) if mask is None else mask, R, C, fill=False)
        cfg = rq.JobConfig("fp4", mantissa, shift, sigma, rounding, seed,
                           emit=not measure_only)
        res = rq.run_job(cfg, beats, mbeats)
        if measure_only:
            return BackwardOut(None, None, res.amax, None)
        return BackwardOut(from_beats(res.code0, m, n, R, C), from_beats(res.code1, m, n, R, C),
                           res.amax, None)
