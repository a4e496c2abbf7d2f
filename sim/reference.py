"""Build and run the free-running C++ harness of the Verilated array.

This is the throughput reference of ``scripts/bench_driver.py``: the same
``radix4_array`` Verilog the driver simulates, clocked by a bare C++ loop
(``sim/cxx/array_harness.cpp``) with no Python, no cocotb and no checking.
Whatever the driver achieves is measured against it in the same run.

    from sim.reference import run_reference
    ref = run_reference(rows=8, cols=8, k=512, cycles=2_000_000)
    ref["macs_per_s"], ref["cycles_per_s"], ref["beats"]

Build cache: ``build/cxx/<label>-<hash>/`` of a checkout, ``<user cache>/cxx``
when installed (``model.paths``; ``RADIX4_CXX_BUILD`` moves the root), the
hash covering the Verilog text, the harness source, the Verilator and C++
compiler versions and the flags; ``verif.toolchain.cached_build``
provides the lock and the completion marker.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
from importlib.resources import as_file, files
from pathlib import Path

from model import paths
from verif import toolchain as tc

from .cxx_layout import HEADER_NAME, array_header

__all__ = ["HARNESS_SOURCE", "array_params", "build_reference", "run_reference", "ReferenceError"]

# Package data (pyproject.toml); a Traversable, made a real path (``as_file``) for the compiler.
HARNESS_SOURCE = files("sim") / "cxx" / "array_harness.cpp"
VERILATOR_FLAGS = ("--cc", "--exe", "--build", "-O3", "--x-assign", "fast",
                   "--x-initial", "fast", "--build-jobs", "2", "-Wno-fatal", "-Wno-lint",
                   "-Wno-style")
# Make variables every Verilator build needs (helper-script interpreter,
# precompiled-header flag) come from ``verif.toolchain.tool_env``.
EXE = "obj/array_harness"
CXX_OPT = "-O2"
_LINE = re.compile(r"cycles=(\d+) beats=(\d+) rows_out=(\d+) seconds=([0-9.eE+-]+) "
                   r"checksum=([0-9a-f]+)")


class ReferenceError(RuntimeError):
    """The C++ reference could not be built or did not run."""


def _cache_root() -> Path:
    return Path(os.environ.get("RADIX4_CXX_BUILD") or paths.build_dir("cxx"))


def array_params(rows: int, cols: int, acc_width: int, lanes: int, pe_model: str = "rtl") -> dict:
    """The generator parameters of the harness's array (``pe_model`` only when
    not ``rtl``, so the synthesizable array's text and cache key stay as they were)."""
    params = {"rows": rows, "cols": cols, "acc_width": acc_width, "lanes": lanes}
    if pe_model != "rtl":
        params["pe_model"] = pe_model
    return params


def build_reference(rows: int = 8, cols: int = 8, acc_width: int = 32, lanes: int = 1,
                    pe_model: str = "rtl") -> Path:
    """Path of the harness executable for this array size and PE lanes (built if
    needed); ``pe_model="proved"``: the array of the k-lane PE's proved model
    (``model.config.PE_MODELS``), part of the Verilog and so of the cache key."""
    sim = tc.find_simulator("verilator")
    verilog = tc.generate_verilog("array", array_params(rows, cols, acc_width, lanes, pe_model))
    source = HARNESS_SOURCE.read_text()
    header = array_header(rows, cols, acc_width, lanes)   # field offsets from the layouts
    defines = f"-DROWS={rows} -DCOLS={cols} -DACC_WIDTH={acc_width}"
    key = {**tc.tool_key(sim, cocotb=False), "verilog": tc.sha256_text(verilog),
           "harness": tc.sha256_text(source), "header": tc.sha256_text(header),
           "flags": list(VERILATOR_FLAGS),
           "cflags": f"{CXX_OPT} {defines}"}

    def populate(build_dir: Path) -> None:
        vfile = build_dir / "radix4_array.v"
        tc.write_atomic(vfile, verilog)
        tc.write_atomic(build_dir / HEADER_NAME, header)
        log = build_dir / "build.log"
        with as_file(HARNESS_SOURCE) as harness, open(log, "w") as f:
            cmd = [str(sim.executable), *VERILATOR_FLAGS,
                   "-CFLAGS", f"{CXX_OPT} {defines} -I{build_dir}",
                   "--top-module", "radix4_array", "-Mdir", str(build_dir / "obj"),
                   "-o", "array_harness", str(vfile), str(harness)]
            proc = subprocess.run(cmd, cwd=build_dir, env=tc.tool_env(sim), stdout=f,
                                  stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not (build_dir / EXE).is_file():
            raise ReferenceError(f"Verilator build of the C++ reference failed "
                                 f"(exit {proc.returncode}); log {log}:\n"
                                 f"{log.read_text()[-3000:]}")

    label = (f"array-{rows}x{cols}-w{acc_width}" + (f"-k{lanes}" if lanes != 1 else "")
             + ("" if pe_model == "rtl" else f"-{pe_model}"))
    build_dir, _ = tc.cached_build(_cache_root(), label, key,
                                   populate, outputs=(EXE,))
    return build_dir / EXE


def run_reference(rows: int = 8, cols: int = 8, k: int = 512, cycles: int = 1_000_000,
                  *, acc_width: int = 32, seed: int = 1, lanes: int = 1,
                  pe_model: str = "rtl") -> dict:
    """Free-run the array for ``cycles`` clock cycles; return its speed.

    ``dict(cycles_per_s, macs_per_s, cycles_per_cpu_s, macs_per_cpu_s, beats,
    cycles, seconds, cpu_seconds, rows_out)`` (rates per wall second of the
    free-running loop, and per CPU second of the whole harness process) where
    MACs are accepted beats x rows x cols x lanes (every accepted beat is
    ``lanes`` k steps of a rows x cols output tile); ``k`` is beats per GEMM.
    """
    if k < 1 or cycles < 1:
        raise ValueError(f"k and cycles must be positive, got k={k}, cycles={cycles}")
    exe = build_reference(rows, cols, acc_width, lanes, pe_model)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([str(exe), str(k), str(cycles), str(seed)],
                          capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = _LINE.search(proc.stdout)
    if proc.returncode != 0 or not m:
        raise ReferenceError(f"{exe} failed (exit {proc.returncode}): "
                             f"{(proc.stdout + proc.stderr).strip()[-500:]}")
    ran, beats, rows_out = int(m.group(1)), int(m.group(2)), int(m.group(3))
    seconds = float(m.group(4))
    seconds = max(seconds, 1e-9)
    # Per CPU second too: on a loaded machine the wall-clock rate is mostly
    # the share of a core the harness got (the CPU time includes its set-up).
    cpu = max(cpu, 1e-9)
    return {"cycles_per_s": ran / seconds, "macs_per_s": beats * rows * cols * lanes / seconds,
            "cycles_per_cpu_s": ran / cpu, "macs_per_cpu_s": beats * rows * cols * lanes / cpu,
            "beats": beats, "cycles": ran, "seconds": seconds, "cpu_seconds": cpu,
            "rows_out": rows_out}


if __name__ == "__main__":
    import sys
    args = [int(x) for x in sys.argv[1:]]
    print(run_reference(*args))
