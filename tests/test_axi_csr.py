"""The CSR decode built from the register table (hw.axi_csr.CsrFile, Amaranth
simulation) does what each access kind of hw/axi_regs.py promises."""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from hw import axi_regs
from hw.axi_csr import CsrFile, port_name


def _writable_mask(reg) -> int:
    return sum(f.mask for f in reg.fields)


def test_csr_decode_follows_the_table():
    """Random accesses to every offset of the address space; a Python model of
    the access kinds (from the table) predicts every read, error and pulse."""
    dut = CsrFile()
    regs = {r.offset: r for r in axi_regs.REGISTERS}
    rng = random.Random(7)
    hits = {"unmapped": 0, "ro_write": 0, "w1c_cleared": 0, "wo_pulse": 0, "strobe": 0}

    async def bench(ctx):
        stored = {r.name: 0 for r in axi_regs.REGISTERS if r.access in ("rw", "w1c")}
        ro_val = {}
        for r in axi_regs.REGISTERS:
            if r.access == "ro":
                word = 0
                for f in r.fields:
                    v = rng.randrange(1 << f.width)
                    ctx.set(getattr(dut, port_name(r.name, f.name)), v)
                    word |= v << f.lsb
                ro_val[r.name] = word
        for _ in range(1500):
            off = rng.randrange(1 << axi_regs.ADDR_WIDTH) & ~3
            reg = regs.get(off)
            if rng.random() < 0.5:                       # read
                ctx.set(dut.r_en, 1)
                ctx.set(dut.r_addr, off | rng.randrange(4))
                ctx.set(dut.w_en, 0)
                if reg is None:
                    expect, err = 0, 1
                elif reg.access == "ro":
                    expect, err = ro_val[reg.name], 0
                elif reg.access == "wo":
                    expect, err = 0, 0
                else:
                    expect, err = stored[reg.name], 0
                assert ctx.get(dut.r_data) == expect, (hex(off), reg)
                assert ctx.get(dut.r_err) == err and ctx.get(dut.unmapped) == err
                hits["unmapped"] += err
                await ctx.tick()
                ctx.set(dut.r_en, 0)
                continue
            data = rng.randrange(1 << 32)
            strb = rng.choice([0xF, 0xF, rng.randrange(16)])
            bmask = sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)
            hits["strobe"] += strb != 0xF
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_addr, off)
            ctx.set(dut.w_data, data)
            ctx.set(dut.w_strb, strb)
            mapped = reg is not None
            assert ctx.get(dut.w_err) == (not mapped or reg.access == "ro")
            assert ctx.get(dut.unmapped) == (not mapped)
            assert ctx.get(dut.ro_write) == (mapped and reg.access == "ro")
            hits["ro_write"] += mapped and reg.access == "ro"
            if mapped and reg.access == "wo":
                for f in reg.fields:
                    want = (data & bmask & f.mask) >> f.lsb
                    assert ctx.get(getattr(dut, port_name(reg.name, f.name))) == want
                    hits["wo_pulse"] += want != 0
            await ctx.tick()
            ctx.set(dut.w_en, 0)
            if mapped and reg.access == "rw":
                m = _writable_mask(reg) & bmask
                stored[reg.name] = (stored[reg.name] & ~m) | (data & m)
            elif mapped and reg.access == "w1c":
                before = stored[reg.name]
                stored[reg.name] &= ~(data & bmask)
                hits["w1c_cleared"] += before != stored[reg.name]
            # w1c: set a random bit now and then (set pulses OR in).
            for r in axi_regs.REGISTERS:
                if r.access == "w1c" and rng.random() < 0.3:
                    f = rng.choice(r.fields)
                    ctx.set(getattr(dut, port_name(r.name, f.name) + "_set"), 1)
                    await ctx.tick()
                    ctx.set(getattr(dut, port_name(r.name, f.name) + "_set"), 0)
                    stored[r.name] |= f.mask
            for name in stored:
                r = axi_regs.register(name)
                for f in r.fields:
                    got = ctx.get(getattr(dut, port_name(name, f.name)))
                    assert got == (stored[name] & f.mask) >> f.lsb, (name, f.name)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert all(hits.values()), hits
