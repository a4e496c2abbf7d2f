"""The GEMM backend through the AXI shell (``radix4 gemm --sim icarus --bus axi``).

``AxiRtlBackend`` is ``sim.backends.RtlBackend`` with another simulation
behind the same socket: the ``radix4_axi`` top (``hw.axi_shell``: the tile
behind AXI4-Lite and AXI4-Stream) driven by ``sim.axi_server``, which
programs each job over the bus (cocotbext-axi's AXI4-Lite master; the stream
ports through ``sim.stream_feed`` and cocotbext-axi's sink) exactly as a host
CPU would.  Planning, batching, operand checks, the B-side FP4 transpose,
8-bit decomposition and overflow handling are the base class's, so the
results are checked against the same golden model (bit-exact or an error).
``AxiQuantRtlBackend`` is the same for the on-chip recipes' tile
(``sim.quant_backend.QuantRtlBackend`` behind the shell, ``radix4_axi_qtile``).
Slower than the host testbench (Python drives the bus): meant to prove the
software path a board would use (docs/integration.md has the measured cost).
"""

from __future__ import annotations

import json

from verif import toolchain as tc

from .backends import RtlBackend
from .host import HostConfig
from .quant_backend import QuantRtlBackend

__all__ = ["AxiRtlBackend", "AxiQuantRtlBackend", "build_axi", "build_axi_quant"]


def _params(cfg: HostConfig) -> dict:
    return {"rows": cfg.rows, "cols": cfg.cols, "acc_width": cfg.acc_width, "depth": cfg.depth,
            "pe_latency": cfg.pe_latency, "lanes": cfg.lanes,
            **({"pe_model": cfg.pe_model} if cfg.pe_model != "rtl" else {})}


def build_axi(cfg: HostConfig, sim: str = "icarus") -> tc.Build:
    """The cached cocotb build of ``radix4_axi`` for ``cfg``."""
    return tc.build("axi", _params(cfg), sim)


class AxiRtlBackend(RtlBackend):
    _SERVER = "sim.axi_server"
    _build_fn = staticmethod(build_axi)

    def _server_env(self) -> dict:
        return {"RADIX4_AXI_PARAMS": json.dumps(_params(self.cfg))}


def _quant_params(cfg) -> dict:
    return {**_params(cfg), "quant_lanes": cfg.quant_lanes}


def build_axi_quant(cfg, sim: str = "icarus") -> tc.Build:
    """The cached cocotb build of ``radix4_axi_qtile`` (the tile with the
    quantization unit behind the shell) for ``cfg`` (a ``QuantHostConfig``)."""
    return tc.build("axi_qtile", _quant_params(cfg), sim)


class AxiQuantRtlBackend(QuantRtlBackend):
    """``QuantRtlBackend`` (the on-chip recipes' tile) through the AXI shell:
    ``sim.axi_quant_server`` programs each job over AXI4-Lite and moves every
    stream, the unit's included, over AXI4-Stream ports."""

    _SERVER = "sim.axi_quant_server"
    _build_fn = staticmethod(build_axi_quant)

    def _server_env(self) -> dict:
        return {"RADIX4_AXI_PARAMS": json.dumps(_quant_params(self.cfg))}
