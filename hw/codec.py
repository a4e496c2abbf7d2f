"""Pack and unpack stream payloads by their Amaranth layouts.

The RTL's stream payloads are ``amaranth.lib.data.StructLayout``s (the
array's ``input_layout`` / ``output_layout``, the tile's ``job_layout`` /
``load_layout``).  Benches, tests, the driver and the C++ harness all need the
same bit positions; this module is the one place that turns a layout into
them, so a field whose width or position changes (a wider format select, a new
field) needs no edit in any user.

A field is either one value or a row of equal *lanes* (``a``: one 4-bit code
per array row, ``data``: one ACC_WIDTH sum per column, ``overflow``: one bit
per column).  Lanes come from an ``ArrayLayout`` field shape or from the
``lanes`` argument; :func:`stream_lanes` gives the project's stream fields.

Two interfaces, same bits:

- scalar, for cocotb benches: ``pack({"a": [..], "first": 1}) -> int`` and
  ``unpack(int) -> {"a": (..), "first": 1}``;
- vectorised, for the driver: ``pack_words({"a": (n, lanes) array, ...})``
  gives an ``(n, n_words)`` ``uint64`` array, little-endian 64-bit words, so
  fields of any width (an 8x8 ``data`` field is 256 bits) stay in NumPy;
  ``unpack_words`` reverses it, ``to_hex`` / ``from_hex`` convert to and
  from ``$readmemh`` / ``$writememh`` text.  A lane may be up to 64 bits.

Imports only amaranth and model (hw modules may use it without a cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from model.hw_vocab import lane_width

__all__ = ["Lanes", "LayoutCodec", "stream_lanes", "c_header", "WORD_BITS"]

WORD_BITS = 64
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Both hex digits of every byte value as one uint16 whose memory bytes are
# (high digit, low digit) on a little-endian machine.
_HEX2 = (_HEX[np.arange(256) >> 4].astype("<u2") | _HEX[np.arange(256) & 15].astype("<u2") << 8)
_UNHEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _UNHEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _UNHEX[_c] = 10 + _i


@dataclass(frozen=True)
class Lanes:
    """A field made of equal lanes of ``width`` bits, lane 0 at the field's LSB."""
    width: int
    signed: bool = False


@dataclass(frozen=True)
class FieldInfo:
    name: str
    offset: int
    width: int
    lanes: int            # 0: a single value (no lanes)
    lane_width: int       # == width when lanes == 0
    signed: bool

    def _range(self, width):
        if self.signed:
            return -(1 << (width - 1)), (1 << (width - 1)) - 1
        return 0, (1 << width) - 1


def stream_lanes(layout: data.StructLayout, pe=None) -> dict[str, Lanes]:
    """Lanes of the project's stream fields present in ``layout``.

    ``a`` / ``b``: one operand lane (``model.hw_vocab.lane_width``) per array
    row / column; ``a_scale`` / ``b_scale`` (a block-scaled PE's side
    operands, ``hw.pe_signature``): one scale field per row / column, of the
    width the PE's signature ``pe`` gives; ``overflow``: one
    flag per column; ``data``: one signed sum per column, so its lane width is
    ``data`` width / ``overflow`` width (the accumulator width).
    """
    names = {name for name, _ in layout}
    lanes = {n: Lanes(lane_width()) for n in ("a", "b") if n in names}
    for side in ("a_scale", "b_scale"):
        if side in names:
            if pe is None or not pe.side_width(side):
                raise ValueError(f"the {side!r} field's lanes need the PE's signature")
            lanes[side] = Lanes(pe.side_width(side))
    if "overflow" in names:
        lanes["overflow"] = Lanes(1)
    if "data" in names:
        if "overflow" not in names:
            raise ValueError("a 'data' field needs an 'overflow' field to count its columns")
        cols = layout["overflow"].width
        lanes["data"] = Lanes(layout["data"].width // cols, signed=True)
    return lanes


class LayoutCodec:
    """Packs and unpacks payloads of one ``StructLayout`` (see the module doc)."""

    def __init__(self, layout: data.StructLayout, lanes: dict[str, Lanes] | None = None):
        lanes = dict(lanes or {})
        self.layout = layout
        self.size = layout.size
        self.n_words = max(1, -(-self.size // WORD_BITS))
        self.hex_digits = max(1, -(-self.size // 4))
        self.fields: dict[str, FieldInfo] = {}
        for name, f in layout:
            spec = lanes.pop(name, None)
            if spec is None and isinstance(f.shape, data.ArrayLayout):
                elem = Shape.cast(f.shape.elem_shape)
                spec = Lanes(elem.width, elem.signed)
            if spec is not None:
                if spec.width < 1 or spec.width > WORD_BITS or f.width % spec.width:
                    raise ValueError(f"field {name!r} ({f.width} bits) cannot hold lanes of "
                                     f"{spec.width} bits (1..{WORD_BITS}, dividing the field)")
                info = FieldInfo(name, f.offset, f.width, f.width // spec.width, spec.width,
                                 spec.signed)
            else:
                signed = (not isinstance(f.shape, data.Layout)) and Shape.cast(f.shape).signed
                info = FieldInfo(name, f.offset, f.width, 0, f.width, signed)
            self.fields[name] = info
        if lanes:
            raise ValueError(f"lanes given for fields not in the layout: {sorted(lanes)}")

    def __repr__(self):
        return f"LayoutCodec({self.size} bits: {', '.join(self.fields)})"

    def field(self, name: str) -> FieldInfo:
        try:
            return self.fields[name]
        except KeyError:
            raise KeyError(f"no field {name!r} in {self!r}") from None

    # ---- scalar: one payload <-> one Python int ------------------------------
    def pack(self, values: dict | None = None, **kw) -> int:
        """One payload as an int; missing fields are 0.  Laned fields take a
        sequence of lane values, the others one int (bools allowed)."""
        values = {**(values or {}), **kw}
        word = 0
        for name, value in values.items():
            f = self.field(name)
            if f.lanes:
                seq = list(np.asarray(value).reshape(-1).tolist()) \
                    if not isinstance(value, (list, tuple)) else list(value)
                if len(seq) != f.lanes:
                    raise ValueError(f"field {name!r} has {f.lanes} lanes, got {len(seq)} values")
                for i, v in enumerate(seq):
                    word |= self._bits(f, int(v), f.lane_width, f"{name}[{i}]") \
                        << (f.offset + i * f.lane_width)
            else:
                word |= self._bits(f, int(value), f.width, name) << f.offset
        return word

    @staticmethod
    def _bits(f: FieldInfo, v: int, width: int, label: str) -> int:
        lo, hi = f._range(width)
        if not lo <= v <= hi:
            raise ValueError(f"{label} = {v} does not fit {'signed' if f.signed else 'unsigned'} "
                             f"{width} bits")
        return v & ((1 << width) - 1)

    def unpack(self, word: int) -> dict:
        """Fields of one payload: ints, tuples of ints for laned fields."""
        word = int(word)
        if word < 0 or word >> self.size:
            raise ValueError(f"{word:#x} is not a {self.size}-bit payload")
        out = {}
        for name, f in self.fields.items():
            if f.lanes:
                out[name] = tuple(_signed(word >> (f.offset + i * f.lane_width), f.lane_width,
                                          f.signed) for i in range(f.lanes))
            else:
                out[name] = _signed(word >> f.offset, f.width, f.signed)
        return out

    # ---- vectorised: n payloads <-> (n, n_words) uint64 ----------------------
    def pack_words(self, values: dict, n: int | None = None) -> np.ndarray:
        """``(n, n_words)`` uint64 words of n payloads.  A laned field takes an
        ``(n, lanes)`` array (or ``(lanes,)``, broadcast), another field ``(n,)``
        or a scalar; a field wider than 64 bits without lanes takes Python ints
        (object array).  Values out of range raise ``ValueError``."""
        arrays = {name: np.asarray(v) for name, v in values.items()}
        if n is None:
            n = 1
            for name, arr in arrays.items():
                f = self.field(name)
                if arr.ndim > (1 if f.lanes else 0):
                    n = arr.shape[0]
                    break
        words = np.zeros((n, self.n_words), dtype=np.uint64)
        for name, arr in arrays.items():
            f = self.field(name)
            if f.lanes:
                arr = np.broadcast_to(arr, (n, f.lanes))
                for i in range(f.lanes):
                    self._put(words, f, f.offset + i * f.lane_width, f.lane_width, arr[:, i],
                              f"{name}[{i}]")
            elif f.width > WORD_BITS:
                arr = np.broadcast_to(arr, (n,))
                for j in range(-(-f.width // WORD_BITS)):
                    w = min(WORD_BITS, f.width - j * WORD_BITS)
                    part = np.array([(int(v) & ((1 << f.width) - 1)) >> (j * WORD_BITS)
                                     & ((1 << w) - 1) for v in arr], dtype=np.uint64)
                    _or_bits(words, f.offset + j * WORD_BITS, w, part)
                self._check_wide(f, arr)
            else:
                self._put(words, f, f.offset, f.width, np.broadcast_to(arr, (n,)), name)
        return words

    def _put(self, words, f, offset, width, values, label):
        v = np.asarray(values)
        if v.dtype == np.bool_:
            v = v.astype(np.uint8)
        if v.dtype.kind not in "iu":
            raise ValueError(f"{label}: integer values needed, got dtype {v.dtype}")
        if v.size:
            lo, hi = f._range(width)
            vmin, vmax = int(v.min()), int(v.max())
            if vmin < lo or vmax > hi:
                bad = vmin if vmin < lo else vmax
                raise ValueError(f"{label} = {bad} does not fit "
                                 f"{'signed' if f.signed else 'unsigned'} {width} bits")
        # Two's complement bits of a signed lane: the int64 -> uint64 cast wraps.
        bits = v.astype(np.int64).astype(np.uint64) if v.dtype.kind == "i" \
            else v.astype(np.uint64)
        if width < WORD_BITS:
            bits &= np.uint64((1 << width) - 1)
        _or_bits(words, offset, width, bits)

    def _check_wide(self, f, arr):
        lo, hi = f._range(f.width)
        for v in arr:
            if not lo <= int(v) <= hi:
                raise ValueError(f"{f.name} = {int(v)} does not fit {f.width} bits")

    def unpack_words(self, words) -> dict[str, np.ndarray]:
        """Fields of n payloads: ``(n, lanes)`` for laned fields, ``(n,)`` else;
        int64 (uint64 for unsigned 64-bit lanes), object arrays for fields
        wider than 64 bits without lanes."""
        words = self._words(words)
        out = {}
        for name, f in self.fields.items():
            if f.lanes:
                cols = [_get_bits(words, f.offset + i * f.lane_width, f.lane_width, f.signed)
                        for i in range(f.lanes)]
                out[name] = np.stack(cols, axis=1) if cols else np.zeros((len(words), 0))
            elif f.width > WORD_BITS:
                ints = self.words_to_ints(words)
                out[name] = np.array([_signed(v >> f.offset, f.width, f.signed) for v in ints]
                                     + [None], dtype=object)[:-1]
            else:
                out[name] = _get_bits(words, f.offset, f.width, f.signed)
        return out

    def _words(self, words) -> np.ndarray:
        words = np.asarray(words, dtype=np.uint64)
        if words.ndim != 2 or words.shape[1] != self.n_words:
            raise ValueError(f"expected (n, {self.n_words}) uint64 words, got {words.shape}")
        return words

    # ---- conversions ------------------------------------------------------------
    def words_to_ints(self, words) -> list[int]:
        words = self._words(words)
        return [sum(int(w) << (WORD_BITS * j) for j, w in enumerate(row)) for row in words]

    def ints_to_words(self, ints) -> np.ndarray:
        ints = [int(v) for v in ints]
        for v in ints:
            if v < 0 or v >> self.size:
                raise ValueError(f"{v:#x} is not a {self.size}-bit payload")
        mask = (1 << WORD_BITS) - 1
        return np.array([[(v >> (WORD_BITS * j)) & mask for j in range(self.n_words)]
                         for v in ints], dtype=np.uint64).reshape(len(ints), self.n_words)

    def to_hex(self, words) -> bytes:
        """``$readmemh`` text: one line per payload, ``hex_digits`` digits, MSB first."""
        words = self._words(words)
        n = len(words)
        # Bytes of the payload, most significant first (last word first, each
        # word big-endian), then two digits per byte by one table lookup.
        raw = np.ascontiguousarray(words[:, ::-1], dtype=">u8").view(np.uint8).reshape(n, -1)
        digits = np.take(_HEX2, raw).view(np.uint8).reshape(n, -1)
        text = np.empty((n, self.hex_digits + 1), dtype=np.uint8)
        text[:, :-1] = digits[:, digits.shape[1] - self.hex_digits:]
        text[:, -1] = ord("\n")
        return text.tobytes()

    def from_hex(self, text: str | bytes) -> np.ndarray:
        """Words of ``$writememh`` / ``$readmemh`` text.  ``//`` comments and
        ``@addr`` lines are skipped; any other non-hex line (X, Z, too wide)
        raises ``ValueError``."""
        if isinstance(text, bytes):
            text = text.decode("ascii", errors="replace")
        lines = []
        for line in text.splitlines():
            line = line.split("//", 1)[0].strip()
            if line and not line.startswith("@"):
                if len(line) > self.hex_digits:
                    raise ValueError(f"{line!r} is wider than {self.hex_digits} hex digits")
                lines.append(line.rjust(self.hex_digits, "0"))
        n = len(lines)
        raw = np.frombuffer("".join(lines).encode("ascii", errors="replace"),
                            dtype=np.uint8).reshape(n, self.hex_digits)
        nib = _UNHEX[raw]
        if (nib == 255).any():
            bad = lines[int(np.nonzero((nib == 255).any(axis=1))[0][0])]
            raise ValueError(f"not a hex payload: {bad!r}")
        padded = np.zeros((n, self.n_words * (WORD_BITS // 4)), dtype=np.uint64)
        padded[:, :self.hex_digits] = nib[:, ::-1]
        top = padded[:, self.hex_digits - 1] if n else padded[:, :0]
        if self.size % 4 and (top >> np.uint64(self.size % 4)).any():
            raise ValueError(f"a payload has bits above bit {self.size - 1}")
        shifts = np.arange(0, WORD_BITS, 4, dtype=np.uint64)
        return (padded.reshape(n, self.n_words, -1) << shifts).sum(axis=2, dtype=np.uint64)


def _signed(v: int, width: int, signed: bool) -> int:
    v &= (1 << width) - 1
    return v - (1 << width) if signed and v >> (width - 1) else v


def _or_bits(words: np.ndarray, offset: int, width: int, bits: np.ndarray):
    j, s = divmod(offset, WORD_BITS)
    words[:, j] |= bits << np.uint64(s)
    if s + width > WORD_BITS:      # the value straddles two words (then s > 0)
        words[:, j + 1] |= bits >> np.uint64(WORD_BITS - s)


def _get_bits(words: np.ndarray, offset: int, width: int, signed: bool) -> np.ndarray:
    j, s = divmod(offset, WORD_BITS)
    v = words[:, j] >> np.uint64(s)
    if s + width > WORD_BITS:
        v = v | (words[:, j + 1] << np.uint64(WORD_BITS - s))
    if width == WORD_BITS:
        return v.view(np.int64) if signed else v
    if signed:
        # Move the field's sign bit to bit 63 and shift back arithmetically:
        # no constant 1 << width, which does not fit int64 for width 63.
        up = np.uint64(WORD_BITS - width)
        return (v << up).view(np.int64) >> np.int64(WORD_BITS - width)
    return (v & np.uint64((1 << width) - 1)).astype(np.int64)


def c_header(codecs: dict[str, LayoutCodec], guard: str,
             extra: dict[str, int] | None = None) -> str:
    """C header with every field's position: ``<PREFIX>_<FIELD>_LSB`` / ``_WIDTH``
    (and ``_LANES`` / ``_LANE_WIDTH`` for laned fields), ``<PREFIX>_WIDTH``;
    ``extra`` adds plain ``#define NAME value`` lines."""
    lines = ["// Generated by hw/codec.py from the Amaranth layouts; do not edit.",
             f"#ifndef {guard}", f"#define {guard}", ""]
    for prefix, codec in codecs.items():
        p = prefix.upper()
        lines.append(f"#define {p}_WIDTH {codec.size}u")
        for name, f in codec.fields.items():
            q = f"{p}_{name.upper()}"
            lines += [f"#define {q}_LSB {f.offset}u", f"#define {q}_WIDTH {f.width}u"]
            if f.lanes:
                lines += [f"#define {q}_LANES {f.lanes}u",
                          f"#define {q}_LANE_WIDTH {f.lane_width}u"]
        lines.append("")
    for name, value in (extra or {}).items():
        lines.append(f"#define {name} {int(value)}u")
    lines += ["", f"#endif  // {guard}", ""]
    return "\n".join(lines)
