"""Hypothesis profiles: deterministic everywhere by default, random under ``make fuzz``.

- ``ci`` (the default for every pytest run: ``make test``, ``.ci/run`` and a
  plain ``pytest``): ``derandomize=True`` and ``database=None``.  The examples
  are a fixed function of each test's source, so a run on a fresh clone and a
  run on a developer's tree see the same examples, and an example found once
  is never replayed from a local database into later runs (which made a
  single find turn every later local run red while CI stayed green, or the
  other way round).  No deadline: the machine is shared and timing is noise.
- ``fuzz`` (``make fuzz``): random generation from the seed ``make fuzz``
  prints and passes as ``--hypothesis-seed``, still no database, and every
  property test's example budget (its own ``max_examples`` if it sets one)
  multiplied by ``RADIX4_FUZZ_FACTOR`` (default 20).  Replay a failure with
  ``make fuzz SEED=<seed>``; Hypothesis also prints the failing example and a
  ``@reproduce_failure`` blob.

Choose another profile with ``--hypothesis-profile=NAME`` or the
``HYPOTHESIS_PROFILE`` environment variable.  Details: docs/verification.md.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True)
settings.register_profile("fuzz", derandomize=False, database=None, deadline=None,
                          print_blob=True, max_examples=100,
                          suppress_health_check=[HealthCheck.too_slow])


def pytest_configure(config):
    # Hypothesis' own plugin loads a profile only when --hypothesis-profile is
    # given; otherwise ours applies, not Hypothesis' randomized default.
    requested = config.getoption("--hypothesis-profile", None)
    settings.load_profile(requested or os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_report_header(config):
    # Hypothesis prints its profile only with -v; the seed a fuzz run used
    # must be in every log, so it is printed here.
    seed = config.getoption("--hypothesis-seed", None)
    name = settings.get_current_profile_name()
    return f"radix4: hypothesis profile {name!r}" + (f", seed {seed}" if seed is not None else "")


def _fuzz_factor() -> int:
    raw = os.environ.get("RADIX4_FUZZ_FACTOR", "20")
    try:
        factor = int(raw)
    except ValueError:
        raise ValueError(f"RADIX4_FUZZ_FACTOR must be a positive integer, got {raw!r}") from None
    if factor < 1:
        raise ValueError(f"RADIX4_FUZZ_FACTOR must be a positive integer, got {raw!r}")
    return factor


def _schedule_rank(item) -> int:
    """Verilator tests first (each may build a model: 10-60 s), then the other
    simulator runs, then the rest: with ``-n 2`` the long items start while
    the short ones are still queued to even out the workers' tails."""
    if "verilator" in item.nodeid:
        return 0
    if item.get_closest_marker("cocotb") or "icarus" in item.nodeid:
        return 1
    return 2


def pytest_collection_modifyitems(config, items):
    """Order the items for the workers (``_schedule_rank``, stable); under the
    fuzz profile, scale each property test's own example budget.

    A test's ``@settings(max_examples=N)`` overrides any profile, so the fuzz
    profile alone could not raise it; Hypothesis reads the settings attached
    to the test function when the test runs, so they are replaced here.
    (``--hypothesis-profile`` is applied by Hypothesis' plugin before
    collection ends, so the current profile is known here.)
    """
    items.sort(key=_schedule_rank)
    if settings.get_current_profile_name() != "fuzz":
        return
    factor = _fuzz_factor()
    for item in items:
        fn = getattr(item, "obj", None)
        inner = getattr(getattr(fn, "hypothesis", None), "inner_test", None)
        own = getattr(fn, "_hypothesis_internal_use_settings", None)
        if inner is None or own is None:
            continue
        fn._hypothesis_internal_use_settings = settings(
            own, max_examples=own.max_examples * factor)
