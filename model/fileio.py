"""Atomic file writes and output-path checks: every file the project writes goes through here.

    atomic_write_text("out.v", text)            # or atomic_write_bytes
    atomic_save_npy("C.npy", c)                 # exactly "C.npy" (np.save(path) would append .npy)
    atomic_savez("trace.npz", compressed=True, **arrays)
    with atomic_open("report.bin") as f: ...    # any writer that takes a binary file object
    check_output_path("C.npy", inputs={"--a": "A.npy"})   # before any work is done

A write goes to a temporary file in the target's own directory, is flushed
and fsynced, then renamed over the target (``os.replace``).  A reader, a
crash or a full disk therefore sees the old file or the whole new one, never
half of it; on any error the temporary file is removed, the ``OSError``
propagates and an existing target is left byte-identical.  The new file gets
the existing target's permission bits (or the umask's default), and a
symbolic link is written through (its target replaced, the link kept).

``check_output_path`` refuses, with ``OutputPathError`` (a ``ValueError``),
what a write could only fail at (or do harm with) later: a directory, a
missing or non-directory parent, a non-regular file such as ``/dev/full``
(renaming over a device node would replace it), an unwritable directory, and
a path that is the same file as one of the inputs.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_save_npy",
           "atomic_savez", "check_output_path", "OutputPathError"]


class OutputPathError(ValueError):
    """An output path that cannot (or must not) be written."""


def _target(path) -> Path:
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _new_mode(target: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", **kwargs):
    """A file object whose contents replace ``path`` only if the block completes."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes; mode {mode!r} has no 'w'")
    target = _target(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def atomic_save_npy(path, array) -> Path:
    """``np.save`` to exactly ``path`` (no ``.npy`` appended), atomically, no pickles."""
    with atomic_open(path, "wb") as f:
        np.save(f, np.asanyarray(array), allow_pickle=False)
    return Path(path)


def atomic_savez(path, *, compressed: bool = True, **arrays) -> Path:
    """``np.savez[_compressed]`` to exactly ``path`` (no ``.npz`` appended), atomically."""
    save = np.savez_compressed if compressed else np.savez
    with atomic_open(path, "wb") as f:
        save(f, **arrays)
    return Path(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:   # either one missing: compare the resolved names
        return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(path, inputs: dict | None = None) -> Path:
    """``Path(path)`` if a file can be written there; else ``OutputPathError`` saying why.

    ``inputs`` maps a label (e.g. ``"--a"``) to a path the command reads (or
    writes elsewhere): the output may not be the same file as any of them.
    """
    if path is None or str(path) == "":
        raise OutputPathError("empty path")
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"{p}: is a directory")
    if p.exists() and not p.is_file():
        raise OutputPathError(f"{p}: not a regular file")
    parent = _target(p).parent
    if not parent.exists():
        raise OutputPathError(f"{p}: directory {parent} does not exist")
    if not parent.is_dir():
        raise OutputPathError(f"{p}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{p}: directory {parent} is not writable")
    for label, other in (inputs or {}).items():
        if other is not None and str(other) != "" and _same_file(p, Path(other)):
            raise OutputPathError(f"{p}: same file as {label} {other}; refusing to overwrite it")
    return p
