"""Verilog text shared by the property wrappers: the reference product.

The reference is written independently of ``hw.pe``: each operand's integer
value is a literal case table of the golden model's ``int_value_table`` (one
entry per 4-bit pattern and format, SPEC 1.1/1.2), and the product is a plain
signed multiply.  The RTL instead sign/zero-extends integer codes and *shifts*
for FP4, so a proof of equality compares two different constructions.
Select codes no format uses give 0 (the RTL's documented behaviour).
"""

from model.formats import FORMATS, int_value_table
from model.hw_vocab import select_width, side_formats

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


# DATA_CHECK (off by default, ``wrapper(..., data=True)``): the BMC wrappers
# can also compare every output row's sums and flags with the reference.
# Measured: with it, smtbmc (yices and z3 alike) did not finish BMC step 7 of
# the 2x2 array in 5 minutes even with B restricted as below; without it,
# depth 10 takes 6 s.  The sums are therefore left to the PE proof (product
# and accumulator, unbounded) and to simulation (tests/, verif/: every row
# against the golden model); the BMC proves the control: order, counts,
# stream rules, bounded delivery, state-only ready.
#
# B nibbles the BMC wrappers allow: 0, 1 and 15 (int4 -1, uint4 15).  The
# product itself is proved for every operand pair by the PE task; in the
# array and tile BMC a free 5x5 multiplier compared against the reference
# multiply over several accumulated beats is a multiplier-equivalence SAT
# problem that did not finish a single step in 10 minutes.  With B in this
# set each product is a negation or a small constant multiple of A, A stays
# free in every format, any two lanes can still differ (routing errors stay
# visible), and three 4096 x 15 products overflow W = 18 (flags exercised).
B_NIBBLES = (0, 1, 15)


def b_restriction(payload: str, offset: int, lanes: int) -> str:
    """``assume`` that every B lane of ``payload`` (at ``offset``) is in B_NIBBLES."""
    lines = []
    for c in range(lanes):
        lane = f"{payload}[{offset + 4 * c + 3}:{offset + 4 * c}]"
        lines.append("  always @(*) assume (" + " || ".join(f"{lane} == 4'd{v}" for v in B_NIBBLES)
                     + ");")
    return "\n".join(lines) + "\n"
