"""The GEMM backend interface shared by the training loop and the RTL driver.

A backend computes the exact GEMM contract (SPEC 2) for code matrices.  The
training loop, ``radix4 gemm`` and ``radix4 replay`` call
``backend.gemm(a, b, a_format, b_format, *, name)`` on any of them.

- ``GemmBackend`` (a ``Protocol``) is the interface: ``name``, ``config``
  (``model.config.DatapathConfig``), ``acc_width``, ``last_stats`` /
  ``total_stats``, ``gemm``, ``close`` and use as a context manager.
- ``Backend`` is the base class every backend derives from
  (``GoldenBackend`` here, ``sim.backends.RtlBackend``,
  ``sim.distributed.DistributedRtlBackend``, the quantization-unit backends).
  It does once what every backend needs: checks the operands
  (``check_gemm``, at the entry of ``gemm``; nothing below checks them
  again), splits 8-bit operands into 4-bit parts (SPEC 1.6), turns a part
  the datapath takes only the other way round (FP4 on B) into
  ``(B^T A^T)^T``, raises ``GemmOverflowError`` naming the GEMM for the
  first part whose sums overflowed, and keeps the statistics.  A backend
  implements ``run_part`` (one 4-bit part: exact sums and overflow flags).
- ``BackendWrapper`` is the base of everything that wraps a backend
  (``model.trace.TraceRecorder``, the trainer's progress counter, the demo's
  recorders): every attribute it does not define is the wrapped backend's,
  by one mechanism, so a wrapper writes only what it adds.

Operands may be any format of ``model.formats`` on either side, or
``int8``/``uint8`` (run as 4-bit parts).  Every call names its GEMM (e.g.
``"fc1.dW"``) so errors and traces can say which one failed.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .block_backend import is_block_pe
from .config import DatapathConfig
from .formats import checked_value
from .gemm import GemmOverflowError, exact_matmul, prefix_overflow
from .hw_vocab import hardware_orientation, side_formats
from .quant import WIDE_FORMATS, decompose

__all__ = ["GemmBackend", "GemmOverflowError", "Backend", "BackendWrapper", "GoldenBackend",
           "CheckedGemm", "GemmPart", "check_gemm", "datapath_formats"]


# ---------------------------------------------------------------- operands
@dataclass(frozen=True)
class GemmPart:
    """One 4-bit part GEMM of a checked GEMM, in the orientation it runs in.

    ``a`` (M x K) and ``b`` (K x N) hold codes that passed the check, in
    their format's dtype.  ``transposed``: the user's product is this one
    transposed (``(B^T A^T)^T``: FP4 on the user's B side).  ``shift``: the
    part's weight, ``2^shift``, in the 8-bit sum (SPEC 1.6).
    """

    a: np.ndarray
    b: np.ndarray
    a_format: str
    b_format: str
    shift: int
    transposed: bool
    name: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.a.shape[0], self.a.shape[1], self.b.shape[1]

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """The operands' integer values (int64)."""
        return checked_value(self.a, self.a_format), checked_value(self.b, self.b_format)

    def block(self, r0: int, r1: int, c0: int, c1: int) -> GemmPart:
        """The part restricted to output rows r0:r1 and columns c0:c1 (of its own result)."""
        return GemmPart(self.a[r0:r1], self.b[:, c0:c1], self.a_format, self.b_format,
                        self.shift, self.transposed, self.name)


@dataclass(frozen=True)
class CheckedGemm:
    """A GEMM whose operands passed ``check_gemm``: its 4-bit parts, in the
    order they are summed (and overflow is reported in)."""

    name: str
    a: np.ndarray        # the user's operands (codes, checked)
    b: np.ndarray
    a_format: str
    b_format: str
    parts: tuple[GemmPart, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.a.shape[0], self.a.shape[1], self.b.shape[1]


def datapath_formats() -> list[str]:
    """Operand formats the RTL takes: the table's hardware formats and 8-bit ones."""
    return sorted(set(side_formats("a")) | set(side_formats("b")) | set(WIDE_FORMATS))


def check_gemm(a, b, a_format: str, b_format: str, *, name: str = "gemm",
               datapath: bool = True) -> CheckedGemm:
    """The one check of a GEMM's operands, at a backend's entry.

    Formats (``datapath``: only those the RTL takes, and every 4-bit part a
    pair the datapath runs in one orientation or the other), codes (dtype
    and range, 8-bit ones too), shapes.  ``ValueError`` naming the GEMM.
    """
    if datapath:
        supported = datapath_formats()
        for side, fmt in (("A", a_format), ("B", b_format)):
            if fmt not in supported:
                raise ValueError(f"GEMM {name!r}: format {fmt!r} on {side} is not supported "
                                 f"by the RTL ({', '.join(supported)})")
    parts_a = decompose(a, a_format, "A")   # checks the codes (8-bit ones too)
    parts_b = decompose(b, b_format, "B")
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"GEMM {name!r}: shape mismatch A {a.shape} x B {b.shape}")
    parts = []
    for a4, fa, sa in parts_a:
        for b4, fb, sb in parts_b:
            try:
                transposed = hardware_orientation(fa, fb)
            except ValueError:
                if datapath:
                    raise ValueError(f"GEMM {name!r}: {fa} x {fb} is not a datapath format "
                                     "pair") from None
                transposed = False    # the model still computes it, as given
            if transposed:
                parts.append(GemmPart(b4.T, a4.T, fb, fa, sa + sb, True, name))
            else:
                parts.append(GemmPart(a4, b4, fa, fb, sa + sb, False, name))
    return CheckedGemm(name, a, b, a_format, b_format, tuple(parts))


# ---------------------------------------------------------------- interface
@runtime_checkable
class GemmBackend(Protocol):
    name: str
    config: DatapathConfig
    acc_width: int
    last_stats: dict
    total_stats: dict

    def gemm(self, a, b, a_format: str, b_format: str, *, name: str = "gemm") -> np.ndarray:
        """Exact int64 ``A @ B`` of code matrices; raises on overflow."""
        ...

    def close(self) -> None:
        ...


class Backend(abc.ABC):
    """Base of every backend (module docstring): checks, parts, orientation,
    overflow, statistics, ``close`` and the context manager, once.

    A subclass sets ``name`` and implements ``run_part``; ``STATS`` names
    the counters it reports per GEMM (``last_stats``; summed in
    ``total_stats``, which also counts ``gemms``).
    """

    name = "backend"
    STATS: tuple[str, ...] = ()
    # Whether operands are limited to what the datapath takes (the RTL) or
    # any format of the model (the golden model).
    datapath_only = True

    def __init__(self, config: DatapathConfig):
        self.config = config
        self.last_stats: dict = {}
        self.total_stats = dict.fromkeys(self.STATS, 0)
        self.total_stats["gemms"] = 0

    @property
    def acc_width(self) -> int:
        return self.config.acc_width

    @property
    def lanes(self) -> int:
        return self.config.lanes

    # ------------------------------------------------------------ GEMMs
    def check(self, a, b, a_format: str, b_format: str, name: str = "gemm") -> CheckedGemm:
        """``check_gemm`` with this backend's format rule (a tile of
        block-scaled PEs runs ``block_gemm`` only)."""
        if self.datapath_only and is_block_pe(self.config.pe):
            raise ValueError(f"GEMM {name!r}: a tile of {self.config.pe} PEs runs block-scaled "
                             f"GEMMs only, not {a_format} x {b_format}")
        return check_gemm(a, b, a_format, b_format, name=name, datapath=self.datapath_only)

    def gemm(self, a, b, a_format: str, b_format: str, *, name: str = "gemm", **_) -> np.ndarray:
        """Exact int64 ``A @ B`` (any shapes; 4-bit and 8-bit formats)."""
        return self.gemm_checked(self.check(a, b, a_format, b_format, name))

    def gemm_checked(self, op: CheckedGemm) -> np.ndarray:
        """``gemm`` of operands already checked by ``check`` (or ``check_gemm``
        with this backend's ``datapath_only``): a caller that must refuse bad
        operands before it builds the backend checks once, then runs."""
        self.reset_last_stats()
        out = self.run_checked(op)
        self.finish_stats()
        self.total_stats["gemms"] += 1
        return out

    def run_checked(self, op: CheckedGemm) -> np.ndarray:
        """The sum of the parts' results, shifted; the first part (in order)
        whose sums overflowed raises."""
        m, _, n = op.shape
        out = np.zeros((m, n), np.int64)
        for part, (c, overflow) in zip(op.parts, self.run_parts(op.parts)):
            if overflow.any():
                raise GemmOverflowError(op.name, int(overflow.sum()), self.acc_width)
            out += (c.T if part.transposed else c) << part.shift
        return out

    def run_parts(self, parts):
        """``run_part`` of each part, in order (lazily: the parts after an
        overflowing one are not run).  A backend may run them at once."""
        return (self.run_part(part) for part in parts)

    def run_user_part(self, part: GemmPart) -> tuple[np.ndarray, np.ndarray]:
        """``run_part`` in the user's orientation (undoes ``part.transposed``)."""
        c, overflow = self.run_part(part)
        return (c.T, overflow.T) if part.transposed else (c, overflow)

    @abc.abstractmethod
    def run_part(self, part: GemmPart) -> tuple[np.ndarray, np.ndarray]:
        """``(sums int64, overflow bool)``, both M x N, of one checked 4-bit part
        in its own orientation; never raises on overflow."""

    def block_gemm(self, a, b, *, name: str = "gemm") -> np.ndarray:
        """``a . b`` of two ``model.block_quant.BlockTensor`` s (MXFP4, NVFP4):
        float64, exact then rounded once (``model.block_gemm``), on a tile of
        block-scaled PEs (``config.pe``: ``model.block_backend``)."""
        from .block_backend import block_gemm_on
        if not is_block_pe(self.config.pe):
            raise ValueError(f"GEMM {name!r}: the {self.name} backend has no block-scaled "
                             f"(MXFP4/NVFP4) datapath; build it with --pe mxfp4|nvfp4 or run "
                             f"it with --backend golden")
        return block_gemm_on(self, a, b, name)

    def run_block_lines(self, la, lb, idx: tuple) -> tuple[np.ndarray, np.ndarray]:
        """``(acc int64, overflow bool)``, Mp x Np, of every block-scaled PE
        for the rebiased lines ``la``, ``lb`` (``model.block_hw.HwLines``) at
        leading index ``idx``; never raises on overflow."""
        raise NotImplementedError(f"the {self.name} backend runs no block-scaled GEMMs")

    # ------------------------------------------------------------ statistics
    def reset_last_stats(self) -> None:
        self.last_stats = dict.fromkeys(self.STATS, 0)

    def add_stats(self, counters: dict) -> None:
        """Add one run's counters to ``last_stats`` and ``total_stats``."""
        for key, value in counters.items():
            self.last_stats[key] = self.last_stats.get(key, 0) + value
            self.total_stats[key] = self.total_stats.get(key, 0) + value

    def finish_stats(self) -> None:
        """Derived figures of ``last_stats`` (none by default)."""

    # ------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release what the backend holds (nothing by default)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class BackendWrapper:
    """Base of a backend wrapper: every attribute this object does not have
    (``name``, ``config``, ``acc_width``, the statistics, ``gemm``, ``close``,
    the unit's jobs...) is the wrapped backend's (``inner``).  Using the
    wrapper as a context manager closes the wrapped backend."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, attr):
        # Only called for attributes the wrapper lacks.
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------- golden model
class GoldenBackend(Backend):
    """The NumPy golden model as a backend, with the hardware's overflow rule.

    Each 4-bit part GEMM is checked against the accumulator width exactly as
    the RTL would flag it (sticky, running sum in ascending k, judged after
    each group of ``config.lanes`` products: ``model.gemm.overflow_mask``), in the
    orientation the datapath runs it (FP4 on the B side: ``(B^T A^T)^T``).
    Pairs the datapath cannot run in either orientation (e.g. FP4 x FP4) are
    computed as given.
    """

    name = "golden"
    datapath_only = False

    def __init__(self, acc_width: int | None = None, check_overflow: bool = True, *,
                 config: DatapathConfig | None = None, lanes: int | None = None):
        super().__init__(DatapathConfig.of(config, acc_width=acc_width, lanes=lanes))
        self.check_overflow = check_overflow

    def block_gemm(self, a, b, *, name: str = "gemm") -> np.ndarray:
        """The exact model (``model.block_gemm``); with a block-scaled
        ``config.pe``, through that PE's arithmetic and refusals
        (``model.block_backend``: the same result, a zero as +0)."""
        if is_block_pe(self.config.pe):
            return super().block_gemm(a, b, name=name)
        from .block_gemm import block_gemm
        out = block_gemm(a, b, name)
        self.total_stats["block_gemms"] = self.total_stats.get("block_gemms", 0) + 1
        return out

    def run_block_lines(self, la, lb, idx):
        from .block_backend import lines_at
        from .block_hw import hw_accumulators
        return hw_accumulators(lines_at(la, idx), lines_at(lb, idx), self.config.lanes)

    def run_part(self, part):
        av, bv = part.values()
        if self.check_overflow:
            overflow = prefix_overflow(av, bv, *self.config.acc_range,
                                       lanes=self.config.lanes)
        else:
            overflow = np.zeros((av.shape[0], bv.shape[1]), bool)
        return exact_matmul(av, bv), overflow

    def run_checked(self, op):
        if len(op.parts) > 1 and not self._may_overflow(op):
            # An 8-bit operand: when no 4-bit part GEMM can overflow (bound
            # check), the recombined sum is the exact product of the 8-bit
            # values, so one matmul replaces the four part GEMMs.
            return exact_matmul(_values(op.a, op.a_format), _values(op.b, op.b_format))
        return super().run_checked(op)

    def _may_overflow(self, op) -> bool:
        if not self.check_overflow:
            return False
        lo, hi = self.config.acc_range
        # The parts are every A part by every B part: the largest product of
        # their peaks is the peak of A's parts times the peak of B's.
        peak = max(int(np.abs(av).max(initial=0)) * int(np.abs(bv).max(initial=0))
                   for av, bv in (part.values() for part in op.parts))
        return peak * op.shape[1] > min(-lo - 1, hi)


def _values(codes, fmt):
    """Integer values of checked 4-bit or 8-bit codes (8-bit codes are their own values)."""
    if fmt in WIDE_FORMATS:
        return np.asarray(codes).astype(np.int64)
    return checked_value(codes, fmt)
