"""hw.codec against a hand-written bit-level reference.

The reference builds a payload as a list of bits, field after field in
declaration order (the StructLayout rule), each value as its two's-complement
bits; it shares no code with the codec.  A tiny layout is checked
exhaustively, a wide one (lanes straddling 64-bit words, a 200-bit field)
with Hypothesis, and the real stream layouts with hand-placed values.
"""

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from hypothesis import given, settings, strategies as st

from hw.accel import job_layout, load_layout
from hw.array import input_layout, output_layout
from hw.codec import Lanes, LayoutCodec, c_header, stream_lanes

# (name, lane count (0: no lanes), lane width, signed) in declaration order
TINY = [("x", 0, 2, False), ("y", 2, 2, True), ("z", 0, 1, False)]
WIDE = [("f", 0, 3, False), ("d", 3, 30, True), ("s", 0, 7, True), ("big", 0, 70, False),
        ("n", 5, 4, False), ("q", 2, 64, True), ("u", 1, 64, False)]


def make_layout(spec):
    fields, lanes = {}, {}
    for name, n, w, sgn in spec:
        if n and name == "y":                       # one field as an ArrayLayout
            fields[name] = data.ArrayLayout(signed(w) if sgn else unsigned(w), n)
        elif n:
            fields[name] = n * w
            lanes[name] = Lanes(w, sgn)
        else:
            fields[name] = signed(w) if sgn else unsigned(w)
    return data.StructLayout(fields), lanes


def ref_pack(spec, values):
    bits = []
    for name, n, w, _ in spec:
        for v in (values[name] if n else [values[name]]):
            bits += [(v >> i) & 1 for i in range(w)]     # Python >> is two's complement
    return sum(b << i for i, b in enumerate(bits))


def value_strategy(n, w, sgn):
    one = st.integers(-(1 << (w - 1)), (1 << (w - 1)) - 1) if sgn else st.integers(0, (1 << w) - 1)
    return st.lists(one, min_size=n, max_size=n) if n else one


def payloads(spec):
    return st.fixed_dictionaries({name: value_strategy(n, w, s) for name, n, w, s in spec})


def test_tiny_layout_exhaustive():
    layout, lanes = make_layout(TINY)
    codec = LayoutCodec(layout, lanes)
    assert codec.size == 7
    seen = set()
    for x in range(4):
        for y0 in range(-2, 2):
            for y1 in range(-2, 2):
                for z in range(2):
                    vals = {"x": x, "y": [y0, y1], "z": z}
                    word = codec.pack(vals)
                    assert word == ref_pack(TINY, vals)
                    assert codec.unpack(word) == {"x": x, "y": (y0, y1), "z": z}
                    seen.add(word)
    assert seen == set(range(128))
    # the vectorised path over all 128 words at once
    words = codec.ints_to_words(range(128))
    fields = codec.unpack_words(words)
    assert np.array_equal(codec.pack_words(fields), words)
    assert codec.words_to_ints(codec.from_hex(codec.to_hex(words))) == list(range(128))


@settings(max_examples=150, deadline=None)
@given(st.lists(payloads(WIDE), min_size=1, max_size=6))
def test_wide_layout_round_trip(rows):
    layout, lanes = make_layout(WIDE)
    codec = LayoutCodec(layout, lanes)
    ref = [ref_pack(WIDE, v) for v in rows]
    assert [codec.pack(v) for v in rows] == ref
    for v, word in zip(rows, ref):
        got = codec.unpack(word)
        assert got == {k: tuple(x) if isinstance(x, list) else x for k, x in v.items()}
    cols = {name: (np.array([r[name] for r in rows], dtype=object) if name == "big"
                   else np.array([r[name] for r in rows],
                                 dtype=np.uint64 if (w == 64 and not s) else np.int64))
            for name, n, w, s in WIDE}
    words = codec.pack_words(cols)
    assert codec.words_to_ints(words) == ref
    back = codec.unpack_words(words)
    for name, *_ in WIDE:
        assert np.array_equal(back[name], cols[name]), name
    assert codec.words_to_ints(codec.from_hex(codec.to_hex(words))) == ref


def test_range_and_shape_errors():
    layout, lanes = make_layout(TINY)
    codec = LayoutCodec(layout, lanes)
    for bad in ({"x": 4}, {"x": -1}, {"y": [2, 0]}, {"y": [0, -3]}, {"y": [0]}):
        with pytest.raises(ValueError):
            codec.pack(bad)
    with pytest.raises(ValueError):
        codec.pack_words({"y": np.array([[0, 2]])})
    with pytest.raises(KeyError):
        codec.pack(w=1)
    with pytest.raises(ValueError):
        codec.unpack(1 << 7)
    with pytest.raises(ValueError):
        LayoutCodec(data.StructLayout({"a": 10}), {"a": Lanes(4)})      # 4 does not divide 10
    with pytest.raises(ValueError):
        LayoutCodec(layout, {"nope": Lanes(1)})


def test_from_hex_rejects_unknown_bits_and_skips_markers():
    codec = LayoutCodec(data.StructLayout({"v": 10}))
    assert codec.words_to_ints(codec.from_hex("// c\n@0\n3ff\n 1 \n")) == [0x3FF, 1]
    for bad in ("xff\n", "12z\n", "7ff\n", "1000\n"):
        with pytest.raises(ValueError):
            codec.from_hex(bad)
    assert codec.to_hex(codec.ints_to_words([0x3FF, 5])) == b"3ff\n005\n"


def test_output_layout_hand_placed():
    # docs/hardware.md: data (cols x W, column 0 lowest), overflow (cols), row, last
    rows, cols, w = 3, 2, 20
    codec = LayoutCodec(output_layout(rows, cols, w), stream_lanes(output_layout(rows, cols, w)))
    vals = [-(1 << 19), (1 << 19) - 1]
    word = (vals[0] & 0xFFFFF) | (vals[1] & 0xFFFFF) << 20 | 0b01 << 40 | 2 << 42 | 1 << 44
    assert codec.unpack(word) == {"data": tuple(vals), "overflow": (1, 0), "row": 2, "last": 1}
    assert codec.pack(data=vals, overflow=[1, 0], row=2, last=1) == word
    f = codec.unpack_words(codec.ints_to_words([word]))
    assert f["data"].tolist() == [vals] and f["overflow"].tolist() == [[1, 0]]


def test_operand_lanes_follow_rows_and_columns():
    rows, cols = 3, 2
    for layout in (input_layout(rows, cols), load_layout(rows, cols)):
        codec = LayoutCodec(layout, stream_lanes(layout))
        a, b = codec.field("a"), codec.field("b")
        assert (a.lanes, a.lane_width, b.lanes, b.lane_width) == (rows, 4, cols, 4)
        word = codec.pack(a=[1, 2, 3], b=[0xE, 0xF])
        assert (word >> a.offset) & 0xFFF == 0x321 and (word >> b.offset) & 0xFF == 0xFE
    job = LayoutCodec(job_layout(8))
    assert job.unpack(job.pack(k=8, emit=1))["k"] == 8


def test_c_header_lists_every_field():
    layout, lanes = make_layout(WIDE)
    codec = LayoutCodec(layout, lanes)
    text = c_header({"t": codec}, "T_H", {"EXTRA": 3})
    assert f"#define T_WIDTH {codec.size}u" in text and "#define EXTRA 3u" in text
    for name, f in codec.fields.items():
        assert f"#define T_{name.upper()}_LSB {f.offset}u" in text
        assert f"#define T_{name.upper()}_WIDTH {f.width}u" in text
    assert "#define T_D_LANES 3u" in text and "#define T_D_LANE_WIDTH 30u" in text


def test_harness_header_compiles_and_matches_the_layouts(tmp_path):
    """The C++ harness's header (sim.cxx_layout) agrees with the Amaranth layouts."""
    import shutil
    import subprocess

    from sim.cxx_layout import HEADER_NAME, array_header

    gxx = shutil.which("g++")
    if gxx is None:
        pytest.fail("g++ is needed to build the C++ reference harness")
    rows, cols, w = 3, 5, 20
    (tmp_path / HEADER_NAME).write_text(array_header(rows, cols, w))
    checks = [f'#include "{HEADER_NAME}"']
    for prefix, layout in (("IN", input_layout(rows, cols)), ("OUT", output_layout(rows, cols, w))):
        checks.append(f"static_assert({prefix}_WIDTH == {layout.size}, \"{prefix} width\");")
        for name, f in layout:
            q = f"{prefix}_{name.upper()}"
            checks.append(f"static_assert({q}_LSB == {f.offset} && {q}_WIDTH == {f.width}, "
                          f"\"{q}\");")
    checks += ["static_assert(IN_A_LANES == 3 && IN_B_LANES == 5, \"operand lanes\");",
               "static_assert(OUT_DATA_LANES == 5 && OUT_DATA_LANE_WIDTH == 20, \"sum lanes\");",
               "int main() { return RADIX4_A_FMT_CODES[0] + RADIX4_B_FMT_CODES[0]; }"]
    src = tmp_path / "check.cpp"
    src.write_text("\n".join(checks) + "\n")
    proc = subprocess.run([gxx, "-std=c++17", "-fsyntax-only", "-I", str(tmp_path), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
