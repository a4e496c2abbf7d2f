"""A lean AXI4-Stream master for ports whose slave holds ``tready`` low for long.

The quantization unit's input ports (``s_axis_qcfg``, ``s_axis_mask``,
``s_axis_rq``) get a whole batch's beats queued at its start, and the unit
takes a configuration only between its jobs: the first beat waits with
``tvalid`` high and ``tready`` low for most of the batch.  cocotbext-axi's
``AxiStreamSource`` wakes a Python coroutine on every clock edge while it
holds a beat: those waits were 28,000 of the 73,000 coroutine wake-ups of a
profiled bus run (docs/integration.md, "The driver through the bus").  ``StreamFeed`` drives
the same handshake (``tdata``/``tvalid``/``tlast`` set after a clock edge,
the transfer sampled on the edge, as cocotbext-axi does) but sleeps until
``tready`` rises while its beat is held, and until beats are queued while it
has none.  ``set_pauses(permille, seed)`` drops ``tvalid`` for random
cycles (then it wakes every edge, as any random pause must).
"""

from __future__ import annotations

import random
from collections import deque

import cocotb
from cocotb.triggers import Event, RisingEdge

__all__ = ["StreamFeed"]


class StreamFeed:
    """Master of the ``prefix``_t* signals of ``dut``; ``send(words)`` queues one
    frame (``tlast`` on its last beat)."""

    def __init__(self, dut, prefix: str):
        self.clk = dut.clk
        self.tdata = getattr(dut, f"{prefix}_tdata")
        self.tvalid = getattr(dut, f"{prefix}_tvalid")
        self.tready = getattr(dut, f"{prefix}_tready")
        self.tlast = getattr(dut, f"{prefix}_tlast")
        self.beats: deque[tuple[int, int]] = deque()
        self.queued = Event()
        self.pause = lambda: False
        self.tvalid.value = 0
        self.tlast.value = 0
        self._task = cocotb.start_soon(self._run())

    def set_pauses(self, permille: int, seed: int):
        rng = random.Random(seed)
        self.pause = (lambda: rng.randrange(1000) < permille) if permille > 0 else \
            (lambda: False)

    def send(self, words: list[int]):
        for i, w in enumerate(words):
            self.beats.append((w, int(i == len(words) - 1)))
        if words:
            self.queued.set()

    def clear(self):
        """Drop queued beats and release the bus (after a reset)."""
        self.beats.clear()
        self._task.cancel()
        self.tvalid.value = 0
        self.tlast.value = 0
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        edge = RisingEdge(self.clk)
        held = False                    # a beat is on the bus (tvalid high)
        last = 0                        # what tlast holds: written only when it changes
        while True:
            if held and not int(self.tready.value):
                await RisingEdge(self.tready)       # the slave is not taking it yet
            elif not held and not self.beats:
                self.queued.clear()
                await self.queued.wait()
            await edge
            was_valid = held
            if held and int(self.tready.value):     # sampled on the edge: taken
                held = False
            if not held:
                if self.beats and not self.pause():
                    word, beat_last = self.beats.popleft()
                    self.tdata.value = word
                    if beat_last != last:
                        self.tlast.value = last = beat_last
                    if not was_valid:
                        self.tvalid.value = 1
                    held = True
                elif was_valid:
                    self.tvalid.value = 0
