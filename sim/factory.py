"""``make_backend``: a GEMM backend by name (the one place that picks the class).

Kept apart from the backends themselves so that each imports only what it
builds on (``sim.distributed`` and ``sim.quant_backend`` extend
``sim.backends``), and this module imports them all (the Dask one only when
asked for: importing Dask costs a second).
"""

from __future__ import annotations

from model.backend import GoldenBackend
from model.block_backend import is_block_pe
from model.config import DatapathConfig
from model.onchip_tile import GoldenQuantTile

from .backends import SIMULATORS, RtlBackend
from .tile_pair import TilePair

__all__ = ["make_backend", "BACKENDS"]

BACKENDS = ("golden",) + SIMULATORS


def make_backend(name: str, config: DatapathConfig | None = None, **kwargs):
    """A backend by name: ``golden``, ``verilator`` or ``icarus``.

    ``config`` (a ``model.config.DatapathConfig``; or its fields ``rows``,
    ``cols``, ``acc_width``, ``depth``, ``pe_latency``, ``lanes`` as keyword
    arguments) is built once here and handed to the backend.
    ``workers=N`` or ``scheduler=URL`` (RTL only) gives the Dask-sharded
    backend (``sim.distributed``); neither, the in-process simulator.
    ``quant=True``: the tile with the quantization unit (``sim.quant_backend``;
    golden: ``model.onchip_tile``), which the on-chip recipes need.  Other
    keyword arguments go to the RTL backend (``gap_permille``, ``seed``...).
    ``bus="axi"``: the tile behind the AXI shell, every job programmed over
    the bus (``sim.axi_backend``; RTL, in-process; with ``quant=True`` the
    tile with the unit behind it).
    ``config.pe`` a block-scaled kind (``mxfp4``, ``nvfp4``): a tile of those
    PEs, which runs ``block_gemm`` only, in one simulator; with ``pair=True``
    (a block recipe's 8-bit ends) the ``sim.tile_pair.TilePair`` of it and a
    radix-4 tile (golden: the golden backend, which runs both)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    workers, scheduler = kwargs.pop("workers", None), kwargs.pop("scheduler", None)
    quant = kwargs.pop("quant", False)
    bus = kwargs.pop("bus", "direct")
    pair = kwargs.pop("pair", False)
    if bus not in ("direct", "axi"):
        raise ValueError(f"unknown bus {bus!r}; expected direct or axi")
    fields = {f: kwargs.pop(f) for f in DatapathConfig.__dataclass_fields__ if f in kwargs}
    config = DatapathConfig.of(config, **fields)
    if is_block_pe(config.pe) and name != "golden":
        if quant or bus != "direct" or workers is not None or scheduler is not None:
            raise ValueError(f"a tile of {config.pe} PEs runs in one simulator (no "
                             "--workers/--scheduler, --bus axi or quantization unit)")
        if pair:
            return TilePair(name, config, lambda cfg: RtlBackend(name, cfg, **kwargs))
    if bus == "axi":
        if name == "golden" or workers is not None or scheduler is not None:
            raise ValueError("bus='axi' runs the tile in one RTL simulator")
        from .axi_backend import AxiQuantRtlBackend, AxiRtlBackend
        return (AxiQuantRtlBackend if quant else AxiRtlBackend)(name, config, **kwargs)
    if name == "golden":
        return GoldenQuantTile(config=config) if quant else GoldenBackend(config=config)
    if quant:
        if workers is not None or scheduler is not None:
            raise ValueError("the quantization unit's jobs run in one simulator "
                             "(no --workers/--scheduler)")
        from .quant_backend import QuantRtlBackend
        return QuantRtlBackend(name, config, **kwargs)
    if workers is not None or scheduler is not None:
        from .distributed import DistributedRtlBackend
        return DistributedRtlBackend(name, config, workers=workers, scheduler=scheduler,
                                     **kwargs)
    return RtlBackend(name, config, **kwargs)
