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
so a bad parameter leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["REPO_ROOT", "cache_root", "sha256_text", "key_digest", "locked", "write_atomic",
           "cached_build", "MARKER"]

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER = ".built"


def cache_root() -> Path:
    """Root of the simulator build cache (``RADIX4_SIM_BUILD``, default ``build/sim``)."""
    return Path(os.environ.get("RADIX4_SIM_BUILD", REPO_ROOT / "build" / "sim"))


def sha256_text(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def key_digest(key: dict) -> str:
    """16 hex digits naming the build described by ``key`` (JSON-able)."""
    return sha256_text(json.dumps(key, sort_keys=True))[:16]


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory and a
    rename, so a reader sees the old file or the whole new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    with locked(build_dir.with_name(build_dir.name + ".lock")):
        if complete():                  # another process built it while we waited
            return build_dir, False
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        populate(build_dir)
        write_atomic(marker, json.dumps(key, indent=1, sort_keys=True))
    return build_dir, True
