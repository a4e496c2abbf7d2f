"""The PE kinds: one table from a kind's name to its PE class (``--pe``).

``PE_KINDS``: ``radix4`` (the default: ``hw.pe.ProcessingElement`` at one
lane, ``hw.dot_pe.DotProductPE`` at k lanes), the block-scaled PEs
``mxfp4`` and ``nvfp4`` (``hw.block_dot_pe``), and the cost baselines
``int8``, ``fp8``, ``fp16`` (``hw.baselines``; no golden GEMM path, so not
offered by the CLI).  Importing this module registers every kind's latency
rule and accumulator width with ``model.config`` (``register_pe_kind``), so
``DatapathConfig(pe=...)`` validates against the class itself.
"""

from __future__ import annotations

from model.config import DEFAULT_PE, PeRule, register_pe_kind

from .baselines.fp_dot import Fp8DotPE, Fp16DotPE
from .baselines.int8_dot import Int8DotPE
from .block_dot_pe import Mxfp4DotPE, Nvfp4DotPE

__all__ = ["PE_KINDS", "CLI_PE_KINDS", "pe_class_for"]

# name -> the class (None: radix-4, which depends on the lanes).
PE_KINDS = {DEFAULT_PE: None, "mxfp4": Mxfp4DotPE, "nvfp4": Nvfp4DotPE,
            "int8": Int8DotPE, "fp8": Fp8DotPE, "fp16": Fp16DotPE}
# The kinds with a golden GEMM behind them (``radix4 verilog/gemm --pe``).
CLI_PE_KINDS = (DEFAULT_PE, "mxfp4", "nvfp4")


def pe_class_for(name: str, lanes: int = 1, pe_model: str = "rtl"):
    """The PE class of kind ``name`` (``ValueError`` when unknown); with
    ``pe_model="proved"`` the k-lane PE's proved simulation model
    (``hw.dot_pe_model.DotPEModel``, which refuses configurations no proof covers)."""
    if name not in PE_KINDS:
        raise ValueError(f"unknown PE kind {name!r}; expected one of {', '.join(PE_KINDS)}")
    if pe_model == "proved":
        from .dot_pe_model import DotPEModel
        return DotPEModel
    if name == DEFAULT_PE:
        if lanes == 1:
            from .pe import ProcessingElement
            return ProcessingElement
        from .dot_pe import DotProductPE
        return DotProductPE
    return PE_KINDS[name]


for _name, _cls in PE_KINDS.items():
    if _cls is not None:
        register_pe_kind(_name, PeRule(_cls.latencies, _cls.default_latency,
                                       _cls.acc_shape.width))
