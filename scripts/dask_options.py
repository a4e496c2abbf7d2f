"""``--workers`` / ``--scheduler``: the RTL backends on a Dask cluster (SPEC 4).

Shared by ``radix4 gemm``, ``train``, ``replay`` and ``regress``.  Neither
flag keeps the in-process simulator (``make test`` and ``make demo``
unchanged); ``--workers`` alone starts a local cluster with one worker per
core; ``--workers N`` N workers; ``--scheduler tcp://HOST:PORT`` uses a
running ``dask-scheduler`` (docs/scale-out.md).
"""

from __future__ import annotations

from scripts.errors import CliError


def add_dask_arguments(p):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, nargs="?", const=-1, default=None, metavar="N",
                       help="run the RTL on a local Dask cluster of N worker processes "
                            "(no N: one per core)")
    group.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="run the RTL on the workers of a running Dask scheduler")


def dask_options(args, sim: str | None = None) -> dict:
    """``{}`` (in-process), ``{"workers": N}`` or ``{"scheduler": URL}``; bad input -> CliError."""
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    if workers is None and scheduler is None:
        return {}
    flag = "--workers" if workers is not None else "--scheduler"
    if sim is not None and sim not in ("verilator", "icarus"):
        raise CliError(f"{flag} runs the RTL simulators; it needs --sim/--backend "
                       f"verilator or icarus, not {sim}")
    if workers is not None:
        if workers == -1:
            from sim.dask_session import default_workers
            workers = default_workers()
        if workers < 1:
            raise CliError(f"--workers must be a positive integer, got {workers}")
        return {"workers": workers}
    return {"scheduler": scheduler}
