"""GEMM trace schema: the records, the file layout and the formats a trace holds.

File format (``docs/traces.md``): an ``.npz`` archive with no pickled
objects (``np.load(path, allow_pickle=False)`` reads it)::

    schema_version  int64 0-d   TRACE_SCHEMA_VERSION
    count           int64 0-d   number of GEMMs n
    meta            str 0-d     JSON: see docs/traces.md
    g0000/a         M x K codes (int8 for int4/int8, uint8 for uint4/fp4/fp4r2/uint8)
    g0000/b         K x N codes
    g0000/c         M x N int64, the exact result
    ...             up to g{n-1}

The writer (``model.trace.save_trace``) and the reader
(``model.trace_reader.load_trace``) share what is defined here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .formats import FORMATS
from .gemm import gemm_exact
from .quant import WIDE_FORMATS, nibble_gemm

__all__ = ["TRACE_SCHEMA", "TRACE_SCHEMA_VERSION", "TRACE_FORMATS", "TraceError",
           "format_dtype", "expected_result", "TraceRecord", "Trace"]

TRACE_SCHEMA = "radix4-gemm-trace"
TRACE_SCHEMA_VERSION = 1
# Every operand format a trace may hold: the 4-bit formats and the 8-bit ones
# the backends run as 4-bit parts.
TRACE_FORMATS = tuple(FORMATS) + tuple(WIDE_FORMATS)
_RECORD_FIELDS = ("index", "name", "layer", "step", "a_format", "b_format",
                  "m", "k", "n", "scale_a", "scale_b")


class TraceError(ValueError):
    """A trace file is unreadable, corrupt or inconsistent (one-line message)."""


def format_dtype(fmt: str) -> np.dtype:
    """The numpy dtype a trace stores codes of ``fmt`` in."""
    if fmt in WIDE_FORMATS:
        return np.dtype(np.int8 if WIDE_FORMATS[fmt][0] else np.uint8)
    return np.dtype(FORMATS[fmt].dtype)


def _check_format(fmt, where: str) -> str:
    if fmt not in TRACE_FORMATS:
        raise TraceError(f"{where}: unknown format {fmt!r}; expected one of "
                         f"{', '.join(TRACE_FORMATS)}")
    return fmt


def expected_result(a, b, a_format: str, b_format: str) -> np.ndarray:
    """The golden model's exact int64 result (8-bit operands via nibble parts)."""
    if a_format in WIDE_FORMATS or b_format in WIDE_FORMATS:
        return nibble_gemm(a, b, a_format, b_format)
    return gemm_exact(a, b, a_format, b_format)


def _layer_of(name: str) -> str | None:
    return name.split(".", 1)[0] if "." in name and name.split(".", 1)[0] else None


@dataclass
class TraceRecord:
    """One recorded GEMM."""

    index: int
    name: str
    layer: str | None
    step: int
    a_format: str
    b_format: str
    a: np.ndarray
    b: np.ndarray
    expected: np.ndarray
    scale_a: float | None = None
    scale_b: float | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(M, K, N)."""
        return self.a.shape[0], self.a.shape[1], self.b.shape[1]

    @property
    def macs(self) -> int:
        m, k, n = self.shape
        return m * k * n

    def mismatch(self, got, first: int = 3) -> str | None:
        """``None`` if ``got`` is the recorded result, else where it is not:
        ``"5 of 24 outputs differ, first at (0, 3), (1, 0), (2, 2)"`` (row-major)."""
        got = np.asarray(got)
        if got.shape != self.expected.shape:
            return f"result shape {got.shape}, expected {self.expected.shape}"
        wrong = np.argwhere(got != self.expected)          # row-major order
        if len(wrong) == 0:
            return None
        where = ", ".join(f"({i}, {j})" for i, j in wrong[:first].tolist())
        more = ", ..." if len(wrong) > first else ""
        return (f"{len(wrong)} of {self.expected.size} outputs differ, "
                f"first at {where}{more}")

    def meta(self) -> dict:
        m, k, n = self.shape
        return {"index": self.index, "name": self.name, "layer": self.layer,
                "step": self.step, "a_format": self.a_format, "b_format": self.b_format,
                "m": m, "k": k, "n": n, "scale_a": self.scale_a, "scale_b": self.scale_b}


@dataclass
class Trace:
    """A loaded trace: its records in call order and the file's metadata."""

    records: list
    meta: dict = field(default_factory=dict)

    def __iter__(self):
        return iter(self.records)

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return self.records[i]

    @property
    def acc_width(self) -> int:
        return int(self.meta.get("acc_width", 32))


def _key(i: int, part: str) -> str:
    return f"g{i:04d}/{part}"
