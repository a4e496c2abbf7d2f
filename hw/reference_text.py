"""The integer reference of a PE's products, as Verilog text.

Each operand's integer value is a literal case table of the golden model's
``int_value_table`` (one entry per 4-bit pattern and format, SPEC 1.1/1.2),
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
    sel, bits = select_width(side), _value_bits(side)
    lines = [f"function automatic signed [{bits - 1}:0] {side}_val;",
             f"  input [{sel - 1}:0] fmt;", "  input [3:0] nib;",
             # A comment to every other tool; Verilator keeps the table one C++
             # function instead of expanding it at each call (each lane of each PE
             # of the simulation model): 4x less C++ for a 2x2 array of 8 lanes.
             "  /*verilator no_inline_task*/",
             f"  begin {side}_val = 0;", "    case ({fmt, nib})"]
    for name in side_formats(side):
        code = FORMATS[name].hw_code
        for nib, value in enumerate(int_value_table(name)):
            lines.append(f"      {{{sel}'d{code}, 4'd{nib}}}: {side}_val = "
                         f"{'-' if value < 0 else ''}{bits}'sd{abs(int(value))};")
    lines += ["      default: " + f"{side}_val = 0;", "    endcase", "  end", "endfunction"]
    return "\n".join(lines) + "\n"


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
