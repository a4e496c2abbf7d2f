"""Seed batches: one simulation per (bench, chunk of seeds), one outcome per seed.

``radix4 regress`` runs pytest as

    RADIX4_SEEDS=5,6,7 RADIX4_SEED_REPORT=<file> pytest -p verif.kit.batch <node ids>

This module is then a pytest plugin: it runs each collected test once per
seed of ``RADIX4_SEEDS`` (``RADIX4_SEED`` set to that seed), reports each run
as ``<node id with -seed<s> in its brackets>`` and appends one JSON line per (node, seed) to
``RADIX4_SEED_REPORT``.  A test's first ``verif.harness.run_bench`` call
starts *one* simulation of the bench for every seed of the chunk
(``verif.kit.multiseed``: every cocotb test of the bench, seed after seed)
and caches it; each seed's call then gets that seed's part -- its cocotb
tests' outcomes, its own coverage and its part of the log -- exactly what a
one-seed run would have produced.  Simulator start-up, elaboration, cocotb's
import and the Verilog generation are paid once per chunk, not per seed.

A seed's replay command is the plain one-seed run,
``RADIX4_SEED=<s> pytest <node id>`` (plus ``RADIX4_REGRESS=1`` for the
regress profile): stimulus depends only on (seed, test name), never on what
ran before it in the batch (``verif.kit.seed``).

Without this plugin (plain pytest) nothing here is active.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from .coverage import Coverage
from .multiseed import BENCH_ENV, SEEDS_ENV, TESTS_ENV, seed_file

CHUNK_ENV = "RADIX4_SEEDS"
REPORT_ENV = "RADIX4_SEED_REPORT"
MULTISEED = "verif.kit.multiseed"
SEED_TIMEOUT = 600        # simulator seconds allowed per seed (a one-seed run's limit)

_active = False
_nodeid: str | None = None
_cache: dict = {}


def chunk_seeds() -> list[int]:
    """The seeds of ``RADIX4_SEEDS`` ("5,6,7" or "5-9"), in order, no repeats."""
    out = []
    for part in os.environ.get(CHUNK_ENV, "").replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        for s in range(int(lo), int(hi or lo) + 1):
            if s not in out:
                out.append(s)
    return out


def active() -> bool:
    """Whether this process runs tests for a chunk of seeds (the plugin is loaded)."""
    return _active and bool(chunk_seeds())


def record(entry: dict) -> None:
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def record_coverage(cov: Coverage, seeds: list[int]) -> None:
    """The chunk's merged coverage of the running test (``radix4 regress`` merges chunks)."""
    record({"nodeid": _nodeid, "coverage": cov.to_json(), "seeds": seeds})


# ---------------------------------------------------------------- pytest plugin
def seed_nodeid(nodeid: str, seed: int) -> str:
    """How one seed's run of a test is reported: ``t[p]`` -> ``t[p-seed5]``, ``t`` -> ``t[seed5]``."""
    if nodeid.endswith("]"):
        return f"{nodeid[:-1]}-seed{seed}]"
    return f"{nodeid}[seed{seed}]"


def pytest_configure(config):
    global _active
    _active = True


def _first_line(rep) -> str:
    """The error's first line, plus the first failing cocotb test's line if any."""
    text = getattr(rep, "longreprtext", "") or str(rep.longrepr or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    err = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    if not err:
        return (lines[-1] if lines else rep.outcome)[:300]
    return " / ".join(m[:250] for m in (err[:2] if "cocotb tests failed" in err[0] else err[:1]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    seeds = chunk_seeds()
    if not seeds:
        return None
    from _pytest.runner import runtestprotocol
    global _nodeid
    _nodeid = item.nodeid
    try:
        for seed in seeds:
            os.environ["RADIX4_SEED"] = str(seed)
            nodeid = seed_nodeid(item.nodeid, seed)
            item.ihook.pytest_runtest_logstart(nodeid=nodeid, location=item.location)
            t0 = time.monotonic()
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
            seconds = time.monotonic() - t0
            for rep in reports:
                rep.nodeid = nodeid
                item.ihook.pytest_runtest_logreport(report=rep)
            item.ihook.pytest_runtest_logfinish(nodeid=nodeid, location=item.location)
            bad = [r for r in reports if r.failed or r.skipped]
            record({"nodeid": item.nodeid, "seed": seed, "passed": not bad,
                    "message": "" if not bad else
                    ("skipped: " if bad[0].skipped else "") + _first_line(bad[0]),
                    "seconds": round(seconds, 3)})
    finally:
        _cache.clear()
        _nodeid = None
    return True


# ---------------------------------------------------------------- harness side
@dataclass
class SeedRun:
    """One seed's part of a batch simulation."""
    result: object                 # verif.toolchain.RunResult of this seed's cocotb tests
    coverage: list                 # [Coverage]: this seed's own hits
    merged: list                   # [Coverage]: the whole chunk's
    log: str                       # this seed's part of the simulator log
    first: bool = False            # this call ran the batch simulation
    build: object = None           # the verif.toolchain.Build simulated


class _Batch:
    def __init__(self, build, seeds, result, log: str, cov_file: Path, message: str | None):
        self.build, self.seeds, self.result = build, seeds, result
        self.sections = _split_log(log)
        self.header = self.sections.pop(None, "")
        self.per_seed = _per_seed_outcomes(result.results_xml)
        sim = [m for n, m in result.failures if n == "<simulator>"]
        self.message = message or ("; ".join(sim) if sim else None)
        self.expected = max((len(t) for t in self.per_seed.values()), default=0)
        self.seed_cov = {}
        for s in seeds:
            f = Path(seed_file(str(cov_file), s))
            if f.is_file():
                self.seed_cov[s] = [_cov(c) for c in json.loads(f.read_text())]
        self.merged = [Coverage.load(cov_file)] if cov_file.is_file() else []

    def for_seed(self, seed: int) -> SeedRun:
        from verif.toolchain import RunResult
        tests = self.per_seed.get(seed)
        if not tests:
            why = self.message or "the simulator stopped before this seed's tests ran"
            failures = [("<simulator>", f"no result for seed {seed} in the batch of seeds "
                         f"{_span(self.seeds)}: {why}")]
            tests = {}
        else:
            failures = [(name, msg) for name, msg in tests.items() if msg is not None]
            if len(tests) < self.expected:
                failures.append(("<simulator>", f"only {len(tests)} of {self.expected} cocotb "
                                 f"tests ran for seed {seed}: {self.message or 'stopped'}"))
            elif self.message and seed == self.seeds[-1]:
                failures.append(("<simulator>", self.message))
        res = RunResult(len(tests), len(failures), failures, self.result.results_xml,
                        self.result.test_dir)
        log = self.sections.get(seed, "")
        if not log:
            log = self.header
        return SeedRun(res, self.seed_cov.get(seed, []), self.merged, log, build=self.build)


def _cov(data: dict) -> Coverage:
    c = Coverage(data["name"])
    c.groups = {g: dict(b) for g, b in data["groups"].items()}
    return c


def _span(seeds) -> str:
    return f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])


_TEST_NAME = re.compile(r"^(.*)/seed=(\d+)$")


def _per_seed_outcomes(results_xml: Path) -> dict:
    """``{seed: {test: None (passed) or failure message}}`` from cocotb's results."""
    out: dict = {}
    if not Path(results_xml).is_file():
        return out
    for case in ET.parse(results_xml).iter("testcase"):
        m = _TEST_NAME.match(case.get("name") or "")
        if not m:
            continue
        msg = None
        for tag in ("failure", "error"):
            bad = next(case.iter(tag), None)
            if bad is not None:
                msg = (bad.get("message") or (bad.text or "").strip() or tag)[:2000]
                break
        out.setdefault(int(m.group(2)), {})[m.group(1)] = msg
    return out


def _split_log(text: str) -> dict:
    """``{None: before the first seed, seed: its lines}``, split where cocotb starts
    a seed's first test (``running <module>.<test>/seed=<s> (k/n)``)."""
    sections: dict = {None: []}
    current = None
    mark = re.compile(r"running \S+/seed=(\d+) \(")
    for line in text.splitlines(keepends=True):
        m = mark.search(line)
        if m and int(m.group(1)) != current:
            current = int(m.group(1))
            sections.setdefault(current, [])
        sections[current].append(line)
    return {k: "".join(v) for k, v in sections.items()}


def run_seed(module: str, build, env: dict, name: str, key: tuple,
             testcase: str | None = None) -> SeedRun:
    """This seed's part of the batch simulation of ``module`` on ``build`` (run once
    per chunk, on the first seed's call); ``testcase``: only that cocotb test."""
    from verif import toolchain as tools
    seeds = chunk_seeds()
    seed = int(os.environ["RADIX4_SEED"])
    if key not in _cache:
        cov_dir = build.build_dir / "runs"
        cov_dir.mkdir(exist_ok=True)
        cov_file = cov_dir / f"{name}-{os.getpid()}-batch.coverage.json"
        for p in [cov_file] + [Path(seed_file(str(cov_file), s)) for s in seeds]:
            p.unlink(missing_ok=True)
        benv = {**env, BENCH_ENV: module, SEEDS_ENV: ",".join(map(str, seeds)),
                TESTS_ENV: testcase or "", "RADIX4_COVERAGE_FILE": str(cov_file)}
        buf, message = io.StringIO(), None
        with contextlib.redirect_stdout(buf):
            try:
                result = tools.test(MULTISEED, build, extra_env=benv, name=name, check=False,
                                    timeout=SEED_TIMEOUT * len(seeds))
            except tools.CocotbFailure as e:       # timed out
                message = str(e).splitlines()[0]
                result = tools.RunResult(0, 1, [("<simulator>", message)],
                                         Path("/nonexistent"), Path("/nonexistent"))
        log = buf.getvalue()
        if result.test_dir.is_dir():
            (result.test_dir / "batch.log").write_text(log)
        _cache[key] = _Batch(build, seeds, result, log, cov_file, message)
        run = _cache[key].for_seed(seed)
        run.first = True
        return run
    return _cache[key].for_seed(seed)


def raise_failures(module: str, build, seed: int, run: SeedRun) -> None:
    """Fail like a one-seed ``verif.toolchain.test`` would, naming the seed."""
    res = run.result
    if not res.failures and res.tests:
        return
    from verif.toolchain import CocotbFailure
    lines = [f"{module} on {build.sim.name} {build.toplevel} {build.params}: "
             f"{len(res.failures)} of {res.tests} cocotb tests failed with RADIX4_SEED={seed} "
             f"(batch log: {res.test_dir / 'batch.log'}; WAVES=1 to dump waves)"]
    lines += [f"  {n}: {m}" for n, m in res.failures]
    if res.tests == 0 and not res.failures:
        lines.append("  no cocotb test ran")
    raise CocotbFailure("\n".join(lines))
