"""The register map table (hw/axi_regs.py): generated files up to date, the
table consistent, the C header compiles (the decode: tests/test_axi_csr.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hw import axi_regs

ROOT = Path(__file__).resolve().parents[1]


def test_generated_files_are_up_to_date():
    for path, text in ((axi_regs.DOC_PATH, axi_regs.render_markdown()),
                       (axi_regs.HEADER_PATH, axi_regs.render_c_header())):
        assert (ROOT / path).read_text() == text, \
            f"{path} is stale: run `python -m hw.axi_regs` and commit it"


def test_table_is_consistent():
    offsets = [r.offset for r in axi_regs.REGISTERS]
    assert len(set(offsets)) == len(offsets)
    assert all(o % 4 == 0 and o < 1 << axi_regs.ADDR_WIDTH for o in offsets)
    for r in axi_regs.REGISTERS:
        used = 0
        for f in r.fields:
            assert not used & f.mask, (r.name, f.name)
            used |= f.mask
    # Every field the shell reports or acts on is named in the table.
    assert axi_regs.field_mask("ERR", "start_busy") and axi_regs.OFFSET["CTRL"] == 0x10


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_header_compiles(tmp_path):
    header = ROOT / axi_regs.HEADER_PATH
    src = tmp_path / "t.c"
    src.write_text(f'#include "{header}"\n'
                   "int main(void) { return (RADIX4_ERR_BAD_K_MASK == 0x2u && "
                   "RADIX4_CTRL == 0x10u) ? 0 : 1; }\n")
    subprocess.run(["cc", "-Wall", "-Werror", "-o", str(tmp_path / "t"), str(src)], check=True)
    assert subprocess.run([str(tmp_path / "t")]).returncode == 0


def test_job_start_writes_set_each_field_and_start_last():
    """The one programming sequence (docs/integration.md): every field of
    JOB_FLAGS reads back what was asked, and CTRL.start is written last."""
    writes = axi_regs.job_start_writes(7, 2, 1, accumulate=True, emit=False)
    assert [reg for reg, _ in writes] == ["JOB_K", "JOB_FLAGS", "CTRL"]
    flags = writes[1][1]
    got = {f: axi_regs.field_value("JOB_FLAGS", f, flags) for f in ("a_fmt", "b_fmt",
                                                                      "accumulate", "emit")}
    assert got == {"a_fmt": 2, "b_fmt": 1, "accumulate": 1, "emit": 0}
    assert writes[0][1] == 7 and writes[2][1] == axi_regs.field_mask("CTRL", "start")


def test_field_word_refuses_a_value_wider_than_its_field():
    import pytest
    width = bin(axi_regs.field_mask("JOB_FLAGS", "a_fmt")).count("1")
    with pytest.raises(ValueError, match="a_fmt"):
        axi_regs.field_word("JOB_FLAGS", a_fmt=1 << width)
