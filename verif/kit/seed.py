"""The run's random seed and stimulus profile.

Seed: ``RADIX4_SEED`` from the environment, else a fresh one.  The pytest
side (``verif/conftest.py``) picks one seed per pytest session, prints it in
the header and passes it to every simulation, so a failure is replayed with
``RADIX4_SEED=<seed> pytest verif/...``.  Inside a simulation each cocotb
test derives its own generators from (seed, test name), so tests do not
perturb each other's streams, and a test's stimulus does not depend on what
ran before it in the same simulation.  That is what lets one simulation run
a bench for many seeds in turn (``verif.kit.multiseed`` calls ``set_seed``
before each test) with exactly the stimulus of a one-seed run.

Profile: ``RADIX4_REGRESS=1`` selects the regress profile (``radix4 regress``
sets it): fewer transactions per seed, for breadth over many seeds.  Benches
size their loops with ``depth(full, regress)`` and thin directed sweeps with
``sample``; both leave the default profile's stimulus exactly as it was
(neither draws from a generator there).
"""

from __future__ import annotations

import logging
import os
import random

import numpy as np

REGRESS_ENV = "RADIX4_REGRESS"

_seed: int | None = None


def get_seed() -> int:
    """The session seed; logged the first time it is asked for."""
    global _seed
    if _seed is None:
        text = os.environ.get("RADIX4_SEED", "").strip()
        _seed = int(text) if text else random.SystemRandom().randrange(1 << 31)
        logging.getLogger("radix4.seed").info(
            "RADIX4_SEED=%d (replay any failure with this environment variable)", _seed)
    return _seed


def set_seed(seed: int) -> None:
    """Make ``seed`` the seed of the tests that follow (one simulation, many seeds)."""
    global _seed
    _seed = int(seed)


def test_rng(name: str) -> tuple[random.Random, np.random.Generator]:
    """Python and NumPy generators for one test, derived from (seed, name)."""
    seed = get_seed()
    logging.getLogger("radix4.seed").info("test %s: RADIX4_SEED=%d", name, seed)
    salt = sum((i + 1) * ord(c) for i, c in enumerate(name))  # stable across processes
    return random.Random(seed * 1_000_003 + salt), np.random.default_rng([seed, salt])


def regress_profile() -> bool:
    """Whether the regress profile (``RADIX4_REGRESS=1``) is selected."""
    return os.environ.get(REGRESS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def depth(full: int, regress: int | None = None) -> int:
    """A loop's transaction count: ``full``, or in the regress profile ``regress``
    (default a quarter of ``full``, at least 1)."""
    if not regress_profile():
        return full
    return max(1, full // 4 if regress is None else regress)


def sample(rng: random.Random, items, fraction: float = 0.25) -> list:
    """``items`` in the default profile (no draw); in the regress profile a random
    subset of about ``fraction`` of them (at least one), in their order."""
    items = list(items)
    if not regress_profile() or not items:
        return items
    k = max(1, round(len(items) * fraction))
    keep = set(rng.sample(range(len(items)), k))
    return [x for i, x in enumerate(items) if i in keep]
