"""The port signature of every processing element, and of its product units.

``PESignature`` is a ``wiring.Signature`` shared by every PE kind (the
radix-4 ``hw.pe.ProcessingElement``, the baselines of ``hw.baselines``, the
synthesis black box).  Members, which are also the Verilog port names:

============  ====  ==============================================================
``a``         In    ``lanes`` operand lanes, ``ArrayLayout(lane_shape, lanes)``
``a_fmt``     In    A-format select, ``a_select_width`` bits (absent when 0)
``b``         In    as ``a``
``b_fmt``     In    B-format select, ``b_select_width`` bits (absent when 0)
``a_scale``   In    A's side operand of this beat, ``a_scale_width`` bits (absent
                    when 0): the block-scaled PEs' scale field (``model.block_hw``)
``b_scale``   In    as ``a_scale``, for B
``valid``     In    a beat: add its products
``clear``     In    start a new sum (with ``valid``: the sum is this beat's)
``acc``       Out   the accumulator, ``acc_shape``
``overflow``  Out   sticky: a running sum left the accumulator (constant 0 if the
                    PE has no such flag)
============  ====  ==============================================================

A PE kind may add members of its own (``extra``, e.g. ``acc_valid``).
``a_scale``/``b_scale`` are side operands: the array carries them with A's
row and B's column like the codes (skewed, forwarded; ``hw.array``), so
PEs without them (width 0) leave every layout as it was.  With
one lane an ``a`` lane is one 4-bit code and the Verilog ports are exactly
the flat ones of before (``a`` is 4 bits wide).  ``operand_members`` is the
operand part, which the product units (``hw.product``,
``hw.product_pipeline``) use for their inputs.

Besides the signature, every PE class declares ``latency`` (cycles from a
beat's operands to ``acc`` showing its sum) and ``lanes``; the array reads
both, and its layouts, from the PEs it builds (``hw.grid``).
"""

from amaranth.hdl import Shape, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model.config import DEFAULT_ACC_WIDTH
from model.hw_vocab import lane_width, select_width

__all__ = ["PESignature", "operand_members", "SIDE_OPERANDS", "format_operand_members", "default_pe_signature",
           "OPERANDS", "CONTROLS"]

OPERANDS = ("a", "a_fmt", "b", "b_fmt")
# Side operand -> the operand it travels with through the array.
SIDE_OPERANDS = {"a_scale": "a", "b_scale": "b"}
CONTROLS = ("valid", "clear")


def operand_members(lane_shape, lanes: int, a_select_width: int, b_select_width: int) -> dict:
    """The operand members ``a``, ``a_fmt``, ``b``, ``b_fmt`` (a select of
    width 0 is left out: a side with one format needs none)."""
    lane = data.ArrayLayout(lane_shape, lanes)
    members = {"a": In(lane), "b": In(lane)}
    if a_select_width:
        members["a_fmt"] = In(a_select_width)
    if b_select_width:
        members["b_fmt"] = In(b_select_width)
    return {name: members[name] for name in OPERANDS if name in members}


def format_operand_members(lanes: int = 1) -> dict:
    """The operand members of the radix-4 datapath: lanes and selects sized
    by the format table (``model.hw_vocab``) when called."""
    return operand_members(lane_width(), lanes, select_width("a"), select_width("b"))


class PESignature(wiring.Signature):
    """Ports of a PE (module docstring)."""

    def __init__(self, *, lane_shape, lanes: int = 1, a_select_width: int, b_select_width: int,
                 acc_shape, extra: dict | None = None, a_scale_width: int = 0,
                 b_scale_width: int = 0):
        self.lane_shape = Shape.cast(lane_shape)
        self.lanes = lanes
        self.a_select_width, self.b_select_width = a_select_width, b_select_width
        self.a_scale_width, self.b_scale_width = a_scale_width, b_scale_width
        self.acc_shape = Shape.cast(acc_shape)
        self.extra = dict(extra or {})
        sides = {name: In(width) for name, width in (("a_scale", a_scale_width),
                                                      ("b_scale", b_scale_width)) if width}
        super().__init__({
            **operand_members(self.lane_shape, lanes, a_select_width, b_select_width),
            **sides,
            "valid": In(1), "clear": In(1),
            "acc": Out(self.acc_shape), "overflow": Out(1),
            **self.extra,
        })

    @classmethod
    def from_formats(cls, acc_width: int, lanes: int = 1) -> "PESignature":
        """The radix-4 PE's signature: lanes and selects sized by the format
        table (``model.hw_vocab``), a signed ``acc_width``-bit accumulator."""
        return cls(lane_shape=lane_width(), lanes=lanes, a_select_width=select_width("a"),
                   b_select_width=select_width("b"), acc_shape=signed(acc_width))

    @property
    def operand_shape(self) -> data.ArrayLayout:
        """Shape of ``a`` and ``b``: ``lanes`` lanes of ``lane_shape``."""
        return data.ArrayLayout(self.lane_shape, self.lanes)

    @property
    def operand_width(self) -> int:
        """Bits of ``a`` (and of ``b``)."""
        return self.lanes * self.lane_shape.width

    @property
    def acc_width(self) -> int:
        return self.acc_shape.width

    def selects(self) -> dict:
        """The format selects this PE has (``a_fmt``/``b_fmt`` -> width; a
        PE with one format per side has none, and the array's layouts then
        leave them out rather than carry zero-width fields)."""
        return {name: width for name, width in (("a_fmt", self.a_select_width),
                                                ("b_fmt", self.b_select_width)) if width}

    def side_width(self, name: str) -> int:
        """Bits of side operand ``name`` (``a_scale``/``b_scale``; 0: absent)."""
        return {"a_scale": self.a_scale_width, "b_scale": self.b_scale_width}[name]

    def _key(self):
        return (self.lane_shape, self.lanes, self.a_select_width, self.b_select_width,
                self.acc_shape, self.a_scale_width, self.b_scale_width,
                tuple(self.extra.items()))

    def __eq__(self, other):
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self):
        return hash((type(self), self._key()[:-1], tuple(self.extra)))

    def __repr__(self):
        return (f"PESignature(lane_shape={self.lane_shape!r}, lanes={self.lanes}, "
                f"a_select_width={self.a_select_width}, b_select_width={self.b_select_width}, "
                f"acc_shape={self.acc_shape!r}"
                + (f", a_scale_width={self.a_scale_width}, b_scale_width={self.b_scale_width}"
                   if self.a_scale_width or self.b_scale_width else "")
                + (f", extra={self.extra!r}" if self.extra else "") + ")")


def default_pe_signature(lanes: int = 1) -> PESignature:
    """The radix-4 PE's signature (``lanes`` lanes, the format table's widths), for
    operand layouts asked for without a PE (the accumulator does not matter there)."""
    return PESignature.from_formats(DEFAULT_ACC_WIDTH, lanes)
