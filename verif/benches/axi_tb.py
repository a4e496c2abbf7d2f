"""cocotb tests of ``radix4_axi`` (the tile behind AXI) with cocotbext-axi.

One simulation runs every test below on one build (rows, cols, acc_width,
depth, pe_latency from ``RADIX4_PARAMS``); the masters, the golden model and
the coverage are ``axi_bench.AxiBench``'s.  What each register promises is
read from ``hw.axi_regs`` (docs/registers.md).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from hw.axi_regs import ID_MAGIC, MAP_VERSION, OFFSET, REGISTERS, field_mask, field_value
from model.config import DEFAULT_PE_LATENCY
from verif.kit.golden import fill_to, format_names, reserved_codes
from verif.kit.seed import depth

from .axi_bench import (COV, DEPTH, PAIRS, PARAMS, RESP_SLVERR, ROWS, TIMEOUT_US, AxiBench,
                        COLS, W, in_bytes, out_bytes)

START = field_mask("CTRL", "start")


def _err(name: str) -> int:
    return field_mask("ERR", name)


@cocotb.test(timeout_time=TIMEOUT_US, timeout_unit="us")
async def register_map(dut):
    """ID/config words encode the build; rw round trips; illegal accesses get SLVERR + ERR."""
    tb = await AxiBench(dut, "register_map").start()
    ident = await tb.read("ID")
    assert field_value("ID", "magic", ident) == ID_MAGIC
    assert field_value("ID", "version", ident) == MAP_VERSION
    c0, c1, st = await tb.read("CONFIG0"), await tb.read("CONFIG1"), await tb.read("STREAMS")
    want0 = {"rows": ROWS, "cols": COLS, "acc_width": W,
             "pe_latency": PARAMS.get("pe_latency", DEFAULT_PE_LATENCY)}
    for f, v in want0.items():
        assert field_value("CONFIG0", f, c0) == v, (f, hex(c0))
    assert 1 << field_value("CONFIG1", "depth_log2", c1) == DEPTH
    assert field_value("CONFIG1", "lanes", c1) == 1
    for side in ("a", "b"):
        mask = field_value("CONFIG1", f"{side}_formats", c1)
        assert mask == sum(1 << c for c in format_names(side)), (side, mask)
    assert field_value("STREAMS", "s_axis_bytes", st) == in_bytes()
    assert field_value("STREAMS", "m_axis_bytes", st) == out_bytes()
    # rw registers: random values, read back masked to their fields
    for reg in ("JOB_K", "JOB_FLAGS", "IRQ_ENABLE"):
        mask = sum(f.mask for f in next(r for r in REGISTERS if r.name == reg).fields)
        for _ in range(4):
            v = tb.rng.randrange(1 << 32)
            await tb.write(reg, v)
            assert await tb.read(reg) == v & mask, reg
    await tb.write("IRQ_ENABLE", 0)
    # read-only: SLVERR, ignored, ERR.ro_write
    for reg in ("ID", "CONFIG0", "STATUS", "CYCLES_LO"):
        before = await tb.read(reg) if reg != "CYCLES_LO" else None
        await tb.write(reg, 0xFFFFFFFF, expect=RESP_SLVERR)
        assert await tb.err() == _err("ro_write"), hex(await tb.err())
        COV.hit("response", "ro write SLVERR")
        if before is not None and reg != "STATUS":
            assert await tb.read(reg) == before, f"{reg} changed by a write"
        await tb.write("ERR", _err("ro_write"))
        assert await tb.err() == 0
        COV.hit("response", "w1c clears")
    # unmapped: every offset not in the table, read and write
    mapped = set(OFFSET.values())
    holes = [o for o in range(0, 256, 4) if o not in mapped]
    for off in tb.rng.sample(holes, min(8, len(holes))):
        assert await tb.read(off, expect=RESP_SLVERR) == 0
        COV.hit("response", "unmapped read SLVERR")
        await tb.write(off, 0x12345678, expect=RESP_SLVERR)
        COV.hit("response", "unmapped write SLVERR")
        assert await tb.err() == _err("unmapped")
        await tb.write("ERR", 0xFFFFFFFF)
    assert await tb.err() == 0
    # concurrent reads under channel pauses: each answer is its own register's
    tb.set_pauses(0.4, 0.4)
    regs = ["ID", "CONFIG0", "CONFIG1", "STREAMS", "JOB_K", "JOB_FLAGS"]
    want = {r: await tb.read(r) for r in regs}
    for _ in range(6):
        order = tb.rng.sample(regs, len(regs))
        tasks = [cocotb.start_soon(tb.read(r)) for r in order]
        for r, t in zip(order, tasks):
            assert await t == want[r], f"concurrent read of {r}"
        writes = [cocotb.start_soon(tb.write("JOB_K", v)) for v in (1, 2, 3)]
        for t in writes:
            await t
        assert await tb.read("JOB_K") == 3
        want["JOB_K"] = 3
    tb.set_pauses(0.0, 0.0)
    # counters: cycles advance, the others stay 0 without jobs
    await tb.write("CTRL", field_mask("CTRL", "counters_clear"))
    c = await tb.counters()
    assert c["cycles"] > 0 and c["jobs_done"] == 0 and c["mac_pe_cycles"] == 0, c
    COV.save()


@cocotb.test(timeout_time=TIMEOUT_US, timeout_unit="us")
async def random_gemms(dut):
    """Random chains through the bus under tvalid/tready pauses, with AXI-Lite
    reads interleaved; rows bit-exact, counters and ERR.overflow exact."""
    tb = await AxiBench(dut, "random_gemms", 0.3, 0.3).start()
    await tb.write("CTRL", field_mask("CTRL", "counters_clear"))
    tb.beats = tb.jobs = 0

    async def poll():       # AXI-Lite traffic while beats stream
        for _ in range(tb.rng.randint(1, 4)):
            reg = tb.rng.choice(["STATUS", "CYCLES_LO", "MAC_PE_CYCLES_LO", "ID", "ERR"])
            await tb.read(reg)

    overflowed = False
    for i in range(depth(24, 6)):
        pair = PAIRS[i] if i < len(PAIRS) else tb.rng.choice(PAIRS)
        chain = tb.rng.choice([1, 1, 2, 3])
        p_extreme = tb.rng.choice([0.1, 0.9])
        for j in range(chain):
            a, b, af, bf = tb.random_job(fmts=pair, p_extreme=p_extreme)
            emit = j == chain - 1
            await tb.run_job(a, b, af, bf, accumulate=j > 0, emit=emit, during=poll)
            if emit:
                overflowed |= bool(gemm_ovf(tb).any())
        err = await tb.err()
        assert bool(err & _err("overflow")) == overflowed, (hex(err), overflowed)
        assert err & ~_err("overflow") == 0, hex(err)
        if overflowed:
            COV.hit("response", "overflow flagged")
            await tb.write("ERR", _err("overflow"))
            overflowed = False
    # Directed: sums just past each end of the W-bit range, in a chain.
    for target in (1 << (W - 1), -(1 << (W - 1)) - 1):
        af, bf, pairs = fill_to(target)
        a = np.array([[x for x, _ in pairs]] * ROWS, dtype=np.uint8)
        b = np.array([[y] * COLS for _, y in pairs], dtype=np.uint8)
        k = a.shape[1]
        for i in range(0, k, DEPTH):
            await tb.run_job(a[:, i:i + DEPTH], b[i:i + DEPTH], af, bf, accumulate=i > 0,
                             emit=i + DEPTH >= k)
        assert gemm_ovf(tb).all()
        assert await tb.err() == _err("overflow")
        COV.hit("response", "overflow flagged")
        await tb.write("ERR", _err("overflow"))
    c = await tb.counters()
    assert c["jobs_done"] == tb.jobs, (c, tb.jobs)
    assert c["mac_pe_cycles"] == tb.beats * ROWS * COLS, (c, tb.beats)
    COV.save()


def gemm_ovf(tb):
    from verif.kit.golden import gemm_expect
    a, b, af, bf = tb.chain
    return gemm_expect(a, b, af, bf, W)[1]


@cocotb.test(timeout_time=TIMEOUT_US, timeout_unit="us")
async def illegal_starts_and_tlast(dut):
    """start while busy, k = 0, k > depth, a bad format: ignored + ERR bit;
    misplaced tlast: flagged, beats still taken, results still exact."""
    tb = await AxiBench(dut, "illegal", 0.2, 0.2).start()
    # start while busy: a job waiting for its beats
    a, b, af, bf = tb.random_job(k=DEPTH)
    sums_job = tb.expect(a, b, af, bf, False)
    await tb.program(DEPTH, af, bf)
    status = await tb.read("STATUS")
    assert field_value("STATUS", "busy", status) == 1 and field_value("STATUS", "done", status) == 0
    await tb.write("CTRL", START)            # OKAY, but ignored
    assert await tb.err() == _err("start_busy")
    COV.hit("response", "start while busy ignored")
    for f in tb.frame(a, b):
        await tb.src.send(f)
    frame = await tb.sink.recv()
    tb.check_rows(bytes(frame.tdata), *sums_job)
    await tb.wait_idle()
    await tb.write("ERR", 0xFFFFFFFF)
    # bad descriptors: nothing starts, s_axis stays blocked
    bad = [(0, PAIRS[0], "bad_k", "k=0 ignored"), (DEPTH + 1, PAIRS[0], "bad_k", "k>depth ignored")]
    for code in reserved_codes("a"):
        bad.append((1, (code, PAIRS[0][1]), "bad_fmt", "bad format ignored"))
    for k, (af, bf), bit, bin_ in bad:
        await tb.program(k, af, bf)
        assert await tb.err() == _err(bit), (k, af, bf, hex(await tb.err()))
        assert await tb.field("STATUS", "busy") == 0
        assert dut.s_axis_tready.value == 0
        await tb.write("ERR", _err(bit))
        COV.hit("response", bin_)
    # tlast early: a job of k >= 3 sent as two frames
    a, b, af, bf = tb.random_job(k=max(3, DEPTH // 2))
    await tb.run_job(a, b, af, bf, tlast_at=[0])
    assert await tb.err() == _err("tlast_early")
    COV.hit("response", "tlast early flagged")
    await tb.write("ERR", 0xFFFFFFFF)
    # tlast missing: two jobs' beats in one frame
    a1, b1, af, bf = tb.random_job(k=2)
    a2, b2, _, _ = tb.random_job(k=3, fmts=(af, bf))
    exp1 = tb.expect(a1, b1, af, bf, False)
    await tb.program(2, af, bf)
    both = tb.frame(np.concatenate([a1, a2], axis=1), np.concatenate([b1, b2], axis=0))
    await tb.src.send(both[0])
    tb.check_rows(bytes((await tb.sink.recv()).tdata), *exp1)
    await tb.wait_idle()
    assert await tb.err() == _err("tlast_missing")
    COV.hit("response", "tlast missing flagged")
    exp2 = tb.expect(a2, b2, af, bf, False)
    await tb.program(3, af, bf)
    tb.check_rows(bytes((await tb.sink.recv()).tdata), *exp2)
    await tb.wait_idle()
    assert await tb.err() == _err("tlast_missing")
    COV.save()


@cocotb.test(timeout_time=TIMEOUT_US, timeout_unit="us")
async def reset_mid_job(dut):
    """Reset while loading and with result rows held back: all state cleared,
    the next job is exact (an accumulating one adds to zero)."""
    tb = await AxiBench(dut, "reset_mid_job", 0.2, 0.2).start()
    for round_ in range(depth(3, 1)):
        a, b, af, bf = tb.random_job(k=DEPTH)
        await tb.program(DEPTH, af, bf)
        frames = tb.frame(a, b)
        tb.src.send_nowait(frames[0])
        for _ in range(DEPTH // 2 + 2):
            await RisingEdge(dut.clk)
        if await tb.field("STATUS", "busy"):
            COV.hit("reset", "while loading a job")
        await tb.reset(cycles=1 + round_)
        await _expect_cleared(tb)
        # results pending: sink stalled (after a finished job: STATUS.done set)
        a, b, af, bf = tb.random_job()
        await tb.run_job(a, b, af, bf)
        tb.set_pauses(0.0, 1.0)
        a, b, af, bf = tb.random_job(k=tb.rng.randint(1, DEPTH))
        await tb.program(a.shape[1], af, bf)
        status = await tb.read("STATUS")
        assert field_value("STATUS", "done", status) == 0, "done not cleared by start"
        assert field_value("STATUS", "rows_pending", status) == ROWS
        for f in tb.frame(a, b):
            await tb.src.send(f)
        for _ in range(a.shape[1] + 4 * (ROWS + COLS) + 20):
            await RisingEdge(dut.clk)
        assert dut.m_axis_tvalid.value == 1, "no result row pending before the reset"
        status = await tb.read("STATUS")
        assert field_value("STATUS", "busy", status) == 1, "not busy with rows pending"
        assert field_value("STATUS", "done", status) == 0
        COV.hit("reset", "with results pending")
        await tb.reset()
        tb.set_pauses(0.2, 0.2)
        await _expect_cleared(tb)
        a, b, af, bf = tb.random_job()
        tb.chain = None
        await tb.run_job(a, b, af, bf, accumulate=True)   # adds to zeroed sums
        await tb.random_chain()
    COV.save()


async def _expect_cleared(tb):
    await FallingEdge(tb.dut.clk)
    assert tb.dut.m_axis_tvalid.value == 0 and tb.dut.s_axis_tready.value == 0
    assert await tb.read("STATUS") == 0
    assert await tb.err() == 0
    assert await tb.read("IRQ_STATUS") == 0 and tb.dut.irq.value == 0


@cocotb.test(timeout_time=TIMEOUT_US, timeout_unit="us")
async def interrupts(dut):
    """irq = IRQ_STATUS & IRQ_ENABLE; done and error causes; write 1 to clear."""
    tb = await AxiBench(dut, "interrupts").start()
    done, error = field_mask("IRQ_STATUS", "done"), field_mask("IRQ_STATUS", "error")
    a, b, af, bf = tb.random_job()
    await tb.run_job(a, b, af, bf)
    assert await tb.read("IRQ_STATUS") == done and dut.irq.value == 0
    COV.hit("irq", "masked stays low")
    await tb.write("IRQ_ENABLE", field_mask("IRQ_ENABLE", "done"))
    await FallingEdge(dut.clk)
    assert dut.irq.value == 1
    COV.hit("irq", "done raised")
    await tb.write("IRQ_STATUS", done)
    await FallingEdge(dut.clk)
    assert dut.irq.value == 0 and await tb.read("IRQ_STATUS") == 0
    COV.hit("irq", "cleared by w1c")
    await tb.write("IRQ_ENABLE", field_mask("IRQ_ENABLE", "error"))
    await tb.read(0xFC, expect=RESP_SLVERR) if 0xFC not in OFFSET.values() else None
    await FallingEdge(dut.clk)
    assert dut.irq.value == 1 and await tb.read("IRQ_STATUS") == error
    COV.hit("irq", "error raised")
    await tb.write("IRQ_STATUS", error)
    await tb.write("ERR", 0xFFFFFFFF)
    await tb.write("IRQ_ENABLE", 0)
    COV.save()
