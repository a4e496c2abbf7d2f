"""What each verif/test_*.py function does: build (cached), run a bench, check coverage.

``run_bench`` raises (fails the pytest test) when any cocotb test fails, when
the simulator is missing or dies, or when a declared coverage bin was never
hit; it prints the coverage report either way.

Under ``radix4 regress`` (``verif.kit.batch`` loaded, ``RADIX4_SEEDS`` set)
the first call for a bench runs one simulation for the whole chunk of seeds
and every seed's call checks its own part of it.  In the regress profile
(``RADIX4_REGRESS=1``: fewer transactions per seed) a single seed need not
close every coverage bin: the report is printed but coverage closure is
judged by ``radix4 regress`` over the merged coverage of all seeds.
"""

from __future__ import annotations

import json
import os

from verif import toolchain as tools
from verif.kit import batch
from verif.kit.coverage import Coverage
from verif.kit.seed import regress_profile


def run_bench(module: str, top: str, params: dict, sim: str, *, verilog: str | None = None,
              check: bool = True, extra_env: dict | None = None,
              testcase: str | None = None) -> tools.RunResult:
    """``testcase``: run only that cocotb test of the bench (default: all of them)."""
    seed = os.environ.get("RADIX4_SEED") or "1"
    env = {"RADIX4_SEED": seed, "RADIX4_PARAMS": json.dumps(params), **(extra_env or {})}
    name = f"{module.rsplit('.', 1)[-1]}-{top}-" + "-".join(f"{k}{v}" for k, v in params.items())
    if batch.active():
        key = (module, top, json.dumps(params, sort_keys=True), sim, testcase,
               None if verilog is None else tools.sha256_text(verilog),
               json.dumps({k: v for k, v in env.items() if k != "RADIX4_SEED"}, sort_keys=True))
        b = tools.build(top, params, sim, verilog=verilog) if key not in batch._cache else None
        run = batch.run_seed(module, b, env, name, key, testcase=testcase)
        b = b or run.build
        print(run.log, end="")
        if not check:
            return run.result
        if run.first:           # the chunk's merged coverage, for radix4 regress to merge
            for cov in run.merged:
                batch.record_coverage(cov, batch.chunk_seeds())
        batch.raise_failures(module, b, int(seed), run)
        covs = run.coverage
        assert covs, f"{module} wrote no coverage for seed {seed}"
        result = run.result
    else:
        b = tools.build(top, params, sim, verilog=verilog)
        cov_dir = b.build_dir / "runs"
        cov_dir.mkdir(exist_ok=True)
        cov_file = cov_dir / f"{name}-{os.getpid()}.coverage.json"
        cov_file.unlink(missing_ok=True)
        env["RADIX4_COVERAGE_FILE"] = str(cov_file)
        result = tools.test(module, b, extra_env=env, name=name, check=check, testcase=testcase)
        if not check:
            return result
        assert cov_file.is_file(), f"{module} wrote no coverage file"
        covs = [Coverage.load(cov_file)]
    for cov in covs:
        print(cov.report())
        missing = cov.missing()
        if regress_profile():
            if missing:
                print(f"regress profile: {len(missing)} bins not hit by this seed alone; "
                      "closure is judged over all seeds of the regression")
            continue
        assert not missing, (f"{module} on {sim} {params}: {len(missing)} coverage bins never "
                             f"hit (RADIX4_SEED={seed}): {', '.join(missing[:30])}")
    return result
