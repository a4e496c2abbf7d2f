"""Bit-exact checks of the pipelined baseline PEs against NumPy (Verilator).

* INT8 PE at latency 2, 3, 4: every product, and accumulation with wrap, equal
  to the latency-1 arithmetic ``latency - 1`` cycles later.
* The FP16 multiplier and FP32 adder step pipelines (``fp_stages``) on their
  own, one vector per cycle, against ``np.float32`` arithmetic.
* The pipelined FP16 PE against a NumPy model of exactly its documented
  arithmetic (interleaved partial sums, fixed reduction order) and of its
  ``acc_valid`` timing; and a wrong reduction order or slot rule is caught.
"""

# (no `from __future__ import annotations`: Amaranth reads the _Bench annotations)

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from baseline_vectors import (FP16_SPECIALS, FP32_SPECIALS, VectorRunner, assert_fp32_equal,
                              f16_bits, f32_bits)
from hw.baselines.fp16_pipelined import Fp16PipelinedMacPE
from hw.baselines.fp_stages import StagedAdder, StagedMultiplier
from hw.baselines.int8_pe import Int8MacPE

# The baselines are measuring sticks for docs/hardware-cost.md, not the
# product: their Verilator build takes 1.5-2 minutes of a fresh clone, so
# they run in `make test-slow` (which .ci/run calls too), not in `make test`.
pytestmark = pytest.mark.slow

INT8_LATENCIES = (2, 3, 4)
P = Fp16PipelinedMacPE.slots
L = Fp16PipelinedMacPE.latency


class _Bench(wiring.Component):
    """Every pipelined design side by side (one Verilator build)."""

    mul_a: In(16)
    mul_b: In(16)
    mul_product: Out(32)
    add_x: In(32)
    add_y: In(32)
    add_result: Out(32)
    fp_a: In(16)
    fp_b: In(16)
    fp_valid: In(1)
    fp_clear: In(1)
    fp_acc: Out(32)
    fp_acc_valid: Out(1)
    i8_a: In(8)
    i8_b: In(8)
    i8_valid: In(1)
    i8_clear: In(1)
    i8_acc2: Out(32)
    i8_acc3: Out(32)
    i8_acc4: Out(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mul = mul = StagedMultiplier()
        m.submodules.add = add = StagedAdder()
        m.submodules.fp = fp = Fp16PipelinedMacPE()
        m.d.comb += [mul.a.eq(self.mul_a), mul.b.eq(self.mul_b), self.mul_product.eq(mul.product),
                     add.x.eq(self.add_x), add.y.eq(self.add_y), self.add_result.eq(add.result),
                     self.fp_acc.eq(fp.acc), self.fp_acc_valid.eq(fp.acc_valid)]
        for port in ("a", "b", "valid", "clear"):
            m.d.comb += getattr(fp, port).eq(getattr(self, f"fp_{port}"))
        for lat in INT8_LATENCIES:
            pe = Int8MacPE(latency=lat)
            m.submodules[f"int8_{lat}"] = pe
            for port in ("a", "b", "valid", "clear"):
                m.d.comb += getattr(pe, port).eq(getattr(self, f"i8_{port}"))
            m.d.comb += getattr(self, f"i8_acc{lat}").eq(pe.acc)
        return m


@pytest.fixture(scope="module")
def bench():
    members = _Bench().signature.members
    inputs = [k for k, v in members.items() if v.flow == In]
    outputs = [k for k, v in members.items() if v.flow == Out]
    return VectorRunner(_Bench(), inputs, outputs)


def _delayed(values, latency):
    """Inputs padded with ``latency - 1`` idle cycles, so every output is seen."""
    return np.concatenate([np.asarray(values), np.zeros(latency - 1, np.asarray(values).dtype)])


# --------------------------------------------------------------------------
# INT8 PE, latency 2..4

def _as_int32(raw) -> np.ndarray:
    return np.asarray(raw, dtype=np.uint64).astype(np.uint32).view(np.int32).astype(np.int64)


def _int8_reference(a, b, valid, clear) -> np.ndarray:
    acc, out = 0, np.empty(len(a), np.int64)
    for i in range(len(a)):
        if valid[i]:
            acc = ((0 if clear[i] else acc) + int(a[i]) * int(b[i]) + 2**31) % 2**32 - 2**31
        elif clear[i]:
            acc = 0
        out[i] = acc
    return out


def test_int8_pipelined_products_and_sums(bench):
    a, b = (g.ravel() for g in np.meshgrid(np.arange(-128, 128), np.arange(-128, 128)))
    ones = np.ones(a.size, np.uint8)
    rng = np.random.default_rng(5)
    n = 20_000
    # Every product as a one-beat sum, then random sums with bubbles and
    # clears, then a long run of the largest product that wraps past 2^31.
    a = np.concatenate([a, rng.integers(-128, 128, n), np.full(140_000, -128)])
    b = np.concatenate([b, rng.integers(-128, 128, n), np.full(140_000, -128)])
    valid = np.concatenate([ones, rng.random(n) < 0.9, np.ones(140_000)]).astype(np.uint8)
    clear = np.concatenate([ones, rng.random(n) < 0.02, np.zeros(140_000)]).astype(np.uint8)
    clear[ones.size + n] = 1
    want = _int8_reference(a, b, valid, clear)
    assert want[-1] < 0 < want[ones.size + n + 131_070]   # the wrap happened
    pad = max(INT8_LATENCIES)
    got = bench.run(i8_a=_delayed(a & 0xFF, pad), i8_b=_delayed(b & 0xFF, pad),
                    i8_valid=_delayed(valid, pad), i8_clear=_delayed(clear, pad))
    for lat in INT8_LATENCIES:
        np.testing.assert_array_equal(_as_int32(got[f"i8_acc{lat}"])[lat - 1:lat - 1 + a.size],
                                      want, err_msg=f"latency {lat}")


def test_int8_latency_is_declared():
    assert [Int8MacPE(latency=lat).latency for lat in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert Int8MacPE().latency == 4
    with pytest.raises(ValueError):
        Int8MacPE(latency=5)


# --------------------------------------------------------------------------
# The FP16 multiplier and FP32 adder step pipelines

def test_staged_multiplier_exact(bench):
    rng = np.random.default_rng(17)
    sa, sb = np.meshgrid(FP16_SPECIALS, FP16_SPECIALS)
    # Subnormal x anything: every leading-zero count of both operands.
    sub = np.arange(1, 0x400, dtype=np.uint16)
    a = np.concatenate([sa.ravel(), np.repeat(sub, 8), rng.integers(0, 2**16, 300_000)]).astype(np.uint16)
    b = np.concatenate([sb.ravel(), rng.integers(0, 2**16, 8 * sub.size),
                        rng.integers(0, 2**16, 300_000)]).astype(np.uint16)
    with np.errstate(all="ignore"):
        want = f32_bits(a.view(np.float16).astype(np.float32) * b.view(np.float16).astype(np.float32))
    lat = StagedMultiplier.latency
    got = bench.run(mul_a=_delayed(a, lat), mul_b=_delayed(b, lat))["mul_product"][lat - 1:]
    assert_fp32_equal(got, want, {"a": a, "b": b})


def test_staged_adder_matches_numpy(bench):
    from test_baselines import _adder_vectors
    x, y = _adder_vectors(np.random.default_rng(20240607))
    with np.errstate(all="ignore"):
        want = f32_bits(x.view(np.float32) + y.view(np.float32))
    lat = StagedAdder.latency
    got = bench.run(add_x=_delayed(x, lat), add_y=_delayed(y, lat))["add_result"][lat - 1:]
    assert_fp32_equal(got, want, {"x": x, "y": y})
    assert np.sum(np.isin(x, FP32_SPECIALS)) > 0


# --------------------------------------------------------------------------
# Pipelined FP16 PE

NEG_ZERO = np.float32(-0.0)


def fp16_pipelined_reference(a, b, valid, clear, *, slots=P, order=None, by_cycle=False):
    """The documented sum after each cycle's inputs (float32 bits).

    ``order`` (default 0..P-1) and ``by_cycle`` (slot = cycles since clear
    instead of beats) exist to show that the check tells them apart.
    """
    order = list(range(slots)) if order is None else order
    with np.errstate(all="ignore"):
        products = a.view(np.float16).astype(np.float32) * b.view(np.float16).astype(np.float32)
        out = np.empty(len(a), np.float32)
        s = [NEG_ZERO] * slots
        beats, cycles, current = 0, 0, np.float32(0.0)
        for i in range(len(a)):
            if clear[i]:
                beats, cycles = 0, 0
            if valid[i]:
                n = cycles if by_cycle else beats
                j = n % slots
                s[j] = (NEG_ZERO if n < slots else s[j]) + products[i]
                beats += 1
            if clear[i] or valid[i]:
                used = min(cycles + 1 if by_cycle else beats, slots)
                if beats == 0:
                    current = np.float32(0.0)
                else:
                    current = NEG_ZERO
                    for k in order:
                        current = current + (s[k] if k < used else NEG_ZERO)
            if clear[i] or cycles:
                cycles += 1
            out[i] = current
    return out.view(np.uint32)


def _check_fp16_pe(got, a, valid, clear, want):
    """Where no valid/clear arrived in the last ``L - 1`` cycles, acc_valid is
    high and acc equals the sum ``L - 1`` cycles back; where the last
    valid/clear in that window was a valid beat, acc_valid is low."""
    n = len(a)
    events = np.concatenate([[0], np.cumsum((valid | clear).astype(np.int64))])
    i = np.arange(n)
    lo = np.maximum(i - L + 2, 0)
    quiet = events[i + 1] - events[lo] == 0
    # The last valid/clear up to each cycle: a beat in the window (not
    # followed by a clear alone) keeps acc_valid low.
    last = np.maximum.accumulate(np.where(valid | clear, i, -1))
    busy = (last >= lo) & (valid[np.maximum(last, 0)] == 1)
    acc, acc_valid = got["fp_acc"], got["fp_acc_valid"]
    assert not np.any(acc_valid[busy]), "acc_valid high with a beat in flight"
    checked = quiet & (i >= L - 1)
    assert np.all(acc_valid[checked] == 1), f"acc_valid low at {np.flatnonzero(checked & (acc_valid == 0))[:5]}"
    idx = np.flatnonzero(checked)
    assert_fp32_equal(acc[idx], want[idx - (L - 1)], {"cycle": idx})
    return idx.size


def _fp16_stream(rng, sums=400):
    """Sums of random lengths (1 .. 3P+, some long), bubbles, pauses shorter and
    longer than the latency (readouts, abandoned reductions), clear alone."""
    parts = []
    raw = lambda k: rng.integers(0, 2**16, k).astype(np.uint16)
    for s in range(sums):
        k = int(rng.choice([1, 2, P - 1, P, P + 1, 2 * P + 3, rng.integers(1, 200)]))
        kind = rng.integers(0, 4)
        if kind == 0:
            a, b = raw(k), raw(k)
        elif kind == 1:   # around one, both signs: ties, cancellation
            a = f16_bits(rng.choice([-1, 1], k) * (1 + rng.integers(0, 8, k) / 1024))
            b = f16_bits(1 + rng.integers(0, 4, k) / 1024)
        elif kind == 2:   # subnormals and zeros of either sign
            a = (rng.integers(0, 2, k) << 15 | rng.integers(0, 0x400, k) * (rng.random(k) < 0.8)).astype(np.uint16)
            b = rng.choice(FP16_SPECIALS, k).astype(np.uint16)
        else:             # moderate normals, cancelling pairs
            a = f16_bits(rng.normal(0, 4, k))
            b = f16_bits(rng.normal(0, 4, k))
            a[1::2] = a[0:k - 1:2] ^ 0x8000
            b[1::2] = b[0:k - 1:2]
        valid = np.ones(k, np.uint8)
        clear = np.zeros(k, np.uint8)
        clear[0] = rng.random() < 0.9        # else: the sum continues the previous one
        # Bubbles inside the sum, sometimes long enough to start a reduction.
        gaps = rng.random(k) < 0.15
        gap_len = np.where(rng.random(k) < 0.1, rng.integers(P, L + 5, k), rng.integers(1, 3, k))
        rows = []
        for j in range(k):
            if j and gaps[j]:
                z = gap_len[j]
                rows.append((np.zeros(z, np.uint16), np.zeros(z, np.uint16),
                             np.zeros(z, np.uint8), np.zeros(z, np.uint8)))
            rows.append((a[j:j + 1], b[j:j + 1], valid[j:j + 1], clear[j:j + 1]))
        pause = int(rng.choice([0, 1, P, L - 2, L - 1, L, L + 3, L + 10]))
        if rng.random() < 0.05:   # a clear alone in the pause
            rows.append((np.zeros(1, np.uint16),) * 2 + (np.zeros(1, np.uint8), np.ones(1, np.uint8)))
        rows.append((np.zeros(pause, np.uint16),) * 2 + (np.zeros(pause, np.uint8),) * 2)
        parts.extend(rows)
    return [np.concatenate([p[c] for p in parts]) for c in range(4)]


@pytest.fixture(scope="module")
def fp16_run(bench):
    a, b, valid, clear = _fp16_stream(np.random.default_rng(29))
    a, b, valid, clear = (_delayed(v, L + 1) for v in (a, b, valid, clear))
    got = bench.run(fp_a=a, fp_b=b, fp_valid=valid, fp_clear=clear)
    return a, b, valid, clear, got


def test_fp16_pipelined_sums(fp16_run):
    a, b, valid, clear, got = fp16_run
    want = fp16_pipelined_reference(a, b, valid, clear)
    assert _check_fp16_pe(got, a, valid, clear, want) > 500
    wf = want.view(np.float32)
    # The streams reached NaN, inf, signed zeros, subnormal-free sums of subnormal products.
    assert np.sum(np.isnan(wf)) and np.sum(np.isinf(wf)) and np.sum(want == 0x80000000)


@pytest.mark.parametrize("wrong", ["reversed order", "slot by cycle", "one running sum"])
def test_fp16_pipelined_check_catches_wrong_models(fp16_run, wrong):
    a, b, valid, clear, got = fp16_run
    kwargs = {"reversed order": dict(order=list(range(P))[::-1]),
              "slot by cycle": dict(by_cycle=True),
              "one running sum": dict(slots=1)}[wrong]
    with pytest.raises(AssertionError):
        _check_fp16_pe(got, a, valid, clear, fp16_pipelined_reference(a, b, valid, clear, **kwargs))


def test_fp16_pipelined_directed(bench):
    """Reset, fewer/exactly/more than P beats, signed zeros, inf - inf split
    over slots, and the timing of acc_valid."""
    one, neg = f16_bits(1.0)[()], f16_bits(-1.0)[()]
    pinf, ninf, nz = f16_bits(np.inf)[()], f16_bits(-np.inf)[()], np.uint16(0x8000)
    sums = [[nz] * 3, [nz, 0], [pinf, ninf], [pinf] + [one] * (P - 1) + [ninf],
            [one] * P, [one] * (P + 1), [f16_bits(65504)[()]] * (2 * P), [neg, one]]
    a, b, valid, clear = [0, 0], [0, 0], [0, 0], [0, 0]   # two idle cycles after reset
    for s in sums:
        k = len(s)
        a += list(s) + [0] * L
        b += [one] * k + [0] * L
        valid += [1] * k + [0] * L
        clear += [1] + [0] * (k - 1 + L)
    a, b = np.array(a, np.uint16), np.array(b, np.uint16)
    valid, clear = np.array(valid, np.uint8), np.array(clear, np.uint8)
    got = bench.run(fp_a=a, fp_b=b, fp_valid=valid, fp_clear=clear)
    want = fp16_pipelined_reference(a, b, valid, clear)
    _check_fp16_pe(got, a, valid, clear, want)
    # Right after reset: the empty sum, readable.
    assert got["fp_acc_valid"][0] == 1 and got["fp_acc"][0] == 0 and got["fp_acc_valid"][2] == 0
    # acc_valid rises exactly L - 1 cycles after each sum's last beat.
    ends = np.flatnonzero(np.diff(np.concatenate([valid, [0]]).astype(int)) == -1)
    assert np.all(got["fp_acc_valid"][ends + L - 2] == 0)
    assert np.all(got["fp_acc_valid"][ends + L - 1] == 1)
    results = got["fp_acc"][ends + L - 1].astype(np.uint32)
    assert results[0] == 0x80000000 and results[1] == 0 and results[2] == 0x7FC00000
    assert results[3] == 0x7FC00000 and results[4] == f32_bits(P) and results[5] == f32_bits(P + 1)
