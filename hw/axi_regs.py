"""The AXI4-Lite register map of the AXI shell (``hw.axi_shell``), said once.

``REGISTERS`` is the one table.  From it come:

- the CSR decode in RTL (``hw.axi_csr.CsrFile`` builds its ports, storage
  and read mux from it);
- ``docs/registers.md`` (``render_markdown``) and the C header
  ``docs/radix4_axi_regs.h`` (``render_c_header``); ``python -m hw.axi_regs``
  rewrites both, ``tests/test_axi_regs.py`` fails when they are stale;
- the Python driver's constants: ``OFFSET["CTRL"]``, ``field_mask("ERR",
  "bad_k")``, ... (``sim.axi_server`` uses nothing else).

Access kinds: ``ro`` read-only (a write gets SLVERR, is ignored and sets
``ERR.ro_write``), ``rw`` read/write storage, ``w1c`` sticky bits set by the
hardware and cleared by writing 1, ``wo`` command bits (write 1 to act; read
as 0).  An address not in the table gets SLVERR on read or write (read data
0) and sets ``ERR.unmapped``.  Byte strobes apply to every writable kind.
Words are 32 bits, little-endian, at 4-byte aligned offsets (address bits
[1:0] are ignored).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from model.fileio import atomic_write_text

from .accel import COUNTERS

__all__ = ["Field", "Register", "REGISTERS", "OFFSET", "ADDR_WIDTH", "DATA_WIDTH", "ID_MAGIC",
           "MAP_VERSION", "ACCESS_KINDS", "register", "field_mask", "field_value",
           "render_markdown", "render_c_header", "DOC_PATH", "HEADER_PATH", "counter_registers"]

DATA_WIDTH = 32
ADDR_WIDTH = 8            # 256 bytes: 64 word registers
ID_MAGIC = 0x5234         # "R4"
MAP_VERSION = 2           # bump when an offset or a field moves (2: quantization unit rows)
ACCESS_KINDS = ("ro", "rw", "w1c", "wo")


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    doc: str

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    access: str
    fields: tuple
    doc: str

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r}")


def _counter_regs(first_offset: int) -> list[Register]:
    regs = []
    for i, name in enumerate(COUNTERS):
        off = first_offset + 8 * i
        up = name.upper()
        regs.append(Register(f"{up}_LO", off, "ro", (Field("value", 0, 32, "bits [31:0]"),),
                             f"performance counter `{name}` (hw/accel.py), low word; reading it "
                             f"latches the high word into {up}_HI"))
        regs.append(Register(f"{up}_HI", off + 4, "ro", (Field("value", 0, 16, "bits [47:32]"),),
                             f"`{name}` bits [47:32] as latched by the last read of {up}_LO"))
    return regs


REGISTERS: tuple[Register, ...] = (
    Register("ID", 0x00, "ro", (
        Field("version", 0, 8, "register map version (MAP_VERSION)"),
        Field("quant_lanes", 8, 8, "0: the plain tile; n > 0: the tile with the quantization "
                                   "unit (hw/tile_quant.py), n datapath lanes in the unit"),
        Field("magic", 16, 16, "0x5234 ('R4')"),
    ), "identification and the build's kind"),
    Register("CONFIG0", 0x04, "ro", (
        Field("rows", 0, 8, "array rows R"),
        Field("cols", 8, 8, "array columns C"),
        Field("acc_width", 16, 8, "accumulator width W in bits"),
        Field("pe_latency", 24, 4, "PE latency in cycles"),
    ), "configuration: array shape, accumulator, PE"),
    Register("CONFIG1", 0x08, "ro", (
        Field("depth_log2", 0, 5, "log2 of the bank depth: a job has 1..depth beats"),
        Field("lanes", 8, 5, "dot-product lanes per PE (k)"),
        Field("a_formats", 16, 8, "bit n set: A format select code n is implemented"),
        Field("b_formats", 24, 8, "bit n set: B format select code n is implemented"),
    ), "configuration: depth, lanes, formats (codes: model/hw_vocab.py)"),
    Register("STREAMS", 0x0C, "ro", (
        Field("s_axis_bytes", 0, 16, "bytes of s_axis_tdata (one operand beat)"),
        Field("m_axis_bytes", 16, 16, "bytes of m_axis_tdata (one result row)"),
    ), "stream widths"),
    Register("CTRL", 0x10, "wo", (
        Field("start", 0, 1, "start the job in JOB_K/JOB_FLAGS (ignored + ERR.start_busy "
                             "while STATUS.busy; ignored + ERR.bad_k if k is 0 or > depth, "
                             "+ ERR.bad_fmt for a format code not in CONFIG1)"),
        Field("counters_clear", 1, 1, "zero the performance counters"),
    ), "commands"),
    Register("STATUS", 0x14, "ro", (
        Field("busy", 0, 1, "a started job has not finished (beats to take, beats in the "
                            "array, or result rows not yet taken from m_axis)"),
        Field("done", 1, 1, "the last started job finished (cleared by start)"),
        Field("rows_pending", 16, 16, "result rows still to leave on m_axis"),
    ), "state"),
    Register("JOB_K", 0x18, "rw", (
        Field("k", 0, 17, "operand beats of the job (1..depth)"),
    ), "job descriptor: length"),
    Register("JOB_FLAGS", 0x1C, "rw", (
        Field("a_fmt", 0, 4, "A format select code"),
        Field("b_fmt", 4, 4, "B format select code"),
        Field("accumulate", 8, 1, "add to the sums of the previous job instead of clearing"),
        Field("emit", 9, 1, "stream the R result rows out after the last beat"),
        Field("route", 10, 2, "where an emitting job's rows go: 0 m_axis (INT32), 1 the "
                              "quantization unit only, 2 both; a route the build lacks (the "
                              "plain tile: all but 0; 3 always) is ignored + ERR.bad_route"),
        Field("qlast", 12, 1, "the job's last row ends the unit's job (routes 1, 2)"),
    ), "job descriptor: formats, chaining, result route"),
    Register("ERR", 0x20, "w1c", (
        Field("start_busy", 0, 1, "start written while busy (ignored)"),
        Field("bad_k", 1, 1, "start with k = 0 or k > depth (ignored)"),
        Field("ro_write", 2, 1, "write to a read-only register (SLVERR, ignored)"),
        Field("unmapped", 3, 1, "access to an unmapped address (SLVERR)"),
        Field("tlast_early", 4, 1, "s_axis_tlast on a beat before the job's last"),
        Field("tlast_missing", 5, 1, "the job's last beat came without s_axis_tlast"),
        Field("overflow", 6, 1, "a result row left with an overflow flag set"),
        Field("bad_fmt", 7, 1, "start with a format code the datapath lacks (see CONFIG1; "
                               "ignored)"),
        Field("bad_route", 8, 1, "start with a route the build lacks (see JOB_FLAGS; ignored)"),
        Field("qcfg_bad", 9, 1, "the unit dropped an s_axis_qcfg beat (reserved mode 3 or "
                                "mantissa 0); no unit job started"),
    ), "sticky errors; write 1 to clear"),
    Register("IRQ_ENABLE", 0x24, "rw", (
        Field("done", 0, 1, "raise irq on IRQ_STATUS.done"),
        Field("error", 1, 1, "raise irq on IRQ_STATUS.error"),
    ), "interrupt enables"),
    Register("IRQ_STATUS", 0x28, "w1c", (
        Field("done", 0, 1, "a job finished"),
        Field("error", 1, 1, "an ERR bit was set"),
    ), "interrupt causes; irq is high while any bit set here is enabled in IRQ_ENABLE; write 1 to clear"),
    Register("QSTREAMS0", 0x2C, "ro", (
        Field("qcfg_bytes", 0, 16, "bytes of s_axis_qcfg_tdata (one unit configuration); 0: "
                                   "no quantization unit"),
        Field("q_bytes", 16, 16, "bytes of m_axis_q_tdata (one row of codes); 0: no unit"),
    ), "quantization unit stream widths"),
    Register("QSTREAMS1", 0x30, "ro", (
        Field("mask_bytes", 0, 16, "bytes of s_axis_mask_tdata (one row's mask); 0: no unit"),
        Field("rq_bytes", 16, 16, "bytes of s_axis_rq_tdata (one stored INT32 row); 0: no unit"),
    ), "quantization unit stream widths"),
    *_counter_regs(0x40),
)

OFFSET = {r.name: r.offset for r in REGISTERS}
_BY_NAME = {r.name: r for r in REGISTERS}

DOC_PATH = Path("docs/registers.md")
HEADER_PATH = Path("docs/radix4_axi_regs.h")


def _check_table():
    offsets = set()
    for r in REGISTERS:
        assert r.access in ACCESS_KINDS, r
        assert r.offset % 4 == 0 and r.offset < 1 << ADDR_WIDTH and r.offset not in offsets, r
        offsets.add(r.offset)
        used = 0
        for f in r.fields:
            assert 0 < f.width and f.lsb + f.width <= DATA_WIDTH and not used & f.mask, (r, f)
            used |= f.mask


_check_table()


def register(name: str) -> Register:
    return _BY_NAME[name]


def counter_registers(counter: str) -> tuple[Register, Register]:
    up = counter.upper()
    return _BY_NAME[f"{up}_LO"], _BY_NAME[f"{up}_HI"]


def field_mask(reg: str, field: str) -> int:
    return _BY_NAME[reg].field(field).mask


def field_value(reg: str, field: str, word: int) -> int:
    f = _BY_NAME[reg].field(field)
    return (word >> f.lsb) & ((1 << f.width) - 1)


def field_word(reg: str, **values: int) -> int:
    """The word of ``reg`` with each named field set to its value (others 0);
    a value that does not fit its field is refused."""
    word = 0
    for name, value in values.items():
        f = _BY_NAME[reg].field(name)
        if not 0 <= int(value) < 1 << f.width:
            raise ValueError(f"{reg}.{name}: {value} does not fit {f.width} bits")
        word |= int(value) << f.lsb
    return word


def job_start_writes(k: int, a_fmt: int, b_fmt: int, accumulate: bool,
                     emit: bool, route: int = 0, qlast: bool = False) -> list[tuple[str, int]]:
    """The register writes that start one job, in order (docs/integration.md,
    programming sequence): every host of the shell (the simulated AXI server,
    the UART board host) issues exactly these."""
    flags = field_word("JOB_FLAGS", a_fmt=a_fmt, b_fmt=b_fmt, accumulate=int(bool(accumulate)),
                       emit=int(bool(emit)), route=route, qlast=int(bool(qlast)))
    return [("JOB_K", k), ("JOB_FLAGS", flags), ("CTRL", field_mask("CTRL", "start"))]


# ---------------------------------------------------------------- renderers
_ACCESS_DOC = {
    "ro": "read-only; a write gets SLVERR, is ignored and sets ERR.ro_write",
    "rw": "read/write",
    "w1c": "sticky, set by hardware; write 1 to clear a bit",
    "wo": "write 1 to act; reads as 0",
}


def render_markdown() -> str:
    lines = [
        "# AXI shell register map",
        "",
        "<!-- Generated by `python -m hw.axi_regs` from hw/axi_regs.py; do not edit. -->",
        "",
        f"AXI4-Lite slave `s_axil_*`, {DATA_WIDTH}-bit data, {ADDR_WIDTH}-bit byte address "
        f"(address bits [1:0] ignored), map version {MAP_VERSION}.  An address not listed "
        "gets SLVERR (read data 0) and sets `ERR.unmapped`.  Byte strobes apply to every "
        "writable register.  Reset values: 0, except the read-only configuration words.",
        "",
        "| access | meaning |",
        "|---|---|",
        *[f"| `{k}` | {v} |" for k, v in _ACCESS_DOC.items()],
        "",
        "| offset | register | access | description |",
        "|---|---|---|---|",
        *[f"| `0x{r.offset:02X}` | `{r.name}` | `{r.access}` | {r.doc} |" for r in REGISTERS],
        "",
    ]
    for r in REGISTERS:
        lines += [f"## `{r.name}` (0x{r.offset:02X}, {r.access})", "", r.doc, "",
                  "| bits | field | description |", "|---|---|---|"]
        for f in r.fields:
            bits = f"{f.lsb}" if f.width == 1 else f"{f.lsb + f.width - 1}:{f.lsb}"
            lines.append(f"| [{bits}] | `{f.name}` | {f.doc} |")
        lines.append("")
    return "\n".join(lines)


def render_c_header() -> str:
    lines = [
        "/* radix4 AXI shell register map.",
        " * Generated by `python -m hw.axi_regs` from hw/axi_regs.py; do not edit. */",
        "#ifndef RADIX4_AXI_REGS_H",
        "#define RADIX4_AXI_REGS_H",
        "",
        f"#define RADIX4_ID_MAGIC 0x{ID_MAGIC:04X}u",
        f"#define RADIX4_MAP_VERSION {MAP_VERSION}u",
        "",
    ]
    for r in REGISTERS:
        lines.append(f"#define RADIX4_{r.name} 0x{r.offset:02X}u  /* {r.access}: {r.doc[:60]} */")
        for f in r.fields:
            p = f"RADIX4_{r.name}_{f.name.upper()}"
            lines.append(f"#define {p}_SHIFT {f.lsb}u")
            lines.append(f"#define {p}_MASK 0x{f.mask:08X}u")
        lines.append("")
    lines += ["#endif /* RADIX4_AXI_REGS_H */", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Rewrite docs/registers.md and the C header under ``root`` (default: cwd)."""
    root = Path((argv or sys.argv[1:] or ["."])[0])
    atomic_write_text(root / DOC_PATH, render_markdown())
    atomic_write_text(root / HEADER_PATH, render_c_header())
    print(f"wrote {root / DOC_PATH} and {root / HEADER_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
