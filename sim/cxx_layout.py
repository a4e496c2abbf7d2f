"""The C header of the array's stream layouts for ``sim/cxx/array_harness.cpp``.

Generated from the same Amaranth layouts the RTL, the benches and the driver
use (``hw.codec``), at build time into the harness's build directory by
``sim.reference``, so the C++ side cannot drift from the RTL: a changed field
width or position changes the header, hence the build-cache key, hence the
build.  The header also lists the hardware select codes of the formats each
GEMM side accepts (from ``model.formats``), which the harness draws from.
"""

from __future__ import annotations

from hw.array import input_layout, output_layout
from hw.codec import LayoutCodec, c_header, stream_lanes
from model.formats import FORMATS
from model.hw_vocab import side_formats

__all__ = ["HEADER_NAME", "array_header"]

HEADER_NAME = "radix4_array_layout.h"


def _codes(side: str) -> str:
    codes = ", ".join(f"{FORMATS[n].hw_code}u" for n in side_formats(side))
    return f"static const unsigned RADIX4_{side.upper()}_FMT_CODES[] = {{{codes}}};"


def array_header(rows: int, cols: int, acc_width: int, lanes: int = 1) -> str:
    """Text of ``radix4_array_layout.h``: ``IN_<FIELD>_LSB`` / ``_WIDTH`` etc. for
    ``i__payload`` and ``OUT_...`` for ``o__payload`` (see ``hw.codec.c_header``);
    with PEs of ``lanes`` lanes, ``IN_A_LANES`` is ``rows * lanes`` codes."""
    codecs = {}
    for prefix, layout in (("in", input_layout(rows, cols, lanes=lanes)),
                           ("out", output_layout(rows, cols, acc_width))):
        codecs[prefix] = LayoutCodec(layout, stream_lanes(layout))
    text = c_header(codecs, "RADIX4_ARRAY_LAYOUT_H",
                    {"RADIX4_A_FMT_COUNT": len(side_formats("a")),
                     "RADIX4_B_FMT_COUNT": len(side_formats("b")),
                     "RADIX4_PE_LANES": lanes})
    body = "\n".join([_codes("a"), _codes("b"), ""])
    return text.replace("\n#endif", "\n" + body + "\n#endif", 1)
