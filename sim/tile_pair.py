"""Two simulated tiles for a block-scaled recipe: block-scaled PEs and radix-4 PEs.

A block recipe (``mxfp4``, ``nvfp4``...; ``model.recipes``) runs its GEMM
layers as block GEMMs (``backend.block_gemm``) and, with 8-bit end layers
(``nvfp4``, ``mxfp4-ends``), those layers as INT4/UINT4 nibble GEMMs
(``backend.gemm``).  A tile of MXFP4 or NVFP4 PEs runs only the first kind
(its PEs multiply E2M1 codes), so on the RTL such a recipe runs on a pair:
the block tile (``config``, ``config.pe`` the block kind) and a radix-4 tile
of the same rows, columns, depth and lanes (its own default accumulator
width and latency).  Each is an ``sim.backends.RtlBackend`` started on first
use (``mxfp4`` never starts the radix-4 one), and both end with ``close()``.

The golden model needs no pair: ``model.backend.GoldenBackend`` runs both.
"""

from __future__ import annotations

from model.config import DEFAULT_PE, DatapathConfig

__all__ = ["TilePair"]


class TilePair:
    """``gemm`` on a radix-4 tile, ``block_gemm`` on a block-scaled one (module doc).

    ``make(config)`` builds one tile's backend (``sim.backends.RtlBackend``
    with the caller's simulator and options).  ``last_stats``: the counters
    of the last GEMM, whichever tile ran it; ``total_stats``: both tiles'.
    """

    def __init__(self, name: str, config: DatapathConfig, make):
        self.name = name
        self.config = config
        self._configs = {"block": config, "radix4": DatapathConfig.of(config, pe=DEFAULT_PE)}
        self._make = make
        self._tiles: dict = {}
        self._last = None

    @property
    def acc_width(self) -> int:
        return self.config.acc_width

    def tile(self, kind: str):
        """The ``"block"`` or ``"radix4"`` tile's backend (started now if need be)."""
        if kind not in self._tiles:
            self._tiles[kind] = self._make(self._configs[kind])
        self._last = self._tiles[kind]
        return self._last

    def gemm(self, a, b, a_format: str, b_format: str, *, name: str = "gemm", **kwargs):
        return self.tile("radix4").gemm(a, b, a_format, b_format, name=name, **kwargs)

    def gemm_checked(self, op):
        return self.tile("radix4").gemm_checked(op)

    def block_gemm(self, a, b, *, name: str = "gemm"):
        return self.tile("block").block_gemm(a, b, name=name)

    @property
    def last_stats(self) -> dict:
        return dict(self._last.last_stats) if self._last is not None else {}

    @property
    def total_stats(self) -> dict:
        total: dict = {}
        for tile in self._tiles.values():
            for key, value in tile.total_stats.items():
                total[key] = total.get(key, 0) + value
        return total

    def close(self) -> None:
        tiles, self._tiles = list(self._tiles.values()), {}
        for tile in tiles:
            tile.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
