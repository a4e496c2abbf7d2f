"""Accelerator tile: double-buffered operand banks, a job sequencer and the array.

::

    cmd  --> [loader] --writes--> operand memory (2 banks x depth beats)
    load --> [loader]                  |
                                       v  (one read per cycle, no bubbles)
                           [sequencer] --> SystolicArray --> result
                                         \\--> performance counters

A *job* is one command: ``k`` operand beats (A column + B row per beat, as the
array takes them), the formats, ``accumulate`` (keep the sums of the previous
job instead of clearing on the first beat) and ``emit`` (stream the R result
rows out after the last beat).  A tile GEMM of any K is one job (K <= depth) or
a chain of jobs with ``accumulate`` set on all but the first and ``emit`` on
the last.

The loader takes job n's command, waits until bank n%2 is empty, then writes
the job's ``k`` beats from ``load`` into it.  The sequencer replays bank n%2
into the array one beat per cycle while the loader fills the other bank, so
loading the next tile and draining the last overlap compute.  Jobs follow each
other without a bubble.

A command with ``k == 0`` or ``k > depth`` is dropped and raises the sticky
``cmd_error`` flag (cleared by reset); its beats, if any were sent, are taken
as the next job's.
"""

from functools import lru_cache

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from model.config import DatapathConfig

from .array import SystolicArray, input_layout, output_layout
from .pe_kinds import pe_class_for
from .pe_signature import PESignature, default_pe_signature

__all__ = ["AcceleratorTile", "job_layout", "load_layout", "tile_pe_signature", "COUNTER_WIDTH",
           "COUNTERS", "JOB_FIELDS"]

COUNTER_WIDTH = 48
# Performance counters, all counting since reset or ``counters_clear``:
COUNTERS = (
    "cycles",         # clock cycles
    "busy_cycles",    # cycles the sequencer had a job (a loaded bank or a beat in hand)
    "mac_pe_cycles",  # MAC-active PE-cycles: R*C per beat entering the array
    "stall_cycles",   # busy cycles in which no beat entered the array
    "jobs_done",      # jobs whose last beat entered the array
)


def _k_bits(depth: int) -> int:
    return depth.bit_length()   # holds 0..depth


def job_layout(depth: int, pe: PESignature | None = None) -> data.StructLayout:
    """A command: ``k`` beats, the selects of a PE that has them (widths: the
    PE's signature ``pe``), ``accumulate``, ``emit``."""
    pe = pe or default_pe_signature()
    return data.StructLayout({"k": _k_bits(depth), **pe.selects(), "accumulate": 1, "emit": 1})


# Fields of the array's input beat that come from the job's command word,
# not from the operand memory.
JOB_FIELDS = ("a_fmt", "b_fmt", "first", "last")


def load_layout(rows: int, cols: int, pe: PESignature | None = None, *,
                lanes: int = 1) -> data.StructLayout:
    """An operand beat: the array's input beat (``hw.array.input_layout`` of
    the PE ``pe``; default the radix-4 PE of ``lanes`` lanes) without the
    fields the job supplies (``JOB_FIELDS``): R A operands and C B operands
    (``k`` codes per PE input) and, for a block-scaled PE, R ``a_scale`` and
    C ``b_scale`` fields, at the same positions relative to each other."""
    beat = input_layout(rows, cols, pe or default_pe_signature(lanes))
    return data.StructLayout({name: f.shape for name, f in beat if name not in JOB_FIELDS})


@lru_cache(maxsize=None)
def tile_pe_signature(config: DatapathConfig) -> PESignature:
    """The signature of the PE a tile of ``config`` builds (kind ``config.pe``,
    its lanes, latency and accumulator), for the layouts of hosts and drivers
    that do not build the tile.  One PE is constructed, never elaborated."""
    pe = pe_class_for(config.pe, config.lanes, config.pe_model).from_config(config.datapath())
    pe._MustUse__silence = True
    return pe.signature


class AcceleratorTile(wiring.Component):
    """R x C array with double-buffered operand banks and a job sequencer.

    Built from a ``model.config.DatapathConfig`` (``config=``, or the fields
    one by one); the layouts follow the array's PE signature.
    """

    def __init__(self, rows: int | None = None, cols: int | None = None,
                 acc_width: int | None = None, depth: int | None = None,
                 pe_latency: int | None = None, *, lanes: int | None = None,
                 config: DatapathConfig | None = None):
        try:
            self.config = DatapathConfig.of(config, rows=rows, cols=cols, acc_width=acc_width,
                                            depth=depth, pe_latency=pe_latency, lanes=lanes)
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        cfg = self.config
        self.rows, self.cols, self.acc_width, self.depth = cfg.rows, cfg.cols, cfg.acc_width, \
            cfg.depth
        self.pe_latency = cfg.pe_latency
        self.array = SystolicArray(config=cfg.datapath())
        pe = self.pe_signature = self.array.pe_signature
        members = {
            "cmd": In(stream.Signature(job_layout(cfg.depth, pe))),
            "load": In(stream.Signature(load_layout(cfg.rows, cfg.cols, pe))),
            "result": Out(stream.Signature(output_layout(cfg.rows, cfg.cols, pe.acc_width))),
            "counters_clear": In(1),
            "idle": Out(1),
            "cmd_error": Out(1),
        }
        members.update({name: Out(COUNTER_WIDTH) for name in COUNTERS})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        R, C, pe = self.rows, self.cols, self.pe_signature
        m.submodules.array = arr = self.array
        m.submodules.mem = mem = memory.Memory(
            shape=load_layout(R, C, pe), depth=2 * self.depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port(domain="sync")
        kb = _k_bits(self.depth)
        addr_bits = (self.depth - 1).bit_length()

        # ---- bank state: written by the loader, freed by the sequencer -------
        bank_full = [Signal(name=f"bank{b}_full") for b in range(2)]
        bank_job = [Signal(job_layout(self.depth, pe), name=f"bank{b}_job") for b in range(2)]

        free_bank = Signal()      # the sequencer reads a bank's final beat
        seq_bank = Signal()       # bank the sequencer replays

        # ---- loader ------------------------------------------------------------
        load_bank = Signal()
        loading = Signal()
        load_job = Signal(job_layout(self.depth, pe))
        load_count = Signal(kb)
        load_last = Signal(kb)    # index of the job's final beat (k >= 1 for accepted jobs)
        load_bank_full = Signal()
        # The next command may be taken in the cycle of the current job's final
        # beat, so jobs load back to back.
        finishing = Signal()
        next_bank = Signal()
        m.d.comb += [
            load_last.eq(load_job.k - 1),
            finishing.eq(loading & self.load.valid & (load_count == load_last)),
            next_bank.eq(load_bank ^ finishing),
            # A bank the sequencer frees this cycle may be claimed this cycle.
            load_bank_full.eq(Mux(next_bank, bank_full[1], bank_full[0])
                              & ~(free_bank & (seq_bank == next_bank))),
            self.cmd.ready.eq((~loading | finishing) & ~load_bank_full),
        ]
        cmd_error = Signal()
        m.d.comb += self.cmd_error.eq(cmd_error)
        set_full = Signal()

        m.d.comb += [
            self.load.ready.eq(loading),
            wr.addr.eq(load_bank << addr_bits | load_count[:addr_bits]),
            wr.data.eq(self.load.payload),
            wr.en.eq(self.load.valid & loading),
        ]
        with m.If(self.load.valid & loading):
            m.d.sync += load_count.eq(load_count + 1)
            with m.If(load_count == load_last):
                m.d.comb += set_full.eq(1)
                m.d.sync += [loading.eq(0), load_bank.eq(~load_bank)]
                for b in range(2):
                    with m.If(load_bank == b):
                        m.d.sync += bank_job[b].eq(load_job)
        # Taking a command comes after the final-beat update so that it wins.
        with m.If(self.cmd.valid & self.cmd.ready):
            k = self.cmd.payload.k
            with m.If((k == 0) | (k > self.depth)):
                m.d.sync += cmd_error.eq(1)
            with m.Else():
                m.d.sync += [load_job.eq(self.cmd.payload), loading.eq(1), load_count.eq(0)]

        # ---- sequencer ---------------------------------------------------------
        seq_ptr = Signal(kb)
        cur_full = Signal()
        cur_job = Signal(job_layout(self.depth, pe))
        cur_last = Signal(kb)     # index of the current job's final beat
        m.d.comb += [
            cur_full.eq(Mux(seq_bank, bank_full[1], bank_full[0])),
            cur_job.eq(Mux(seq_bank, bank_job[1], bank_job[0])),
            cur_last.eq(cur_job.k - 1),
        ]
        # The read port's data register is the array's input: it holds a beat
        # while the array is not ready (en low), so no skid buffer is needed.
        beat_valid = Signal()
        beat_first = Signal()
        beat_last = Signal()
        beat_job_end = Signal()   # the beat in hand is its job's final beat
        beat_selects = {name: Signal(width, name=f"beat_{name}")
                        for name, width in pe.selects().items()}
        advance = Signal()
        take = Signal()
        m.d.comb += [
            advance.eq(~beat_valid | arr.i.ready),
            take.eq(advance & cur_full),
            rd.addr.eq(seq_bank << addr_bits | seq_ptr[:addr_bits]),
            rd.en.eq(advance),
        ]
        with m.If(advance):
            m.d.sync += [
                beat_valid.eq(cur_full),
                beat_first.eq((seq_ptr == 0) & ~cur_job.accumulate),
                beat_last.eq((seq_ptr == cur_last) & cur_job.emit),
                beat_job_end.eq(seq_ptr == cur_last),
                *(sel.eq(getattr(cur_job, name)) for name, sel in beat_selects.items()),
            ]
        with m.If(take):
            m.d.sync += seq_ptr.eq(seq_ptr + 1)
            with m.If(seq_ptr == cur_last):
                m.d.comb += free_bank.eq(1)
                m.d.sync += [seq_ptr.eq(0), seq_bank.eq(~seq_bank)]

        # bank_full: set by the loader, cleared by the sequencer (never the
        # same bank in the same cycle: the loader only fills an empty bank).
        for b in range(2):
            with m.If(set_full & (load_bank == b)):
                m.d.sync += bank_full[b].eq(1)
            with m.Elif(free_bank & (seq_bank == b)):
                m.d.sync += bank_full[b].eq(0)

        m.d.comb += [
            arr.i.valid.eq(beat_valid),
            *(getattr(arr.i.payload, name).eq(getattr(rd.data, name))
              for name, _ in load_layout(R, C, pe)),
            *(getattr(arr.i.payload, name).eq(sel) for name, sel in beat_selects.items()),
            arr.i.payload.first.eq(beat_first),
            arr.i.payload.last.eq(beat_last),
            self.idle.eq(~loading & ~bank_full[0] & ~bank_full[1] & ~beat_valid),
        ]

        # Results stream straight out of the array's registered output.
        wiring.connect(m, arr.o, wiring.flipped(self.result))

        # ---- performance counters -------------------------------------------
        entered = Signal()
        busy = Signal()
        m.d.comb += [entered.eq(arr.i.valid & arr.i.ready), busy.eq(cur_full | beat_valid)]
        increments = {
            "cycles": 1,
            "busy_cycles": busy,
            "mac_pe_cycles": entered * (R * C),
            "stall_cycles": busy & ~entered,
            "jobs_done": entered & beat_job_end,
        }
        for name in COUNTERS:
            counter = getattr(self, name)
            with m.If(self.counters_clear):
                m.d.sync += counter.eq(0)
            with m.Else():
                m.d.sync += counter.eq(counter + increments[name])
        return m

Accelerator = AcceleratorTile  # short name
