"""One build cache for every simulator build (cocotb models, the host
testbench, the C++ reference).

A build lives in ``<root>/<label>-<digest>/`` where ``digest`` hashes a key
dict that the caller fills with *everything* that determines the build: the
generated Verilog text (never a list of source files, which goes stale when a
module is added), parameters, harness sources, flags and tool versions.  A
``.built`` marker holding the key is written last, atomically, so an
interrupted build is redone; an ``fcntl`` lock next to the directory
serialises concurrent builders (pytest-xdist workers, parallel drivers).

Callers compute the key -- and so generate and validate the design -- before
calling ``cached_build``; no directory or lock exists until the key does,
so a bad parameter leaves nothing behind.  A build that fails leaves only its
``*.log`` files (which the error names; no directory at all if it wrote
none) and no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from model.fileio import atomic_write_text
from model.paths import SOURCE_ROOT, build_dir

__all__ = ["REPO_ROOT", "cache_root", "sha256_text", "key_digest", "locked", "write_atomic",
           "cached_build", "MARKER"]

# The directory holding the packages: the checkout (tests run there), or
# site-packages when installed -- never a place to write (``model.paths``).
REPO_ROOT = SOURCE_ROOT
MARKER = ".built"


def cache_root() -> Path:
    """Root of the simulator build cache: ``RADIX4_SIM_BUILD``, else
    ``model.paths.build_dir("sim")`` (``build/sim`` of a checkout, the user
    cache of an installed wheel)."""
    return Path(os.environ.get("RADIX4_SIM_BUILD") or build_dir("sim"))


def sha256_text(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def key_digest(key: dict) -> str:
    """16 hex digits naming the build described by ``key`` (JSON-able)."""
    return sha256_text(json.dumps(key, sort_keys=True))[:16]


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if needed).

    The holder may delete the lock file (``cached_build`` does after a failed
    build); a waiter that then gets the lock of the deleted file sees that
    ``path`` no longer names it and locks the current file instead.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        f = open(path, "a+")
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            st = os.stat(path)
            held = os.fstat(f.fileno())
            if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
                break
        except FileNotFoundError:
            pass
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
    try:
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory and a
    rename, so a reader sees the old file or the whole new one
    (``model.fileio.atomic_write_text``)."""
    atomic_write_text(path, text)


def cached_build(root: Path, label: str, key: dict, populate: Callable[[Path], None],
                 *, outputs: tuple[str, ...] = ()) -> tuple[Path, bool]:
    """``(build_dir, built_now)`` for ``key``, running ``populate(build_dir)`` if needed.

    ``populate`` receives an empty directory and must leave a complete build
    in it or raise; the marker is written only after it returns.  ``outputs``
    are paths (relative to the build) that must exist for a hit.
    """
    build_dir = Path(root) / f"{label}-{key_digest(key)}"
    marker = build_dir / MARKER

    def complete() -> bool:
        return marker.is_file() and all((build_dir / o).exists() for o in outputs)

    if complete():
        return build_dir, False
    lock = build_dir.with_name(build_dir.name + ".lock")
    with locked(lock):
        if complete():                  # another process built it while we waited
            return build_dir, False
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        try:
            populate(build_dir)
            write_atomic(marker, json.dumps(key, indent=1, sort_keys=True))
        except BaseException:
            _discard_failed(build_dir, lock)
            raise
    return build_dir, True


def _discard_failed(build_dir: Path, lock: Path) -> None:
    """After a failed build (lock held): keep only its logs, which the error
    names; remove the directory if nothing else was written, and the lock."""
    for entry in list(build_dir.iterdir()) if build_dir.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.suffix != ".log":
            entry.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        build_dir.rmdir()               # only if empty
    lock.unlink(missing_ok=True)
