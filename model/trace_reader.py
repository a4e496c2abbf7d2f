"""Reading a GEMM trace back: every field checked, one-line ``TraceError``s."""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .config import DEFAULT_ACC_WIDTH, ConfigError, check_acc_width
from .formats import check_codes
from .quant import WIDE_FORMATS, decompose
from .trace_schema import (_RECORD_FIELDS, TRACE_SCHEMA, TRACE_SCHEMA_VERSION, Trace,
                           TraceError, TraceRecord, _check_format, _key, expected_result,
                           format_dtype)

__all__ = ["load_trace"]


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
        try:
            check_acc_width(meta.get("acc_width", DEFAULT_ACC_WIDTH))
        except ConfigError as exc:
            raise TraceError(f"{label}: {exc}") from None
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
