"""Verilator's runtime objects, compiled once: the makefiles' ``OBJCACHE`` hook.

Every Verilator model links the same runtime (``verilated.cpp``,
``verilated_vpi.cpp``, ``verilated_dpi.cpp``, ``verilated_threads.cpp``, and
``verilated_timing.cpp`` with ``--timing``).  Compiling it is most of a small
design's build: about 220 of ~250 CPU-seconds for the PE on this 2-core
machine (measured under load; the design's own ``Vtop__ALL.cpp`` took 30),
paid again by every bench configuration and every mutant.  Seeding the
objects into a build directory does not help: ``verilated.mk`` makes them
depend on the freshly generated ``Vtop.mk``.

So ``verif.toolchain.tool_env`` sets Verilator's ``OBJCACHE`` make variable
(a prefix to every compile command, meant for ccache) to this script, run by
path with no imports of ours.  For a compile of a runtime source (a
``verilated*.cpp`` outside the build directory) it keys the object on the
exact command line and the source's size and mtime, under a store whose name
already hashes the Verilator and compiler versions (``RADIX4_OBJCACHE``);
a hit copies the object and its ``.d`` file in, a miss compiles and then
stores them (renamed into place, so a concurrent reader sees a whole file or
none).  Every other compile (the design, cocotb's harness) just runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STORE_ENV = "RADIX4_OBJCACHE"


def _runtime_output(cmd: list[str]) -> tuple[Path, Path] | None:
    """``(object, source)`` if ``cmd`` compiles a Verilator runtime source."""
    if "-c" not in cmd or "-o" not in cmd or cmd.index("-o") + 1 >= len(cmd):
        return None
    source = Path(cmd[-1]).resolve()
    if not (source.name.startswith("verilated") and source.suffix == ".cpp"):
        return None
    if Path.cwd() in source.parents or not source.is_file():
        return None
    return Path(cmd[cmd.index("-o") + 1]), source


def _place(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` through a temporary sibling and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=dst.name + ".", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)       # a fresh mtime: newer than Vtop.mk
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp's 0600 is not what a compiler leaves
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(cmd: list[str]) -> int:
    store = os.environ.get(STORE_ENV)
    target = _runtime_output(cmd) if store and cmd else None
    if target is None:
        return subprocess.call(cmd)
    obj, source = target
    stat = source.stat()
    key = hashlib.sha256(repr((cmd, str(source), stat.st_size, stat.st_mtime_ns)).encode())
    entry = Path(store) / key.hexdigest()[:24]
    dep = obj.with_suffix(".d")
    if (entry / "object").is_file():
        _place(entry / "object", obj)
        if (entry / "deps").is_file():
            _place(entry / "deps", dep)
        return 0
    status = subprocess.call(cmd)
    if status == 0 and obj.is_file():
        try:
            entry.mkdir(parents=True, exist_ok=True)
            if dep.is_file():
                _place(dep, entry / "deps")
            _place(obj, entry / "object")      # last: its presence marks a hit
        except OSError:
            pass                                # a cache that cannot be written is no cache
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
