"""One simulation, many seeds: the cocotb test module of a seed batch.

``verif.kit.batch`` starts the simulator with this module as the cocotb test
module and ``RADIX4_BENCH_MODULE`` (the real bench, e.g.
``verif.benches.array_tb``) and ``RADIX4_BATCH_SEEDS`` ("5,6,7") in the
environment.  This module registers every cocotb test of the bench once per
seed, seed-major (all tests of seed 5, then all of seed 6, ...), named
``<test>/seed=<s>`` (only the tests named in ``RADIX4_BENCH_TESTS``, if
set); each sets the kit's seed (``seed.set_seed``) before the
bench's own test function runs.  The bench's tests reset the DUT when they
start and seed fresh generators from (seed, test name), so a seed's stimulus
is the one a one-seed run (``RADIX4_SEED=<s>``) produces, whatever ran
before it.  cocotb goes on after a failing test, so one seed's failure
neither stops nor disturbs the next seed.

Coverage: the bench's ``Coverage`` objects (module globals, found in the
bench module) keep counting across seeds -- the batch's merged coverage --
and after each test this module adds the test's own hits to its seed's
record, ``$RADIX4_COVERAGE_FILE.seed<s>.json`` (``[{name, groups}]``), so each
seed's coverage is also known on its own.

Uses cocotb's ``Test`` class (``cocotb._decorators``, cocotb 2.x; the
project pins cocotb>=2,<3 and ``verif.toolchain`` checks the major version).
"""

from __future__ import annotations

import copy
import importlib
import json
import os

from cocotb._decorators import Test, TestGenerator

from .coverage import Coverage
from .seed import set_seed

BENCH_ENV = "RADIX4_BENCH_MODULE"
SEEDS_ENV = "RADIX4_BATCH_SEEDS"
TESTS_ENV = "RADIX4_BENCH_TESTS"        # optional: "name,name" -- only these tests


def seed_file(coverage_file: str, seed: int) -> str:
    """Where one seed's own coverage hits go."""
    return f"{coverage_file}.seed{seed}.json"


def bench_tests(module) -> list:
    """The cocotb ``Test``s of a bench module, in declaration order."""
    tests = []
    for obj in vars(module).values():
        if isinstance(obj, Test):
            tests.append(obj)
        elif isinstance(obj, TestGenerator):
            tests.extend(obj.generate_tests())
    return tests


def _coverages(module) -> list[Coverage]:
    seen, out = set(), []
    for obj in vars(module).values():
        if isinstance(obj, Coverage) and id(obj) not in seen:
            seen.add(id(obj))
            out.append(obj)
    return out


class _SeedCoverage:
    """Per-seed coverage: each test's hits (after minus before) added to its seed."""

    def __init__(self, covs: list[Coverage], path: str | None):
        self.covs, self.path = covs, path
        self.by_seed: dict[int, list[dict]] = {}      # seed -> hits per Coverage

    def snapshot(self) -> list[dict]:
        return [copy.deepcopy(c.groups) for c in self.covs]

    def add(self, seed: int, before: list[dict]):
        mine = self.by_seed.setdefault(seed, [{} for _ in self.covs])
        for cov, old, acc in zip(self.covs, before, mine):
            for group, bins in cov.groups.items():
                g = acc.setdefault(group, {})
                for b, n in bins.items():
                    g[b] = g.get(b, 0) + n - old.get(group, {}).get(b, 0)
        if self.path:
            path = seed_file(self.path, seed)
            with open(f"{path}.tmp", "w") as f:
                json.dump([{"name": c.name, "groups": g} for c, g in zip(self.covs, mine)], f)
            os.replace(f"{path}.tmp", path)


def _wrap(test: Test, seed: int, cov: _SeedCoverage):
    async def run(dut, *args, **kwargs):
        set_seed(seed)
        before = cov.snapshot()
        try:
            await test.func(dut, *args, **kwargs)
        finally:
            cov.add(seed, before)
    return Test(func=run, args=test.args, kwargs=test.kwargs, name=f"{test.name}/seed={seed}",
                module=test.module, doc=test.doc, timeout=test.timeout,
                expect_fail=test.expect_fail, expect_error=test.expect_error, skip=test.skip,
                stage=test.stage)


def _register():
    bench = importlib.import_module(os.environ[BENCH_ENV])
    seeds = [int(s) for s in os.environ[SEEDS_ENV].split(",") if s.strip()]
    tests = bench_tests(bench)
    only = {t for t in os.environ.get(TESTS_ENV, "").split(",") if t}
    if only:
        tests = [t for t in tests if t.name in only]
    cov = _SeedCoverage(_coverages(bench), os.environ.get("RADIX4_COVERAGE_FILE"))
    n = 0
    for seed in seeds:
        for test in tests:
            globals()[f"_seed_test_{n}"] = _wrap(test, seed, cov)
            n += 1


if os.environ.get(BENCH_ENV) and os.environ.get(SEEDS_ENV):
    _register()
