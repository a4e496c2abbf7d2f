"""``GemmBench``: the life cycle shared by the array and the tile benches.

Both benches feed one or more input streams through ``StreamDriver``s, take
result rows from one output stream through a ``StreamMonitor`` and match
each row exactly once against model-fed expectations.  This base class owns
that part: clock, reset (at start and mid-test), the result codec (built from
the design's own output layout by ``hw.codec``), the scoreboard, draining
(every queued beat in, every expected row out, then nothing extra) and the
end-of-test log and coverage file.  Subclasses add their stimulus and what
"idle" means for them (``quiet``), and name their stall coverage
(``sample_stalls``).
"""

from __future__ import annotations

import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from hw.codec import LayoutCodec, stream_lanes

from .clocking import start_clock
from .golden import fill_to, gemm_expect
from .scoreboard import Scoreboard
from .seed import get_seed, test_rng
from .stream import PauseControl, StreamDriver, StreamMonitor

__all__ = ["GemmBench", "describe_row", "fill_to", "asymmetric_lanes"]


def asymmetric_lanes(n: int) -> np.ndarray:
    """Lanes (rows or columns) that take part in a directed overflow pattern:
    the first ceil(n/2) of n.  Never a palindrome for n >= 2, so flags or
    sums packed in reversed lane order cannot pass."""
    return np.arange(n) < (n + 1) // 2


def describe_row(row) -> str:
    r, last, data, ovf = row
    return f"row={r} last={last} data={list(data)} overflow={[int(x) for x in ovf]}"


class GemmBench:
    """Base of the array / tile benches (see the module doc).

    ``out``: prefix of the result stream (``o`` / ``result``); ``out_layout``:
    its payload layout; ``check``: signals X/Z-checked every cycle.
    """

    def __init__(self, dut, name: str, title: str, cov, *, rows: int, acc_width: int,
                 out: str, out_layout, out_pause=None, check: dict | None = None):
        self.dut = dut
        self.name = name
        self.cov = cov
        self.rows = rows
        self.acc_width = acc_width
        self.rng, self.np_rng = test_rng(name)
        self.out_pause = PauseControl(out_pause)
        self.result_codec = LayoutCodec(out_layout, stream_lanes(out_layout))
        self.sb = Scoreboard(f"{name} {title}", describe_row)
        self.drivers: dict[str, StreamDriver] = {}
        self.mon = StreamMonitor(dut.clk, getattr(dut, f"{out}__valid"),
                                 getattr(dut, f"{out}__ready"), getattr(dut, f"{out}__payload"),
                                 self.on_result, pause=self.out_pause, rst=dut.rst,
                                 check=check or {})

    def add_driver(self, prefix: str, layout, pause=None) -> StreamDriver:
        """A driver for input stream ``prefix`` (payload width from ``layout``)."""
        ctl = PauseControl(pause)
        drv = StreamDriver(self.dut.clk, getattr(self.dut, f"{prefix}__valid"),
                           getattr(self.dut, f"{prefix}__ready"),
                           getattr(self.dut, f"{prefix}__payload"), layout.size,
                           pause=ctl, rng=self.rng)
        drv.pause_control = ctl
        self.drivers[prefix] = drv
        return drv

    # ---- life cycle -------------------------------------------------------------
    def idle_inputs(self):
        """Drive side inputs (not streams) to their idle values; called in resets."""

    def after_reset(self):
        """Bench state to forget when ``rst`` is released (counters, open sums)."""

    async def start(self):
        start_clock(self.dut)
        get_seed()
        self.dut.rst.value = 1
        self.idle_inputs()
        for drv in self.drivers.values():
            drv.start()
        self.mon.start()
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.after_reset()
        return self

    async def reset(self, cycles: int = 3):
        """Reset mid-test: queued beats and expected rows are dropped."""
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 1
        for drv in self.drivers.values():
            drv.abort()
        self.sb.flush()
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.after_reset()

    @property
    def inputs_busy(self) -> bool:
        return any(d.busy for d in self.drivers.values())

    def quiet(self) -> bool:
        """Whether the design has nothing left in flight (subclasses add to it)."""
        return True

    async def drain(self, timeout_cycles: int | None = None):
        """Wait until every queued beat is in and every expected row is out,
        then some more cycles in which nothing may come out."""
        queued = sum(len(d.queue) for d in self.drivers.values())
        limit = timeout_cycles or 3000 + 20 * queued + 200 * len(self.sb.expected)
        for _ in range(limit):
            if not self.inputs_busy and not self.sb.expected and self.quiet():
                break
            await FallingEdge(self.dut.clk)
        for _ in range(self.quiet_cycles()):
            await FallingEdge(self.dut.clk)
        self.sb.check_done()
        assert not self.inputs_busy, f"{self.name}: the design stopped taking input beats"
        assert self.quiet(), f"{self.name}: still busy after all rows came out"

    def quiet_cycles(self) -> int:
        return 3 * self.rows + 20

    # ---- bounded waits ------------------------------------------------------------
    def cycle_budget(self) -> int:
        """Cycles within which the design must take everything queued now and
        emit every expected row (a generous multiple of the work in flight,
        under the benches' heaviest pauses), so a design that stops is a
        failure, not a hang.  Subclasses may scale it."""
        beats = sum(len(d.queue) for d in self.drivers.values())
        return 500 + 30 * beats + 40 * len(self.sb.expected) * max(1, self.rows)

    def state(self) -> str:
        """What is in flight, for timeout messages (subclasses add signals)."""
        queued = ", ".join(f"{p}: {len(d.queue)} queued"
                           + (" + 1 on offer" if d._offered is not None else "")
                           for p, d in self.drivers.items())
        return f"{queued}; {len(self.sb.expected)} rows expected"

    async def wait_until(self, done, what: str, cycles: int | None = None):
        """Falling edges until ``done()``; after ``cycles`` (default
        ``cycle_budget()``) fail with a message naming ``what``."""
        limit = self.cycle_budget() if cycles is None else cycles
        for _ in range(limit):
            if done():
                return
            await FallingEdge(self.dut.clk)
        if not done():
            raise AssertionError(f"{self.name}: timed out after {limit} cycles waiting for "
                                 f"{what} ({self.state()})")

    # ---- results ----------------------------------------------------------------
    def on_result(self, word: int):
        f = self.result_codec.unpack(word)
        self.sb.receive((f["row"], f["last"], f["data"], tuple(bool(x) for x in f["overflow"])))

    def expect_rows(self, sums, ovf, tag: str):
        """Queue the R rows of one result set (sums wrapped, flags per column)."""
        for r in range(self.rows):
            self.sb.expect((r, int(r == self.rows - 1), tuple(int(x) for x in sums[r]),
                            tuple(bool(x) for x in ovf[r])), f"{tag} row {r}")

    def expect_gemm(self, a_nib, b_nib, af, bf):
        """(wrapped sums, overflow mask) of the model for this bench's width."""
        return gemm_expect(a_nib, b_nib, af, bf, self.acc_width)

    # ---- overflow stimulus ------------------------------------------------------
    @property
    def bounds(self) -> tuple[int, int]:
        return -(1 << (self.acc_width - 1)), (1 << (self.acc_width - 1)) - 1

    def fill_operands(self, target: int, cols: int, extra=None):
        """``(a_fmt, b_fmt, A, B)``: every output sums to ``target``, then an
        optional last beat of per-row A nibbles / per-column B nibbles
        ``extra = (a_last[rows], b_last[cols])`` is appended."""
        af, bf, pairs = fill_to(target)
        k = len(pairs) + (extra is not None)
        a = np.zeros((self.rows, k), dtype=np.uint8)
        b = np.zeros((k, cols), dtype=np.uint8)
        for t, (x, y) in enumerate(pairs):
            a[:, t] = x
            b[t, :] = y
        if extra is not None:
            a[:, -1], b[-1, :] = extra
        return af, bf, a, b

    # ---- end of a test ----------------------------------------------------------
    def sample_stalls(self):
        """Hit the bench's stall coverage bins from driver/monitor statistics."""

    def finish(self):
        self.sample_stalls()
        stats = "; ".join(f"{p}: beats {d.beats} gaps {d.gap_cycles} blocked {d.blocked_cycles}"
                          for p, d in self.drivers.items())
        self.dut._log.info("%s: %d rows matched; %s; out stalls %d; X/Z-checked cycles %d",
                           self.name, self.sb.matched, stats, self.mon.stall_cycles,
                           self.mon.checked_cycles)
        self.dut._log.info("%s", self.cov.report())
        self.cov.save()
