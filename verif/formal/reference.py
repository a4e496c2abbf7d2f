"""Verilog text shared by the property wrappers: the reference product.

The reference is written independently of ``hw.pe``: each operand's integer
value is a literal case table of the golden model's ``int_value_table`` (one
entry per 4-bit pattern and format, SPEC 1.1/1.2), and the product is a plain
signed multiply.  The RTL instead sign/zero-extends integer codes and *shifts*
for FP4, so a proof of equality compares two different constructions.
Select codes no format uses give 0 (the RTL's documented behaviour).
"""

from model.formats import FORMATS, int_value_table, select_width, side_formats

# Wide enough for any value of the table and any sum the wrappers form.
REF_WIDTH = 40


def _value_function(side: str) -> str:
    sel = select_width(side)
    lines = [f"function automatic signed [{REF_WIDTH - 1}:0] {side}_val;",
             f"  input [{sel - 1}:0] fmt;", "  input [3:0] nib;",
             f"  begin {side}_val = 0;", "    case ({fmt, nib})"]
    for name in side_formats(side):
        code = FORMATS[name].hw_code
        for nib, value in enumerate(int_value_table(name)):
            lines.append(f"      {{{sel}'d{code}, 4'd{nib}}}: {side}_val = "
                         f"{'-' if value < 0 else ''}{REF_WIDTH}'sd{abs(int(value))};")
    lines += ["      default: " + f"{side}_val = 0;", "    endcase", "  end", "endfunction"]
    return "\n".join(lines) + "\n"


def reference_functions() -> str:
    """``a_val(fmt, nib)``, ``b_val(fmt, nib)`` and ``ref_product(a_fmt, a, b_fmt, b)``."""
    sa, sb = select_width("a"), select_width("b")
    return (_value_function("a") + _value_function("b") + f"""\
function automatic signed [{REF_WIDTH - 1}:0] ref_product;
  input [{sa - 1}:0] a_fmt; input [3:0] a; input [{sb - 1}:0] b_fmt; input [3:0] b;
  ref_product = a_val(a_fmt, a) * b_val(b_fmt, b);
endfunction
""")


def in_range(expr: str, width: int) -> str:
    """Verilog condition: the REF_WIDTH-bit signed ``expr`` fits ``width`` signed bits."""
    return (f"(({expr}) >= -{REF_WIDTH}'sd{1 << (width - 1)} && "
            f"({expr}) <= {REF_WIDTH}'sd{(1 << (width - 1)) - 1})")
