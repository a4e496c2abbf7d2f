"""``make_backend``: a GEMM backend by name (the one place that picks the class).

Kept apart from the backends themselves so that each imports only what it
builds on (``sim.distributed`` and ``sim.quant_backend`` extend
``sim.backends``), and this module imports them all (the Dask one only when
asked for: importing Dask costs a second).
"""

from __future__ import annotations

from model.backend import GoldenBackend
from model.onchip_tile import GoldenQuantTile

from .backends import RtlBackend

__all__ = ["make_backend", "BACKENDS"]

BACKENDS = ("golden", "verilator", "icarus")


def make_backend(name: str, rows: int = 8, cols: int = 8, acc_width: int = 32, **kwargs):
    """A backend by name: ``golden``, ``verilator`` or ``icarus``.

    ``workers=N`` or ``scheduler=URL`` (RTL only) gives the Dask-sharded
    backend (``sim.distributed``); neither, the in-process simulator.
    ``quant=True``: the tile with the quantization unit (``sim.quant_backend``;
    golden: ``model.onchip_tile``), which the on-chip recipes need."""
    workers, scheduler = kwargs.pop("workers", None), kwargs.pop("scheduler", None)
    quant = kwargs.pop("quant", False)
    if name == "golden":
        if quant:
            return GoldenQuantTile(rows, cols, acc_width)
        return GoldenBackend(acc_width=acc_width)
    if quant and name in ("verilator", "icarus"):
        if workers is not None or scheduler is not None:
            raise ValueError("the quantization unit's jobs run in one simulator "
                             "(no --workers/--scheduler)")
        from .quant_backend import QuantRtlBackend
        return QuantRtlBackend(name, rows=rows, cols=cols, acc_width=acc_width, **kwargs)
    if name in ("verilator", "icarus") and (workers is not None or scheduler is not None):
        from .distributed import DistributedRtlBackend
        return DistributedRtlBackend(name, rows=rows, cols=cols, acc_width=acc_width,
                                     workers=workers, scheduler=scheduler, **kwargs)
    if name in ("verilator", "icarus"):
        return RtlBackend(name, rows=rows, cols=cols, acc_width=acc_width, **kwargs)
    raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
