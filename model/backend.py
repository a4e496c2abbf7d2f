"""The GEMM backend interface shared by the training loop and the RTL driver.

A backend computes the exact GEMM contract (SPEC 2) for code matrices.  The
golden backend lives here; the RTL backends (``sim.backends``) implement the
same ``gemm`` method, so one training loop runs on any of them.

Operands may be any 4-bit format of ``model.formats`` on either side, or
``int8``/``uint8`` (run as 4-bit parts, SPEC 1.6).  Every call names its GEMM
(e.g. ``"fc1.dW"``) so errors and traces can say which one failed.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .formats import hardware_orientation
from .formats import int_value
from .gemm import (DEFAULT_ACC_WIDTH, _exact_matmul, acc_range, check_acc_width, check_lanes,
                   gemm_exact, overflow_mask)
from .quant import WIDE_FORMATS, decompose, nibble_gemm

__all__ = ["GemmBackend", "GemmOverflowError", "GoldenBackend"]


class GemmOverflowError(ArithmeticError):
    """An output's running sum left the ACC_WIDTH-bit accumulator range."""

    def __init__(self, gemm_name: str, count: int, acc_width: int):
        super().__init__(
            f"GEMM {gemm_name!r}: {count} output(s) overflowed the "
            f"{acc_width}-bit accumulator")
        self.gemm_name = gemm_name
        self.count = count
        self.acc_width = acc_width


@runtime_checkable
class GemmBackend(Protocol):
    name: str
    acc_width: int

    def gemm(self, a, b, a_format: str, b_format: str, *, name: str = "gemm") -> np.ndarray:
        """Exact int64 ``A @ B`` of code matrices; raises on overflow."""
        ...


class GoldenBackend:
    """The NumPy golden model as a backend, with the hardware's overflow rule.

    Each 4-bit part GEMM is checked against the accumulator width exactly as
    the RTL would flag it (sticky, running sum in ascending k, judged after
    each group of ``lanes`` products: ``model.gemm.overflow_mask``).  A pair the
    datapath takes only the other way round (FP4 on the B side) is computed
    as the transposed product ``(B^T A^T)^T``, as the driver does, so the
    overflow check sees the same accumulation.  Pairs the datapath cannot run
    in either orientation (e.g. FP4 x FP4) are computed as given.
    """

    name = "golden"

    def __init__(self, acc_width: int = DEFAULT_ACC_WIDTH, check_overflow: bool = True, *,
                 lanes: int = 1):
        self.acc_width = check_acc_width(acc_width)
        self.check_overflow = check_overflow
        self.lanes = check_lanes(lanes)

    def _gemm4(self, a, b, fa, fb, name):
        try:
            transposed = hardware_orientation(fa, fb)
        except ValueError:   # not a datapath pair: the model still computes it
            transposed = False
        if transposed:
            return self._gemm4(np.asarray(b).T, np.asarray(a).T, fb, fa, name).T
        if self.check_overflow:
            bad = overflow_mask(a, b, fa, fb, self.acc_width, lanes=self.lanes)
            if bad.any():
                raise GemmOverflowError(name, int(bad.sum()), self.acc_width)
        return gemm_exact(a, b, fa, fb)

    def gemm(self, a, b, a_format, b_format, *, name="gemm"):
        parts_a = decompose(a, a_format, "A")  # validates wide formats early
        parts_b = decompose(b, b_format, "B")
        if len(parts_a) * len(parts_b) > 1 and not self._may_overflow(parts_a, parts_b):
            # An 8-bit operand: when no 4-bit part GEMM can overflow (bound
            # check), the recombined sum is the exact product of the 8-bit
            # values, so one matmul replaces the four part GEMMs.
            return _exact_matmul(_values(a, a_format), _values(b, b_format))
        return nibble_gemm(a, b, a_format, b_format,
                           gemm=lambda x, y, fx, fy: self._gemm4(x, y, fx, fy, name))

    def _may_overflow(self, parts_a, parts_b) -> bool:
        if not self.check_overflow:
            return False
        lo, hi = acc_range(self.acc_width)
        k = parts_a[0][0].shape[1] if parts_a[0][0].ndim == 2 else 0
        peak_a = max(int(np.abs(int_value(c, f)).max(initial=0)) for c, f, _ in parts_a)
        peak_b = max(int(np.abs(int_value(c, f)).max(initial=0)) for c, f, _ in parts_b)
        return peak_a * peak_b * k > min(-lo - 1, hi)


def _values(codes, fmt):
    """Integer values of 4-bit or 8-bit codes (8-bit codes are their own values)."""
    if fmt in WIDE_FORMATS:
        return np.asarray(codes).astype(np.int64)
    return int_value(codes, fmt)
