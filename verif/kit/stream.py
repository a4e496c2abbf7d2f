"""valid/ready stream driver and monitor with configurable stalls.

Timing discipline (robust on Icarus and Verilator alike): inputs change on
the falling clock edge, and a handshake is decided from the values settled
in the ``ReadOnly`` phase after that edge -- exactly what the next rising
edge will see, whether ``ready`` is registered or combinational.

Stalls come from *pause generators* (as in cocotbext-axi): iterators of
bools, one per cycle, ``True`` meaning "hold off this cycle".  The driver
consults its generator only between beats (a beat once offered stays
offered until taken, as the stream protocol requires); the monitor drops
``ready`` on every paused cycle.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from typing import Callable, Iterator

from cocotb.triggers import FallingEdge, ReadOnly


def no_pause() -> Iterator[bool]:
    return itertools.repeat(False)


def random_pause(rng: random.Random, probability: float) -> Iterator[bool]:
    """Each cycle paused independently with ``probability``."""
    while True:
        yield rng.random() < probability


def burst_pause(rng: random.Random, probability: float, max_burst: int = 8) -> Iterator[bool]:
    """Runs of 1..max_burst paused cycles, starting with ``probability`` per cycle."""
    while True:
        if rng.random() < probability:
            for _ in range(rng.randint(1, max_burst)):
                yield True
        yield False


class PauseControl:
    """A pause generator that a test can override: ``force = True/False/None``."""

    def __init__(self, gen: Iterator[bool] | None = None):
        self.gen = gen or no_pause()
        self.force: bool | None = None

    def __iter__(self):
        return self

    def __next__(self) -> bool:
        value = next(self.gen)      # keep the generator's stream aligned either way
        return value if self.force is None else self.force


_RESOLVABLE = frozenset("01LH")


def assert_resolvable(signals: dict, when: str = ""):
    """Fail if any signal carries X or Z (meaningful on 4-state Icarus).

    Same test as cocotb's ``is_resolvable`` (every bit 0, 1, L or H), on the
    value's string, which cocotb already holds: ``is_resolvable`` builds one
    ``Logic`` object per bit, a quarter of a bench's run time on wide payloads."""
    for name, sig in signals.items():
        value = sig.value
        if not _RESOLVABLE.issuperset(str(value)):
            raise AssertionError(f"{name} = {value} has X/Z {when}".rstrip())


class StreamDriver:
    """Offers queued payloads on a (valid, ready, payload) stream.

    ``send(int)`` queues a beat; ``await idle()`` waits until all are taken.
    ``abort()`` drops everything queued or on offer (used around a reset).
    Idle cycles drive random junk on the payload so a design that latches
    payload without ``valid`` is caught.  Statistics (``beats``, ``gap_cycles``
    (valid low with data waiting), ``blocked_cycles`` (valid high, ready low))
    feed the coverage.
    """

    def __init__(self, clk, valid, ready, payload, width: int, *,
                 pause: Iterator[bool] | None = None, rng: random.Random | None = None,
                 on_accept: Callable[[int], None] | None = None):
        self.clk, self.valid, self.ready, self.payload = clk, valid, ready, payload
        self.width = width
        self.pause = pause or no_pause()
        self.rng = rng or random.Random(0)
        self.on_accept = on_accept
        self.queue: deque[int] = deque()
        self.beats = 0
        self.gap_cycles = 0
        self.blocked_cycles = 0
        self._offered: int | None = None
        self._abort = False
        self.valid.value = 0
        self.payload.value = 0
        self._task = None

    def start(self):
        import cocotb
        self._task = cocotb.start_soon(self._run())
        return self

    def send(self, payload: int):
        self.queue.append(payload)

    def abort(self):
        self._abort = True
        self.queue.clear()

    @property
    def busy(self) -> bool:
        return bool(self.queue) or self._offered is not None

    async def idle(self):
        while self.busy:
            await FallingEdge(self.clk)

    async def _run(self):
        taken = False
        while True:
            await FallingEdge(self.clk)
            if self._abort:
                self._offered, taken, self._abort = None, False, False
            if taken:
                self.beats += 1
                if self.on_accept is not None:
                    self.on_accept(self._offered)
                self._offered = None
            if self._offered is None and self.queue:
                if next(self.pause):
                    self.gap_cycles += 1
                else:
                    self._offered = self.queue.popleft()
            if self._offered is None:
                self.valid.value = 0
                self.payload.value = self.rng.getrandbits(self.width)
            else:
                self.valid.value = 1
                self.payload.value = self._offered
            await ReadOnly()
            taken = self._offered is not None and self.ready.value == 1
            if self._offered is not None and not taken:
                self.blocked_cycles += 1


class StreamMonitor:
    """Takes beats from a (valid, ready, payload) stream with random ready stalls.

    Each accepted beat is passed to ``callback(int)``.  ``check`` signals
    (name -> handle) are checked for X/Z every cycle while ``rst`` is low.
    Beats seen while ``rst`` is high are ignored (reset wins over a handshake).
    """

    def __init__(self, clk, valid, ready, payload, callback: Callable[[int], None], *,
                 pause: Iterator[bool] | None = None, rst=None, check: dict | None = None):
        self.clk, self.valid, self.ready, self.payload = clk, valid, ready, payload
        self.callback = callback
        self.pause = pause or no_pause()
        self.rst = rst
        self.check = check or {}
        self.beats = 0
        self.stall_cycles = 0          # valid high, ready held low by us
        self.both_cycles = 0           # filled in by the bench from driver+monitor
        self.checked_cycles = 0
        self.ready.value = 0
        self._task = None

    def start(self):
        import cocotb
        self._task = cocotb.start_soon(self._run())
        return self

    async def _run(self):
        while True:
            await FallingEdge(self.clk)
            ready = 0 if next(self.pause) else 1
            self.ready.value = ready
            await ReadOnly()
            if self.rst is not None and self.rst.value == 1:
                continue
            if self.check:
                assert_resolvable(self.check, "after reset")
                self.checked_cycles += 1
            if self.valid.value == 1:
                if ready:
                    self.beats += 1
                    self.callback(int(self.payload.value))
                else:
                    self.stall_cycles += 1
