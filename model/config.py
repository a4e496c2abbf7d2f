"""The datapath configuration: one object, validated once, carried everywhere.

``DatapathConfig(rows, cols, acc_width, depth, pe_latency, lanes, pe, pe_model)``
describes a tile: the array's rows and columns, the accumulator width (SPEC 2), the
operand bank depth (beats per job), the PE's latency, its dot-product
lanes (SPEC 2: a PE of ``k`` lanes adds ``k`` products per cycle), its
kind (``pe``: ``radix4``, the default, or a kind ``hw.pe_kinds`` registers)
and, for simulation only, what stands for each k-lane PE (``pe_model``:
``rtl``, the synthesizable PE, or ``proved``, its word-level model that
``make formal`` proves equal to it; ``PROVED_PE_MODELS``).  It is
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .hw_vocab import product_width

__all__ = ["DatapathConfig", "ConfigError", "acc_range", "check_acc_width",
           "DIM_MAX", "DEPTH_MIN", "DEPTH_MAX", "ACC_WIDTH_MIN", "ACC_WIDTH_MAX",
           "PE_LATENCIES", "SUPPORTED_LANES", "LANES_MAX", "check_lanes",
           "DEFAULT_ROWS", "DEFAULT_COLS", "DEFAULT_ACC_WIDTH", "DEFAULT_DEPTH",
           "DEFAULT_PE_LATENCY", "DEFAULT_LANES", "DESIGN_LANES",
           "DOT_ROW_LEVELS", "dot_levels", "pe_latencies", "default_pe_latency",
           "DEFAULT_PE", "PeRule", "register_pe_kind", "pe_rule", "PE_MODELS",
           "PROVED_PE_MODELS", "check_pe_model"]

DIM_MAX = 64                  # rows/cols (16x16 is the largest tested size)
DEPTH_MIN, DEPTH_MAX = 2, 1 << 16
# SPEC 2: one accumulator range everywhere (golden model, RTL, every command).
ACC_WIDTH_MIN, ACC_WIDTH_MAX = 18, 64
# The one-lane PE's latencies (``hw.pe.ProcessingElement``); a k-lane PE
# (``hw.dot_pe.DotProductPE``) takes ``pe_latencies(k)``.
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
# Two lane counts, each said here once (docs/architecture.md, "The default k"):
# what every command and DatapathConfig builds without ``--lanes``, and the
# design's measured choice (docs/lanes.md), which hardware reports, the
# lanes benchmarks and ``hw.dot_pe.DotProductPE()`` use.  They differ because a
# simulated 8-lane tile costs minutes of generation and build per command.
DEFAULT_LANES = 1
DESIGN_LANES = 8
# Adder levels of one lane's rows in the k-lane PE (``hw.dot_rows.LanePlan``:
# three rows, two levels); ``hw.dot_pe`` checks it against its plan at import.
DOT_ROW_LEVELS = 2
# A k-lane PE puts at most this many adder levels in one pipeline stage by default.
DOT_LEVELS_PER_STAGE = 2


def dot_levels(lanes: int) -> int:
    """Adder levels of a ``lanes``-lane PE: a lane's rows, then the lane products."""
    return DOT_ROW_LEVELS + max(0, check_lanes(lanes) - 1).bit_length()


def pe_latencies(lanes: int = DEFAULT_LANES, pe: str = None) -> tuple[int, ...]:
    """The PE latencies a ``lanes``-lane array takes: ``PE_LATENCIES`` for one
    lane (``hw.pe``), 3 (the whole tree in one stage) .. 2 + levels (one
    adder level a stage) for a k-lane PE (``hw.dot_pe``); another kind's
    are its class's (``pe_rule``)."""
    if pe not in (None, DEFAULT_PE):
        return tuple(pe_rule(pe).latencies(check_lanes(lanes)))
    if check_lanes(lanes) == 1:
        return PE_LATENCIES
    return tuple(range(3, 3 + dot_levels(lanes)))


def default_pe_latency(lanes: int = DEFAULT_LANES, pe: str = None) -> int:
    """``DEFAULT_PE_LATENCY`` for one lane; ``2 + ceil(levels / 2)`` (at most
    two adder levels a stage) for a k-lane PE (docs/lanes.md: 5 for 8 lanes);
    another kind's: its class's (``pe_rule``)."""
    if pe not in (None, DEFAULT_PE):
        return int(pe_rule(pe).default_latency(check_lanes(lanes)))
    if check_lanes(lanes) == 1:
        return DEFAULT_PE_LATENCY
    return 2 + -(-dot_levels(lanes) // DOT_LEVELS_PER_STAGE)


# PE kinds.  The radix-4 PE (``hw.pe`` / ``hw.dot_pe``) is the default and its
# latency rule is stated above.  Every other kind (the block-scaled PEs, the
# cost baselines) is a PE class that owns its latencies; ``hw.pe_kinds``
# registers each class's rule here when imported (model does not import hw),
# so ``DatapathConfig(pe=...)`` validates against the class itself.
DEFAULT_PE = "radix4"


@dataclass(frozen=True)
class PeRule:
    """What ``DatapathConfig`` asks of a PE kind: its latencies for ``lanes``
    lanes, its default latency, and its accumulator width (None: any in SPEC
    2's range; an int: that width only)."""

    latencies: Callable[[int], Sequence[int]]
    default_latency: Callable[[int], int]
    acc_width: int | None = None


_PE_RULES: dict[str, PeRule] = {}


def register_pe_kind(name: str, rule: PeRule) -> None:
    """Register (or re-register, idempotently) the rule of PE kind ``name``."""
    if name == DEFAULT_PE:
        raise ValueError(f"{DEFAULT_PE!r} is the built-in PE kind")
    _PE_RULES[name] = rule


def pe_rule(name: str) -> PeRule:
    """The registered rule of PE kind ``name`` (ConfigError when unknown)."""
    try:
        return _PE_RULES[name]
    except (KeyError, TypeError):
        known = ", ".join([DEFAULT_PE, *_PE_RULES])
        raise ConfigError("pe", f"must be a PE kind ({known}; import hw.pe_kinds for the "
                                f"others), got {name!r}") from None


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
    # None: DEFAULT_ACC_WIDTH, or the PE kind's own width (set in __post_init__).
    acc_width: int | None = None
    depth: int = DEFAULT_DEPTH
    # None: the default for the lanes (``default_pe_latency``), set in __post_init__.
    pe_latency: int | None = None
    lanes: int = DEFAULT_LANES
    pe: str = DEFAULT_PE
    pe_model: str = "rtl"

    def __post_init__(self):
        # Refused here, before any build directory, lock or simulator exists.
        for name in ("rows", "cols"):
            rule = f"in 1..{DIM_MAX}"
            value = _int(name, getattr(self, name), rule)
            if not 1 <= value <= DIM_MAX:
                raise ConfigError(name, f"must be {rule}, got {value}")
            object.__setattr__(self, name, value)
        rule = None if self.pe == DEFAULT_PE else pe_rule(self.pe)
        fixed = rule.acc_width if rule is not None else None
        if self.acc_width is None:
            object.__setattr__(self, "acc_width", fixed or DEFAULT_ACC_WIDTH)
        object.__setattr__(self, "acc_width", check_acc_width(self.acc_width))
        if fixed is not None and self.acc_width != fixed:
            raise ConfigError("acc_width", f"must be {fixed} for the {self.pe} PE, "
                                           f"got {self.acc_width}")
        rule = f"a power of two in {DEPTH_MIN}..{DEPTH_MAX}"
        depth = _int("depth", self.depth, rule)
        if not DEPTH_MIN <= depth <= DEPTH_MAX or depth & (depth - 1):
            raise ConfigError("depth", f"must be {rule}, got {depth}")
        object.__setattr__(self, "depth", depth)
        lanes = self.lanes
        if isinstance(lanes, bool) or lanes not in SUPPORTED_LANES:
            raise ConfigError("lanes", f"must be one of {', '.join(map(str, SUPPORTED_LANES))} "
                                       f"(the lane counts the RTL implements), got {lanes!r}")
        object.__setattr__(self, "lanes", int(lanes))
        if self.pe_latency is None:
            object.__setattr__(self, "pe_latency", default_pe_latency(self.lanes, self.pe))
        allowed, latency = pe_latencies(self.lanes, self.pe), self.pe_latency
        if isinstance(latency, bool) or latency not in allowed:
            what = f" for {self.lanes} lanes" if self.lanes != 1 else ""
            if self.pe != DEFAULT_PE:
                what += f" {'of' if what else 'for'} the {self.pe} PE"
            raise ConfigError("pe_latency", f"must be one of {', '.join(map(str, allowed))}"
                                            f"{what}, got {latency!r}")
        object.__setattr__(self, "pe_latency", int(latency))
        check_pe_model(self.pe_model, self.pe, self.lanes, self.pe_latency, self.acc_width)

    @classmethod
    def of(cls, config: DatapathConfig | None = None, **fields) -> DatapathConfig:
        """A ``cls`` from ``config`` (default: the defaults) with the fields that
        are not None replaced.  ``config`` may be any ``DatapathConfig``: a
        subclass (``sim.host.HostConfig``) gives or takes its datapath fields.
        The latency follows the lanes: when ``lanes`` changes and
        ``pe_latency`` is not given, the new lanes' default latency is taken."""
        given = {k: v for k, v in fields.items() if v is not None}
        if config is None:
            return cls(**given)
        if not isinstance(config, DatapathConfig):
            raise TypeError(f"config must be a DatapathConfig, got {type(config).__name__}")
        for field in ("lanes", "pe"):
            if field in given and "pe_latency" not in given \
                    and given[field] != getattr(config, field):
                given["pe_latency"] = None
        if "pe" in given and "acc_width" not in given and given["pe"] != config.pe:
            given["acc_width"] = None
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


# What the simulated array is built of (``DatapathConfig.pe_model``):
# ``rtl``: the synthesizable PE (bit level: rows, Booth digits, tree), which
# ``radix4 verilog``, synthesis and every build not asking otherwise use;
# ``proved``: the word-level model of the k-lane radix-4 PE (``hw.dot_pe_model``:
# a value table and one multiply per lane, a delay line, the accumulator),
# which SymbiYosys proves equal to ``hw.dot_pe.DotProductPE`` cycle for cycle
# (``acc`` and ``overflow``, every input free every cycle, reset too).
PE_MODELS = ("rtl", "proved")

# The (lanes, pe_latency, acc_width) configurations of the k-lane PE that
# ``make formal`` proves equal to the model (one task each,
# ``verif.formal.run``): the model may stand in for the PE there and nowhere
# else.  W = 18 lets one group overflow; W = 32 is the CLI's default.
# Latencies: the default for the lanes (``default_pe_latency``).
PROVED_PE_MODELS = tuple((k, default_pe_latency(k), w)
                         for k, w in ((2, 18), (4, 18), (8, 18), (2, 32), (8, 32)))


def check_pe_model(pe_model, pe: str, lanes: int, pe_latency: int, acc_width: int) -> str:
    """``pe_model`` if this PE may be simulated that way, else ConfigError."""
    if pe_model not in PE_MODELS:
        raise ConfigError("pe_model", f"must be one of {', '.join(PE_MODELS)}, got {pe_model!r}")
    if pe_model == "proved" and (pe != DEFAULT_PE
                                 or (lanes, pe_latency, acc_width) not in PROVED_PE_MODELS):
        proved = ", ".join(f"{k} lanes latency {lat} W={w}" for k, lat, w in PROVED_PE_MODELS)
        raise ConfigError("pe_model", f"proved exists only where `make formal` proves it "
                                      f"({proved}; the {DEFAULT_PE} PE), got {lanes} lanes "
                                      f"latency {pe_latency} W={acc_width}"
                                      + ("" if pe == DEFAULT_PE else f" of the {pe} PE"))
    return pe_model
