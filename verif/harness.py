"""What each verif/test_*.py function does: build (cached), run a bench, check coverage.

``run_bench`` raises (fails the pytest test) when any cocotb test fails, when
the simulator is missing or dies, or when a declared coverage bin was never
hit; it prints the coverage report either way.
"""

from __future__ import annotations

import json
import os

from verif import toolchain as tools
from verif.kit.coverage import Coverage


def run_bench(module: str, top: str, params: dict, sim: str, *, verilog: str | None = None,
              check: bool = True, extra_env: dict | None = None) -> tools.RunResult:
    b = tools.build(top, params, sim, verilog=verilog)
    seed = os.environ.get("RADIX4_SEED") or "1"
    env = {"RADIX4_SEED": seed, "RADIX4_PARAMS": json.dumps(params), **(extra_env or {})}
    name = f"{module.rsplit('.', 1)[-1]}-{top}-" + "-".join(f"{k}{v}" for k, v in params.items())
    cov_dir = b.build_dir / "runs"
    cov_dir.mkdir(exist_ok=True)
    cov_file = cov_dir / f"{name}-{os.getpid()}.coverage.json"
    cov_file.unlink(missing_ok=True)
    env["RADIX4_COVERAGE_FILE"] = str(cov_file)
    result = tools.test(module, b, extra_env=env, name=name, check=check)
    if not check:
        return result
    assert cov_file.is_file(), f"{module} wrote no coverage file"
    cov = Coverage.load(cov_file)
    print(cov.report())
    missing = cov.missing()
    assert not missing, (f"{module} on {sim} {params}: {len(missing)} coverage bins never hit "
                         f"(RADIX4_SEED={seed}): {', '.join(missing[:30])}")
    return result
