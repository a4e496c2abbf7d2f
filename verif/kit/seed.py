"""The run's random seed: ``RADIX4_SEED`` from the environment, else a fresh one.

The pytest side (``verif/conftest.py``) picks one seed per pytest session,
prints it in the header and passes it to every simulation, so a failure is
replayed with ``RADIX4_SEED=<seed> pytest verif/...``.  Inside a simulation
each cocotb test derives its own generators from (seed, test name), so tests
do not perturb each other's streams.
"""

from __future__ import annotations

import logging
import os
import random

import numpy as np

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


def test_rng(name: str) -> tuple[random.Random, np.random.Generator]:
    """Python and NumPy generators for one test, derived from (seed, name)."""
    seed = get_seed()
    logging.getLogger("radix4.seed").info("test %s: RADIX4_SEED=%d", name, seed)
    salt = sum((i + 1) * ord(c) for i, c in enumerate(name))  # stable across processes
    return random.Random(seed * 1_000_003 + salt), np.random.default_rng([seed, salt])
