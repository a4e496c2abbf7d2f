"""verif.kit.sim_stream: the stream helpers of the Amaranth-simulator tests."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from verif.kit.sim_stream import EdgeCount, random_pause, stream_get, stream_put

LAYOUT = data.StructLayout({"word": 12, "last": 1})


class Fifo(wiring.Component):
    """A 4-deep FIFO between two streams of LAYOUT; ``ready`` can be forced low."""

    i: In(stream.Signature(LAYOUT))
    o: Out(stream.Signature(LAYOUT))
    block: In(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=LAYOUT.size, depth=4)
        m.d.comb += [
            fifo.w_data.eq(self.i.payload), fifo.w_en.eq(self.i.valid & ~self.block),
            self.i.ready.eq(fifo.w_rdy & ~self.block),
            self.o.payload.eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(self.o.ready),
        ]
        return m


def _run(*benches):
    dut = Fifo()
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in benches:
        sim.add_testbench(bench(dut))
    sim.run()


@pytest.mark.parametrize("gap,stall", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.6), (0.4, 0.4)])
def test_every_beat_arrives_once_in_order(gap, stall):
    rng = np.random.default_rng(7)
    sent = [{"word": int(w), "last": int(i == 49)} for i, w in
            enumerate(rng.integers(0, 1 << 12, 50))]
    got, moved = [], {"put": [], "get": []}

    def producer(dut):
        async def bench(ctx):
            clock = EdgeCount()
            for i, beat in enumerate(sent):
                # a mapping and a packed word are the same payload
                payload = beat if i % 2 else beat["word"] | beat["last"] << 12
                await stream_put(ctx, dut.i, payload, pause=random_pause(rng, gap), limit=50,
                                 clock=clock)
                moved["put"].append(clock.edges - 1)
            assert not ctx.get(dut.i.valid)       # valid drops after the last beat
        return bench

    def consumer(dut):
        async def bench(ctx):
            clock = EdgeCount()
            for i in range(len(sent)):
                if i % 2:
                    p = await stream_get(ctx, dut.o, pause=random_pause(rng, stall), limit=50,
                                         clock=clock, raw=True)
                    got.append({"word": p & 0xFFF, "last": p >> 12})
                else:
                    p = await stream_get(ctx, dut.o, pause=random_pause(rng, stall), limit=50,
                                         clock=clock)
                    got.append({"word": p.word, "last": p.last})
                moved["get"].append(clock.edges - 1)
        return bench

    _run(producer, consumer)
    assert got == sent
    # One beat per edge at most on each side, and a beat leaves after it entered.
    assert all(b > a for a, b in zip(moved["put"], moved["put"][1:]))
    assert all(b > a for a, b in zip(moved["get"], moved["get"][1:]))
    assert all(g > p for p, g in zip(moved["put"], moved["get"]))
    if gap == stall == 0:           # unstalled: back to back
        assert moved["put"][:4] == [0, 1, 2, 3]


def test_a_stream_never_taken_fails_within_the_limit():
    def producer(dut):
        async def bench(ctx):
            ctx.set(dut.block, 1)
            with pytest.raises(AssertionError, match="beat 0 not taken: no handshake after 5"):
                await stream_put(ctx, dut.i, 1, limit=5, what="beat 0")
        return bench

    _run(producer)


def test_a_stream_never_given_fails_within_the_limit():
    def consumer(dut):
        async def bench(ctx):
            clock = EdgeCount()
            with pytest.raises(AssertionError, match="row not given: no handshake after 7"):
                await stream_get(ctx, dut.o, limit=7, clock=clock, what="row")
            assert clock.edges == 7
        return bench

    _run(consumer)
