"""Every payload layout the vocabulary can produce, against a bit-by-bit reference.

A field may cross a 64-bit word boundary by any number of bits, including
exactly one (issue 24: the mutant ``s + width > WORD_BITS + 1`` in
``hw.codec._get_bits`` survived every other test), and a signed lane may be
up to 64 bits wide.  The reference packs a payload one bit at a time into a
Python int, so it shares nothing with ``LayoutCodec``'s word arithmetic.
"""

import numpy as np
import pytest
from amaranth.lib import data

from hw.array import input_layout
from hw.drain import output_layout
from hw.codec import WORD_BITS, Lanes, LayoutCodec, stream_lanes
from model.config import ACC_WIDTH_MAX, ACC_WIDTH_MIN, acc_range


def reference_pack(codec: LayoutCodec, values: dict) -> int:
    """One payload, one bit at a time (two's complement for signed lanes)."""
    word = 0
    for name, f in codec.fields.items():
        lanes = values[name] if f.lanes else [values[name]]
        for i, v in enumerate(lanes):
            base = f.offset + i * f.lane_width
            for bit in range(f.lane_width):
                if (int(v) >> bit) & 1:           # Python ints sign-extend forever
                    word |= 1 << (base + bit)
    return word


def random_values(codec: LayoutCodec, rng, n: int) -> dict:
    """n payloads; every lane's values include its two extremes and 0."""
    out = {}
    for name, f in codec.fields.items():
        lo, hi = f._range(f.lane_width)
        count = (n, f.lanes) if f.lanes else (n,)
        edges = np.array([lo, hi, 0, lo + 1, hi - 1, -1 if f.signed else 1], dtype=object)
        vals = np.array([int(x) for x in rng.integers(lo, hi, size=count, endpoint=True)
                         .reshape(-1)] if f.lane_width < 63 else
                        [int(rng.integers(0, 1 << 62)) * rng.choice([-1, 1]) if f.signed
                         else int(rng.integers(0, 1 << 62)) * 4 + int(rng.integers(0, 4))
                         for _ in range(int(np.prod(count)))], dtype=object).reshape(count)
        flat = vals.reshape(-1)
        flat[:len(edges)] = edges[:len(flat)]
        dtype = np.uint64 if not f.signed and f.lane_width == 64 else np.int64
        out[name] = vals.astype(dtype)
    return out


def layouts():
    """(name, codec) of the array's stream layouts over the vocabulary's range."""
    for width in range(ACC_WIDTH_MIN, ACC_WIDTH_MAX + 1):
        for rows, cols in ((1, 1), (4, 1), (1, 3), (2, 2), (8, 8), (3, 5)):
            yield f"out-{rows}x{cols}-w{width}", output_layout(rows, cols, width)
    for rows, cols in ((1, 1), (4, 1), (8, 8), (16, 16), (5, 3)):
        yield f"in-{rows}x{cols}", input_layout(rows, cols)


LAYOUTS = list(layouts())


@pytest.mark.parametrize("name,layout", LAYOUTS, ids=[n for n, _ in LAYOUTS])
def test_words_match_bit_reference(name, layout):
    codec = LayoutCodec(layout, stream_lanes(layout))
    rng = np.random.default_rng(abs(hash(name)) % (1 << 32))
    values = random_values(codec, rng, 24)
    words = codec.pack_words(values)
    ints = [reference_pack(codec, {k: v[i] for k, v in values.items()}) for i in range(24)]
    assert codec.words_to_ints(words) == ints
    back = codec.unpack_words(codec.ints_to_words(ints))
    for field, v in values.items():
        assert [int(x) for x in np.asarray(back[field]).reshape(-1)] == \
            [int(x) for x in v.reshape(-1)], field


def test_field_crossing_a_word_by_one_bit():
    """Directed: a signed 62-bit lane at bit 2 ends at bit 64, one past word 0."""
    layout = data.StructLayout({"pad": 2, "x": data.ArrayLayout(62, 1), "tail": 1})
    codec = LayoutCodec(layout, {"x": Lanes(62, signed=True)})
    lo, hi = acc_range(62)
    for v in (lo, hi, -1, 0, 1, lo + 1):
        words = codec.pack_words({"x": np.array([[v]], dtype=np.int64), "tail": 1})
        assert codec.unpack_words(words)["x"][0, 0] == v
        assert codec.words_to_ints(words)[0] == reference_pack(codec, {"pad": 0, "x": [v], "tail": 1})
    assert WORD_BITS == 64
