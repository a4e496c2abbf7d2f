"""GEMM traces: record every GEMM a backend runs, save it, load it back checked.

    rec = TraceRecorder(GoldenBackend())           # wraps any GemmBackend
    trainer = Trainer(model, "4bit-all", backend=rec)  # ... or call rec.gemm(...) directly
    rec.gemm(a, b, "uint4", "int4", name="fc1.fwd", scales=(0.1, 0.02))
    rec.step = 1                                   # later calls belong to step 1
    rec.save("step.npz")
    trace = load_trace("step.npz")                 # Trace(records, meta), validated
    for r in trace: r.name, r.a, r.b, r.expected, ...

The expected result of every recorded GEMM is computed by the golden model
(``gemm_exact``; ``nibble_gemm`` for 8-bit operands), never taken from the
wrapped backend's answer, so a trace recorded on a faulty backend is still
the truth.  A call the wrapped backend refuses (overflow, bad operands)
raises as usual and is not recorded.

Layout of the saved file: ``model.trace_schema``; reading it back:
``model.trace_reader.load_trace`` (re-exported here).  Recording whole
training steps: ``model.record.record_training_step``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .backend import BackendWrapper
from .fileio import atomic_savez
from .trace_reader import load_trace
from .trace_schema import (TRACE_FORMATS, TRACE_SCHEMA, TRACE_SCHEMA_VERSION, Trace,
                           TraceError, TraceRecord, _check_format, _key, _layer_of,
                           expected_result, format_dtype)

__all__ = ["TraceRecorder", "TraceRecord", "Trace", "TraceError", "load_trace",
           "save_trace", "TRACE_SCHEMA", "TRACE_SCHEMA_VERSION", "TRACE_FORMATS",
           "format_dtype", "expected_result"]


class TraceRecorder(BackendWrapper):
    """A backend wrapper (``model.backend.BackendWrapper``) that records every GEMM.

    ``step`` (an attribute, 0 at first) is stored with each GEMM; a training
    loop sets it.  ``info`` is free-form JSON-able metadata saved with the
    trace (task, recipe, seed, ...).  Everything else (``name``,
    ``acc_width``, ``last_stats``, ``close``...) is the wrapped backend's.
    """

    def __init__(self, backend, *, info: dict | None = None):
        super().__init__(backend)
        self.records: list[TraceRecord] = []
        self.step = 0
        self.info = dict(info or {})

    @property
    def backend(self):
        """The wrapped backend."""
        return self.inner

    def gemm(self, a, b, a_format, b_format, *, name="gemm", scales=None, **kwargs):
        """Run the GEMM on the wrapped backend, record it, return its answer.

        ``scales=(scale_a, scale_b)`` (optional) is stored with the record;
        other keyword arguments go to the wrapped backend.
        """
        result = self.inner.gemm(a, b, a_format, b_format, name=name, **kwargs)
        # The wrapped backend checked the operands (it ran them); what is left
        # is whether the trace format can store them.
        _check_format(a_format, f"GEMM {name!r} A")
        _check_format(b_format, f"GEMM {name!r} B")
        a_codes = np.array(a, dtype=format_dtype(a_format), copy=True)
        b_codes = np.array(b, dtype=format_dtype(b_format), copy=True)
        if scales is None:
            sa = sb = None
        else:
            sa, sb = (None if s is None else float(s) for s in scales)
        self.records.append(TraceRecord(
            index=len(self.records), name=str(name), layer=_layer_of(str(name)),
            step=int(self.step), a_format=a_format, b_format=b_format,
            a=a_codes, b=b_codes, expected=expected_result(a_codes, b_codes, a_format, b_format),
            scale_a=sa, scale_b=sb))
        return result

    def save(self, path) -> Path:
        return save_trace(path, self.records, acc_width=self.acc_width,
                          backend=self.name, info=self.info)


# --------------------------------------------------------------------------
# Writing


def save_trace(path, records, *, acc_width: int = 32, backend: str = "golden",
               info: dict | None = None) -> Path:
    """Write ``records`` (``TraceRecord``s) to ``path`` (an ``.npz``); return the path.

    Written to exactly ``path``, atomically (``model.fileio``): a reader never
    sees half a trace, and a failed write leaves an existing file intact.
    """
    path = Path(path)
    records = list(records)
    meta = {
        "schema": TRACE_SCHEMA, "schema_version": TRACE_SCHEMA_VERSION,
        "count": len(records), "acc_width": int(acc_width), "recorded_on": backend,
        "info": dict(info or {}),
        "gemms": [r.meta() for r in records],
    }
    arrays = {"schema_version": np.array(TRACE_SCHEMA_VERSION, dtype=np.int64),
              "count": np.array(len(records), dtype=np.int64),
              "meta": np.array(json.dumps(meta, sort_keys=True))}
    for i, r in enumerate(records):
        if r.index != i:
            raise ValueError(f"record {i} has index {r.index}; records must be in call order")
        arrays[_key(i, "a")] = np.ascontiguousarray(r.a, dtype=format_dtype(r.a_format))
        arrays[_key(i, "b")] = np.ascontiguousarray(r.b, dtype=format_dtype(r.b_format))
        arrays[_key(i, "c")] = np.ascontiguousarray(r.expected, dtype=np.int64)
    atomic_savez(path, compressed=True, **arrays)
    return path
