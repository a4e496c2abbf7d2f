"""Pipelined FP16 x FP16 -> FP32 multiply-accumulate PE (one MAC per cycle).

The unpipelined ``fp16_pe.Fp16MacPE`` adds each product into one binary32
register in the cycle it arrives, so its clock is the whole multiply and
FP32 add (~17 MHz on ECP5).  Cutting the add into stages breaks that loop:
the sum of one product is not ready for the next.  This PE keeps
``P = ADD_STAGES`` interleaved partial sums instead and reduces them once the
operands stop.

Arithmetic (bit-exact against NumPy, tests/test_baselines_pipelined.py).
Products ``p_0, p_1, ...`` are the valid beats since the last ``clear``
(``valid & clear`` is beat 0 of a new sum), each the exact binary32 product
``float32(a) * float32(b)``; bubbles (``valid`` low) do not count::

    s_j = (((-0 + p_j) + p_{j+P}) + p_{j+2P}) + ...      # j = 0 .. P-1
    sum = ((((-0 + s_0) + s_1) + s_2) + ...) + s_{P-1}    # no beats: +0

Every ``+`` is binary32 addition, round to nearest even, with the IEEE
specials, signed zeros and subnormals of ``Fp32Adder``; NaN results are the
canonical ``0x7FC00000``.  A slot without beats is ``-0``, which adds
exactly (``x + -0 == x``), so a sum of fewer than ``P`` beats is just the
fold of its products.  ``clear`` alone (and reset) gives ``+0``.

Handshake: ``acc`` holds ``sum`` while ``acc_valid`` is high.  A valid beat
or a clear lowers ``acc_valid`` as it enters; when no more arrive,
``acc_valid`` rises ``latency`` cycles after the last beat's operands (the
convention of ``hw.pe``: at latency 1 the sum would show right after the
clock edge that takes the operands).  Operands may keep streaming with any
bubbles: a reduction that is running when a beat arrives is abandoned and
started again later, so a sum can be read after any pause of ``latency``
cycles and accumulation continues afterwards.

Structure: ``MUL_STAGES`` register stages of the exact multiplier
(``fp_stages.MUL_STEPS``), then an FP32 adder of ``ADD_STAGES`` register
stages (an operand register, then ``fp_stages.ADD_STEPS``) whose last stage writes the slot register
``s[n mod P]`` (beat ``n``).  Beat ``n + P`` arrives at least ``P`` cycles
after beat ``n`` and so reads its slot after the write.  With no beat at the
adder input and none in flight, the same adder runs the reduction: step
``k`` adds slot ``k`` (``-0`` if it has no beat) to ``acc`` (``-0`` for
``k = 0``), one step at a time, ``P`` steps.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..pe_signature import PESignature
from .fp16_pe import NEG_ZERO32
from .fp_stages import ADD_STEPS, MUL_STEPS, register

__all__ = ["Fp16PipelinedMacPE", "MUL_STAGES", "ADD_STAGES"]

MUL_STAGES = len(MUL_STEPS)
# A register on the adder's operands (slot read, operand select), then one
# stage per step; the last step writes the slot.
ADD_STAGES = 1 + len(ADD_STEPS)


class Fp16PipelinedMacPE(wiring.Component):
    """binary16 products into ``ADD_STAGES`` interleaved binary32 partial sums.

    Ports: ``fp16_pe``'s ``PESignature`` plus ``acc_valid``.  ``latency``
    (read-only): cycles from the last beat's operands to ``acc_valid``;
    ``slots``: the number of partial sums.
    """

    slots = ADD_STAGES
    # Multiplier, then the beat's add, then P reduction steps of P cycles.
    latency = MUL_STAGES + ADD_STAGES + ADD_STAGES * ADD_STAGES
    lanes = 1

    def __init__(self):
        super().__init__(PESignature(lane_shape=16, a_select_width=0, b_select_width=0,
                                     acc_shape=32, extra={"acc_valid": Out(1)}))

    def elaborate(self, platform):
        m = Module()
        P = self.slots

        # ---- multiplier: valid/clear travel with the operands
        bundle = dict(a=self.a[0], b=self.b[0])
        ctl = dict(valid=self.valid, clear=self.clear)
        pending = Const(0, 1)   # a beat or clear still inside the multiplier
        for i, step in enumerate(MUL_STEPS):
            bundle = register(m, step(m, bundle), f"m{i}")
            ctl = register(m, ctl, f"m{i}")
            pending = pending | ctl["valid"] | ctl["clear"]
        product, beat, clear = bundle["product"], ctl["valid"], ctl["clear"]

        # ---- accumulator state
        slots = Array(Signal(32, name=f"slot{j}") for j in range(P))
        index = Signal(range(P), name="next_slot")           # beats since clear, mod P
        count = Signal(range(P + 1), name="beats")           # beats since clear, up to P
        done = Signal(init=1, name="done")
        step = Signal(range(P + 1), name="reduce_step")      # next reduction step
        live = Signal(name="reduce_live")                    # a step is in flight

        beat_index = Mux(clear, 0, index)
        fresh = clear | (count < P)                          # the slot's first beat
        launch = Signal(name="reduce_launch")
        in_flight = Signal(name="beats_in_flight")

        read = Mux(beat, beat_index, step)
        empty = Mux(beat, fresh, step >= count)
        x = Mux(empty, NEG_ZERO32, slots[read])
        y = Mux(beat, product, Mux(step == 0, NEG_ZERO32, self.acc))

        # ---- the adder; tags say where its result goes
        data = register(m, dict(x=x, y=y), "fetch")
        tags = register(m, dict(beat=beat, slot=beat_index, reduce=launch), "fetch")
        in_flight_terms = tags["beat"]
        for i, step_fn in enumerate(ADD_STEPS):
            data = step_fn(m, data)
            if i < len(ADD_STEPS) - 1:
                data = register(m, data, f"a{i}")
                tags = register(m, tags, f"a{i}")
                in_flight_terms = in_flight_terms | tags["beat"]
        m.d.comb += in_flight.eq(in_flight_terms)
        result = data["result"]

        with m.If(tags["beat"]):
            m.d.sync += slots[tags["slot"]].eq(result)
        with m.If(tags["reduce"] & live):
            m.d.sync += [self.acc.eq(result), live.eq(0)]
            with m.If(step == P):
                m.d.sync += done.eq(1)

        # ---- reduction control: one step at a time, only while idle
        m.d.comb += launch.eq(~beat & ~clear & ~done & ~in_flight & ~live
                              & (count != 0) & (step < P))
        with m.If(launch):
            m.d.sync += [step.eq(step + 1), live.eq(1)]
        with m.If(~beat & ~clear & ~done & ~in_flight & (count == 0)):
            m.d.sync += [self.acc.eq(0), done.eq(1)]          # the empty sum

        # ---- beats and clears (last: they override the above)
        with m.If(beat):
            m.d.sync += [index.eq(Mux(beat_index == P - 1, 0, beat_index + 1)),
                         count.eq(Mux(clear, 1, Mux(count == P, P, count + 1))),
                         done.eq(0), step.eq(0), live.eq(0)]
        with m.Elif(clear):
            m.d.sync += [index.eq(0), count.eq(0), done.eq(0), step.eq(0), live.eq(0)]

        m.d.comb += self.acc_valid.eq(done & ~pending)
        m.d.comb += self.overflow.eq(0)     # no such flag
        return m
