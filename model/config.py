"""The datapath configuration: one object, validated once, carried everywhere.

``DatapathConfig(rows, cols, acc_width, depth, pe_latency, lanes)`` describes
a tile: the array's rows and columns, the accumulator width (SPEC 2), the
operand bank depth (beats per job), the PE's latency and its dot-product
lanes (SPEC 2: a PE of ``k`` lanes adds ``k`` products per cycle).  It is
checked in ``__post_init__`` and nowhere else: the golden model, the RTL
generators, the simulator hosts, the backends and the CLI build one (the CLI
from its flags, ``scripts.argtypes.datapath_config``) and trust it after.
Every field has its default here, and every limit is a constant here.

A refusal is a ``ConfigError`` (a ``ValueError``) naming the field, one line:
``rows must be in 1..64, got 0``; the CLI names the flag instead
(``--rows must be in 1..64, got 0``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .hw_vocab import product_width

__all__ = ["DatapathConfig", "ConfigError", "acc_range", "check_acc_width",
           "DIM_MAX", "DEPTH_MIN", "DEPTH_MAX", "ACC_WIDTH_MIN", "ACC_WIDTH_MAX",
           "PE_LATENCIES", "SUPPORTED_LANES", "LANES_MAX", "check_lanes", "DEFAULT_ROWS", "DEFAULT_COLS",
           "DEFAULT_ACC_WIDTH", "DEFAULT_DEPTH", "DEFAULT_PE_LATENCY", "DEFAULT_LANES"]

DIM_MAX = 64                  # rows/cols (16x16 is the largest tested size)
DEPTH_MIN, DEPTH_MAX = 2, 1 << 16
# SPEC 2: one accumulator range everywhere (golden model, RTL, every command).
ACC_WIDTH_MIN, ACC_WIDTH_MAX = 18, 64
PE_LATENCIES = (1, 2, 3)
# The lane counts the RTL implements (SPEC 2, ``--lanes K``); a k-lane PE
# widens this tuple.
SUPPORTED_LANES = (1, 2, 4, 8, 16)
# The golden model takes any lane count up to this (the overflow rule of
# ``model.gemm.overflow_mask``); the RTL only ``SUPPORTED_LANES``.
LANES_MAX = 64

DEFAULT_ROWS = DEFAULT_COLS = 8
DEFAULT_ACC_WIDTH = 32
DEFAULT_DEPTH = 512
# The pipelined PE is the default everywhere (array, tile, Verilog, driver):
# latency 3 places at ~190 MHz on ECP5 against ~87 MHz for latency 1, and
# is smaller (docs/hardware-cost.md).
DEFAULT_PE_LATENCY = 3
DEFAULT_LANES = 1


class ConfigError(ValueError):
    """A configuration field out of range: ``field`` and ``problem`` ("must be ...")."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def _int(field: str, value, rule: str) -> int:
    """``value`` as an int, or ConfigError "must be an integer <rule>"."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ConfigError(field, f"must be an integer {rule}, got {value!r}")
    return int(value.__index__())


def check_acc_width(acc_width) -> int:
    """The accumulator width rule (SPEC 2: 18..64, and at least one product
    of the formats in the table wide): the width as an int, or ConfigError."""
    rule = f"in {ACC_WIDTH_MIN}..{ACC_WIDTH_MAX}"
    width = _int("acc_width", acc_width, rule)
    if not ACC_WIDTH_MIN <= width <= ACC_WIDTH_MAX:
        raise ConfigError("acc_width", f"must be {rule}, got {width}")
    if width < product_width():
        raise ConfigError("acc_width", f"{width} is narrower than a product "
                                       f"({product_width()} bits) of the formats in the table")
    return width


def check_lanes(lanes) -> int:
    """A golden-model lane count (1..LANES_MAX) as an int, or ConfigError."""
    rule = f"in 1..{LANES_MAX}"
    value = _int("lanes", lanes, rule)
    if not 1 <= value <= LANES_MAX:
        raise ConfigError("lanes", f"must be {rule}, got {value}")
    return value


def acc_range(acc_width: int = DEFAULT_ACC_WIDTH) -> tuple[int, int]:
    """Inclusive range of a signed two's-complement ``acc_width``-bit register."""
    acc_width = check_acc_width(acc_width)
    return -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1


@dataclass(frozen=True)
class DatapathConfig:
    """Rows, columns, accumulator width, bank depth, PE latency and lanes of a tile.

    Validated once, at construction.  ``DatapathConfig.of(config, **fields)``
    is ``config`` (or the defaults) with the given fields replaced, for
    constructors that also take the fields one by one.
    """

    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLS
    acc_width: int = DEFAULT_ACC_WIDTH
    depth: int = DEFAULT_DEPTH
    pe_latency: int = DEFAULT_PE_LATENCY
    lanes: int = DEFAULT_LANES

    def __post_init__(self):
        # Refused here, before any build directory, lock or simulator exists.
        for name in ("rows", "cols"):
            rule = f"in 1..{DIM_MAX}"
            value = _int(name, getattr(self, name), rule)
            if not 1 <= value <= DIM_MAX:
                raise ConfigError(name, f"must be {rule}, got {value}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "acc_width", check_acc_width(self.acc_width))
        rule = f"a power of two in {DEPTH_MIN}..{DEPTH_MAX}"
        depth = _int("depth", self.depth, rule)
        if not DEPTH_MIN <= depth <= DEPTH_MAX or depth & (depth - 1):
            raise ConfigError("depth", f"must be {rule}, got {depth}")
        object.__setattr__(self, "depth", depth)
        for name, allowed, what in (("pe_latency", PE_LATENCIES, ""),
                                    ("lanes", SUPPORTED_LANES, " (the lane counts the RTL "
                                                               "implements)")):
            value = getattr(self, name)
            if isinstance(value, bool) or value not in allowed:
                raise ConfigError(name, f"must be one of {', '.join(map(str, allowed))}{what}, "
                                        f"got {value!r}")
            object.__setattr__(self, name, int(value))

    @classmethod
    def of(cls, config: DatapathConfig | None = None, **fields) -> DatapathConfig:
        """A ``cls`` from ``config`` (default: the defaults) with the fields that
        are not None replaced.  ``config`` may be any ``DatapathConfig``: a
        subclass (``sim.host.HostConfig``) gives or takes its datapath fields."""
        given = {k: v for k, v in fields.items() if v is not None}
        if config is None:
            return cls(**given)
        if not isinstance(config, DatapathConfig):
            raise TypeError(f"config must be a DatapathConfig, got {type(config).__name__}")
        if type(config) is cls:
            return dataclasses.replace(config, **given) if given else config
        names = {f.name for f in dataclasses.fields(cls)}
        base = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                if f.name in names}
        return cls(**{**base, **given})

    def datapath(self) -> DatapathConfig:
        """The datapath fields alone (a subclass adds fields of its own)."""
        return DatapathConfig.of(self)

    @property
    def acc_range(self) -> tuple[int, int]:
        """Inclusive range of the accumulator."""
        return acc_range(self.acc_width)
