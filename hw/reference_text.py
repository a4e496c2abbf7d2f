"""The integer reference of a PE's products, as Verilog text.

Each operand's integer value is a literal table of the golden model's
``int_value_table`` (one slot per 4-bit pattern and format, SPEC 1.1/1.2),
and the product is a plain signed multiply.  The RTL (``hw.pe``,
``hw.dot_pe``) instead sign/zero-extends integer codes and *shifts* for FP4
(rows, Booth digits, a tree), so a proof of equality compares two different
constructions.  Select codes no format uses give 0 (the RTL's documented
behaviour).

Written from ``model`` alone.  It lives in ``hw`` because two users need the
one text: the property wrappers of ``verif.formal`` and the word-level
simulation model of the k-lane PE (``hw.dot_pe_model``), which the
simulator builds use.
"""

from model.formats import FORMATS, int_value_table
from model.hw_vocab import select_width, side_formats

__all__ = ["REF_WIDTH", "reference_functions", "in_range"]

# Wide enough for any value of the table and any sum the wrappers form.
REF_WIDTH = 40


def _value_bits(side: str) -> int:
    """Signed width holding every value of the side's formats."""
    top = max(int(abs(v)) for name in side_formats(side) for v in int_value_table(name))
    return top.bit_length() + 1


def _value_function(side: str) -> str:
    """``{side}_val(fmt, nib)``: slot ``{fmt, nib}`` of a constant vector holding
    the value of every select code and nibble (0 for codes no format uses).

    Indexing a constant, not a ``case``: Verilator compiles a ``case`` to
    branches on the operands, which cost about 40 % of the simulation
    model's time (``perf``, random operands).  Slots are a power of two wide
    so that the index is wiring (``{fmt, nib, 0...}``): with a multiply
    in the index the 2-lane proof took 5x longer."""
    sel, bits = select_width(side), _value_bits(side)
    shift = (bits - 1).bit_length()            # slot = 2**shift >= bits
    entries = [0] * (1 << (sel + 4))
    for name in side_formats(side):
        for nib, value in enumerate(int_value_table(name)):
            entries[(FORMATS[name].hw_code << 4) | nib] = int(value)
    # Slot {fmt, nib} = 0 in the low bits; each a signed literal.
    table = ", ".join(f"{'-' if e < 0 else ''}{1 << shift}'sd{abs(e)}" for e in reversed(entries))
    return f"""\
localparam [{len(entries) << shift} - 1:0] {side.upper()}_VALUES = {{{table}}};
function automatic signed [{bits - 1}:0] {side}_val;
  input [{sel - 1}:0] fmt; input [3:0] nib;
  {side}_val = {side.upper()}_VALUES[{{fmt, nib, {shift}'d0}} +: {bits}];
endfunction
"""


def reference_functions() -> str:
    """``a_val(fmt, nib)``, ``b_val(fmt, nib)`` and ``ref_product(a_fmt, a, b_fmt, b)``."""
    sa, sb = select_width("a"), select_width("b")
    pw = _value_bits("a") + _value_bits("b")
    # The multiply is kept at its natural width (a 40x40 one made the BMC
    # steps minutes each) and sign-extended afterwards.
    return (_value_function("a") + _value_function("b") + f"""\
function automatic signed [{REF_WIDTH - 1}:0] ref_product;
  input [{sa - 1}:0] a_fmt; input [3:0] a; input [{sb - 1}:0] b_fmt; input [3:0] b;
  reg signed [{pw - 1}:0] p;
  begin
    p = a_val(a_fmt, a) * b_val(b_fmt, b);
    ref_product = {{{{({REF_WIDTH}-{pw}){{p[{pw - 1}]}}}}, p}};
  end
endfunction
""")


def in_range(expr: str, width: int) -> str:
    """Verilog condition: the REF_WIDTH-bit signed ``expr`` fits ``width`` signed bits."""
    return (f"(({expr}) >= -{REF_WIDTH}'sd{1 << (width - 1)} && "
            f"({expr}) <= {REF_WIDTH}'sd{(1 << (width - 1)) - 1})")
