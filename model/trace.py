"""GEMM traces: record every GEMM a backend runs, save it, load it back checked.

    rec = TraceRecorder(GoldenBackend())           # wraps any GemmBackend
    trainer = Trainer(model, "4bit", backend=rec)  # ... or call rec.gemm(...) directly
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

File format (``docs/traces.md``): an ``.npz`` archive with no pickled
objects (``np.load(path, allow_pickle=False)`` reads it)::

    schema_version  int64 0-d   TRACE_SCHEMA_VERSION
    count           int64 0-d   number of GEMMs n
    meta            str 0-d     JSON: see docs/traces.md
    g0000/a         M x K codes (int8 for int4/int8, uint8 for uint4/fp4/fp4r2/uint8)
    g0000/b         K x N codes
    g0000/c         M x N int64, the exact result
    ...             up to g{n-1}

``load_trace`` rejects anything corrupt or inconsistent with a one-line
``TraceError`` (a ``ValueError``).
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .formats import FORMATS, check_codes
from .gemm import gemm_exact
from .quant import WIDE_FORMATS, decompose, nibble_gemm

__all__ = ["TraceRecorder", "TraceRecord", "Trace", "TraceError", "load_trace",
           "save_trace", "TRACE_SCHEMA", "TRACE_SCHEMA_VERSION", "TRACE_FORMATS",
           "format_dtype", "expected_result", "record_training_step"]

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


class TraceRecorder:
    """A ``GemmBackend`` that forwards to ``backend`` and records every GEMM.

    ``step`` (an attribute, 0 at first) is stored with each GEMM; a training
    loop sets it.  ``info`` is free-form JSON-able metadata saved with the
    trace (task, recipe, seed, ...).  Other attributes (``last_stats``,
    ``close``) are the wrapped backend's.
    """

    def __init__(self, backend, *, info: dict | None = None):
        self.backend = backend
        self.records: list[TraceRecord] = []
        self.step = 0
        self.info = dict(info or {})

    @property
    def name(self) -> str:
        return getattr(self.backend, "name", "backend")

    @property
    def acc_width(self) -> int:
        return int(getattr(self.backend, "acc_width", 32))

    def __getattr__(self, attr):
        # Only called for attributes this class lacks: last_stats, close, ...
        if attr == "backend":
            raise AttributeError(attr)
        return getattr(self.backend, attr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()
        return False

    def gemm(self, a, b, a_format, b_format, *, name="gemm", scales=None, **kwargs):
        """Run the GEMM on the wrapped backend, record it, return its answer.

        ``scales=(scale_a, scale_b)`` (optional) is stored with the record;
        other keyword arguments go to the wrapped backend.
        """
        result = self.backend.gemm(a, b, a_format, b_format, name=name, **kwargs)
        _check_format(a_format, f"GEMM {name!r} A")
        _check_format(b_format, f"GEMM {name!r} B")
        decompose(a, a_format, "A")   # validate before the cast to the storage dtype
        decompose(b, b_format, "B")
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


def _key(i: int, part: str) -> str:
    return f"g{i:04d}/{part}"


def save_trace(path, records, *, acc_width: int = 32, backend: str = "golden",
               info: dict | None = None) -> Path:
    """Write ``records`` (``TraceRecord``s) to ``path`` (an ``.npz``); return the path.

    Written to a temporary file and renamed, so a reader never sees half a trace.
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
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# --------------------------------------------------------------------------
# Reading


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_array(npz, key: str, label: str) -> np.ndarray:
    try:
        return npz[key]
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as exc:
        if "pickle" in str(exc):
            raise TraceError(f"{label}: array {key!r} holds pickled Python objects; "
                             "traces hold plain arrays only") from None
        raise TraceError(f"{label}: array {key!r} is unreadable (truncated or corrupt "
                         f"file?): {_one_line(exc)}") from None


def _scalar_int(arr, key, label) -> int:
    if arr.shape != () or arr.dtype != np.int64:
        raise TraceError(f"{label}: {key!r} must be a 0-d int64 array, "
                         f"got shape {arr.shape} dtype {arr.dtype}")
    return int(arr)


def _check_record_meta(g, i, label) -> dict:
    where = f"{label}: GEMM {i}"
    if not isinstance(g, dict):
        raise TraceError(f"{where}: metadata entry is not an object")
    missing = [f for f in _RECORD_FIELDS if f not in g]
    if missing:
        raise TraceError(f"{where}: metadata lacks {', '.join(missing)}")
    if g["index"] != i or isinstance(g["index"], bool):
        raise TraceError(f"{where}: metadata index is {g['index']!r}, expected {i}")
    if not isinstance(g["name"], str) or not g["name"]:
        raise TraceError(f"{where}: name must be a non-empty string")
    if g["layer"] is not None and not isinstance(g["layer"], str):
        raise TraceError(f"{where} ({g['name']!r}): layer must be a string or null")
    for f in ("step", "m", "k", "n"):
        v = g[f]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise TraceError(f"{where} ({g['name']!r}): {f} must be a non-negative "
                             f"integer, got {v!r}")
    for f in ("scale_a", "scale_b"):
        v = g[f]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not math.isfinite(v)):
            raise TraceError(f"{where} ({g['name']!r}): {f} must be a finite number "
                             f"or null, got {v!r}")
    for side in ("a", "b"):
        _check_format(g[f"{side}_format"], f"{where} ({g['name']!r}) {side.upper()}")
    return g


def load_trace(path, *, verify: bool = True) -> Trace:
    """Read and validate a trace written by ``save_trace``.

    Checks: a readable zip of ``.npy`` members (no pickles), the schema name
    and version, ``count`` and the keys (nothing missing, nothing extra), the
    JSON metadata, each GEMM's dtypes, 2-D shapes (A M x K, B K x N, C M x N,
    matching the metadata), codes in range for their formats, and -- unless
    ``verify=False`` -- that every stored result equals the golden model's
    exact GEMM of the stored operands.  Any failure raises ``TraceError``.
    """
    label = str(path)
    p = Path(path)
    if not p.exists():
        raise TraceError(f"{label}: no such file")
    if not p.is_file():
        raise TraceError(f"{label}: not a file")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise TraceError(f"{label}: cannot read: {_one_line(exc)}") from None
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise TraceError(f"{label}: not a trace (.npz zip archive); truncated or wrong file?")
    try:
        npz = np.load(io.BytesIO(raw), allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise TraceError(f"{label}: unreadable archive: {_one_line(exc)}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise TraceError(f"{label}: not a trace archive")
    with npz:
        try:
            bad = zipfile.ZipFile(io.BytesIO(raw)).testzip()
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise TraceError(f"{label}: corrupt archive: {_one_line(exc)}") from None
        if bad is not None:
            raise TraceError(f"{label}: corrupt archive member {bad!r} (CRC mismatch)")
        keys = set(npz.files)
        for k in ("schema_version", "count", "meta"):
            if k not in keys:
                raise TraceError(f"{label}: missing key {k!r}; not a radix4 trace")
        version = _scalar_int(_read_array(npz, "schema_version", label), "schema_version", label)
        if version != TRACE_SCHEMA_VERSION:
            raise TraceError(f"{label}: trace schema version {version} is not supported "
                             f"(this radix4 reads version {TRACE_SCHEMA_VERSION})")
        count = _scalar_int(_read_array(npz, "count", label), "count", label)
        if count < 0:
            raise TraceError(f"{label}: negative GEMM count {count}")
        meta_arr = _read_array(npz, "meta", label)
        if meta_arr.shape != () or meta_arr.dtype.kind != "U":
            raise TraceError(f"{label}: 'meta' must be a 0-d string array, got shape "
                             f"{meta_arr.shape} dtype {meta_arr.dtype}")
        try:
            meta = json.loads(str(meta_arr))
        except json.JSONDecodeError as exc:
            raise TraceError(f"{label}: 'meta' is not valid JSON: {_one_line(exc)}") from None
        if not isinstance(meta, dict):
            raise TraceError(f"{label}: 'meta' JSON must be an object")
        if meta.get("schema") != TRACE_SCHEMA:
            raise TraceError(f"{label}: meta schema is {meta.get('schema')!r}, "
                             f"expected {TRACE_SCHEMA!r}")
        if meta.get("schema_version") != version:
            raise TraceError(f"{label}: meta schema_version {meta.get('schema_version')!r} "
                             f"disagrees with the archive's {version}")
        if meta.get("count") != count:
            raise TraceError(f"{label}: meta count {meta.get('count')!r} disagrees with "
                             f"the archive's {count}")
        acc = meta.get("acc_width", 32)
        if isinstance(acc, bool) or not isinstance(acc, int) or not 18 <= acc <= 64:
            raise TraceError(f"{label}: acc_width must be an integer in [18, 64], got {acc!r}")
        gemms = meta.get("gemms")
        if not isinstance(gemms, list) or len(gemms) != count:
            raise TraceError(f"{label}: meta lists {len(gemms) if isinstance(gemms, list) else 'no'} "
                             f"GEMMs but count is {count}")
        expected_keys = {"schema_version", "count", "meta"}
        expected_keys |= {_key(i, part) for i in range(count) for part in "abc"}
        missing = sorted(expected_keys - keys)
        if missing:
            raise TraceError(f"{label}: missing key {missing[0]!r}"
                             + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
        extra = sorted(keys - expected_keys)
        if extra:
            raise TraceError(f"{label}: unexpected key {extra[0]!r}"
                             + (f" and {len(extra) - 1} more" if len(extra) > 1 else ""))

        records = []
        for i, g in enumerate(gemms):
            g = _check_record_meta(g, i, label)
            records.append(_load_record(npz, i, g, label, verify))
    return Trace(records, meta)


def _load_record(npz, i, g, label, verify) -> TraceRecord:
    name = g["name"]
    where = f"{label}: GEMM {i} ({name!r})"
    a = _read_array(npz, _key(i, "a"), label)
    b = _read_array(npz, _key(i, "b"), label)
    c = _read_array(npz, _key(i, "c"), label)
    fa, fb = g["a_format"], g["b_format"]
    for side, arr, fmt in (("A", a, fa), ("B", b, fb)):
        if arr.dtype != format_dtype(fmt):
            raise TraceError(f"{where}: {side} has dtype {arr.dtype}, expected "
                             f"{format_dtype(fmt)} for {fmt}")
    if c.dtype != np.int64:
        raise TraceError(f"{where}: result has dtype {c.dtype}, expected int64")
    for side, arr in (("A", a), ("B", b), ("result", c)):
        if arr.ndim != 2:
            raise TraceError(f"{where}: {side} must be 2-D, got shape {arr.shape}")
    m, k, n = g["m"], g["k"], g["n"]
    if a.shape != (m, k) or b.shape != (k, n) or c.shape != (m, n):
        raise TraceError(f"{where}: shape mismatch: A {a.shape}, B {b.shape}, result "
                         f"{c.shape}; metadata says M={m} K={k} N={n}")
    for side, arr, fmt in (("A", a, fa), ("B", b, fb)):
        try:
            if fmt in WIDE_FORMATS:
                decompose(arr, fmt, side)
            else:
                check_codes(arr, fmt, side)
        except ValueError as exc:
            raise TraceError(f"{where}: {_one_line(exc)}") from None
    if verify:
        golden = expected_result(a, b, fa, fb)
        if not np.array_equal(golden, c):
            diff = int(np.count_nonzero(golden != c))
            raise TraceError(f"{where}: mismatched trace: stored result differs from the "
                             f"golden model at {diff} of {c.size} outputs")
    return TraceRecord(index=i, name=name, layer=g["layer"], step=g["step"],
                       a_format=fa, b_format=fb, a=a, b=b, expected=c,
                       scale_a=g["scale_a"], scale_b=g["scale_b"])


# --------------------------------------------------------------------------
# Recording a training step


def record_training_step(out_path, task: str = "digits-mlp", recipe: str = "4bit",
                         seed: int = 0, *, steps: int = 1, backend=None) -> Trace:
    """Run ``steps`` training steps of ``task`` under ``recipe``; save every GEMM.

    The GEMMs run on ``backend`` (default: the golden model) wrapped in a
    ``TraceRecorder``; the trace's expected results come from the golden
    model either way.  Returns the saved trace as ``load_trace`` reads it.
    """
    from .backend import GoldenBackend
    from .tasks import make_task
    from .train import Trainer

    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    t = make_task(task, seed)
    rec = TraceRecorder(backend if backend is not None else GoldenBackend(),
                        info={"task": task, "recipe": recipe, "seed": seed, "steps": steps})
    trainer = Trainer(t.model, recipe, backend=rec, seed=seed, lr=t.lr, metric=t.metric)
    if not trainer.recipe.quantized:
        raise ValueError(f"recipe {recipe!r} runs no GEMMs on a backend; nothing to record")
    order = np.random.default_rng([seed, 1]).permutation(len(t.X_train))
    for s in range(steps):
        idx = order[s * t.batch_size:(s + 1) * t.batch_size]
        rec.step = s
        trainer.step(t.X_train[idx], t.y_train[idx])
    rec.save(out_path)
    return load_trace(out_path)
