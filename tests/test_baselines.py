"""Bit-exact checks of the baseline PEs (hw/baselines/) against NumPy.

The designs run on Verilator (tests/baseline_vectors.py).  These are the
unpipelined (latency 1) PEs and the FP32 adder; the pipelined ones are in
tests/test_baselines_pipelined.py.

References are NumPy's own IEEE arithmetic: ``np.float32(a16) * np.float32(b16)``
(exact in binary32) and ``np.float32 + np.float32`` (round to nearest even,
subnormals kept).  NaN results must be the documented canonical quiet NaN
0x7FC00000; every other result must match bit for bit (signed zeros included).
"""

# (no `from __future__ import annotations`: Amaranth reads the _Bench annotations)

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from baseline_vectors import (FP16_SPECIALS, FP32_SPECIALS, Unit, VectorRunner,
                              assert_fp32_equal, f16_bits, f32_bits)
from hw.baselines.fp16_pe import Fp16MacPE, Fp32Adder
from hw.baselines.int8_pe import Int8MacPE

# --------------------------------------------------------------------------
# The bench: the three unpipelined designs side by side

class _Bench(wiring.Component):
    """All three designs side by side, so one Verilator build serves every test.

    Ports are prefixed ``add_`` (Fp32Adder), ``fp_`` (Fp16MacPE), ``i8_``
    (Int8MacPE); INT8 operands travel as raw 8-bit patterns.
    """

    add_x: In(32)
    add_y: In(32)
    add_result: Out(32)
    fp_a: In(16)
    fp_b: In(16)
    fp_valid: In(1)
    fp_clear: In(1)
    fp_acc: Out(32)
    i8_a: In(8)
    i8_b: In(8)
    i8_valid: In(1)
    i8_clear: In(1)
    i8_acc: Out(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.adder = adder = Fp32Adder()
        m.submodules.fp16 = fp16 = Fp16MacPE()
        m.submodules.int8 = int8 = Int8MacPE(latency=1)
        m.d.comb += [adder.x.eq(self.add_x), adder.y.eq(self.add_y),
                     self.add_result.eq(adder.result)]
        for prefix, pe in (("fp", fp16), ("i8", int8)):
            for port in ("a", "b", "valid", "clear"):
                m.d.comb += getattr(pe, port).eq(getattr(self, f"{prefix}_{port}"))
            m.d.comb += getattr(self, f"{prefix}_acc").eq(pe.acc)
        return m


@pytest.fixture(scope="module")
def bench():
    return VectorRunner(_Bench(), ["add_x", "add_y", "fp_a", "fp_b", "fp_valid", "fp_clear",
                                   "i8_a", "i8_b", "i8_valid", "i8_clear"],
                        ["add_result", "fp_acc", "i8_acc"])


@pytest.fixture(scope="module")
def adder(bench):
    return Unit(bench, "add")


@pytest.fixture(scope="module")
def fp16_pe(bench):
    return Unit(bench, "fp")


@pytest.fixture(scope="module")
def int8_pe(bench):
    return Unit(bench, "i8")


# --------------------------------------------------------------------------
# FP32 adder (the accumulate step), combinational

def _adder_vectors(rng):
    xs, ys = [], []
    # Every pair of special values, both orders.
    sx, sy = np.meshgrid(FP32_SPECIALS, FP32_SPECIALS)
    xs.append(sx.ravel()); ys.append(sy.ravel())
    # Uniform random bit patterns (NaNs, infs, subnormals all occur).
    n = 60_000
    xs.append(rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))
    ys.append(rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))
    # Close exponents, random signs: cancellation, carries, all roundings.
    n = 200_000
    for exp_lo, exp_hi in ((0, 256), (0, 6), (245, 255)):  # all, subnormal edge, overflow edge
        ex = rng.integers(exp_lo, exp_hi, n)
        ey = np.clip(ex - rng.integers(-30, 31, n), 0, 254)
        ex = np.minimum(ex, 254)
        fx = rng.integers(0, 2**23, n)
        fy = rng.integers(0, 2**23, n)
        # Short significands make exact ties and exact cancellations frequent.
        short = rng.random(n) < 0.4
        fy = np.where(short, fy & ~((1 << rng.integers(10, 23, n)) - 1), fy)
        x = (rng.integers(0, 2, n) << 31) | (ex << 23) | fx
        y = (rng.integers(0, 2, n) << 31) | (ey << 23) | fy
        xs.append(x.astype(np.uint32)); ys.append(y.astype(np.uint32))
    # Exact negations (x + -x = +0) and near-negations (one ulp apart).
    x = rng.integers(0, 2**31, 5_000).astype(np.uint32)
    for delta in (0, 1):
        xs.append(x); ys.append(((x + delta) & 0x7FFFFFFF) | 0x80000000)
    # Ties: 1.f + 2^-24 (half an ulp) with f even and odd; and 1.5 ulp.
    f = rng.integers(0, 2**23, 5_000)
    for exp in (1, 100, 127, 253):
        base = ((exp << 23) | f).astype(np.uint32)
        for tie in (((exp - 24) << 23), ((exp - 24) << 23) | (1 << 22)):
            if exp - 24 >= 1:
                xs.append(base); ys.append(np.full_like(base, tie))
                xs.append(base | 0x80000000); ys.append(np.full_like(base, tie | 0x80000000))
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.slow   # make test budget; the signed-zero rules below stay in make test
def test_fp32_adder_matches_numpy(adder):
    rng = np.random.default_rng(20240607)
    x, y = _adder_vectors(rng)
    with np.errstate(all="ignore"):
        want = f32_bits(x.view(np.float32) + y.view(np.float32))
    got = adder.run(x=x, y=y)["result"]
    assert_fp32_equal(got, want, {"x": x, "y": y})
    # The vectors did reach the interesting cases.
    wf = want.view(np.float32)
    assert np.sum(want == 0) > 1000 and np.sum(want == 0x80000000) > 0
    assert np.sum(np.isinf(wf)) > 1000 and np.sum(np.isnan(wf)) > 100
    assert np.sum((want & 0x7F800000) == 0) > 5000  # subnormal or zero results


def test_fp32_adder_signed_zero_rules(adder):
    x = np.array([0x00000000, 0x80000000, 0x00000000, 0x80000000, 0x3F800000], np.uint32)
    y = np.array([0x80000000, 0x00000000, 0x00000000, 0x80000000, 0xBF800000], np.uint32)
    got = adder.run(x=x, y=y)["result"].astype(np.uint32)
    assert got.tolist() == [0, 0, 0, 0x80000000, 0]


# --------------------------------------------------------------------------
# FP16 MAC PE, clocked

def _fp16_reference(a, b, valid, clear) -> np.ndarray:
    """acc after each clock, by the documented valid/clear rules."""
    with np.errstate(all="ignore"):
        products = a.view(np.float16).astype(np.float32) * b.view(np.float16).astype(np.float32)
        acc = np.float32(0.0)
        out = np.empty(len(a), np.float32)
        for i in range(len(a)):
            if valid[i]:
                acc = (np.float32(-0.0) if clear[i] else acc) + products[i]
            elif clear[i]:
                acc = np.float32(0.0)
            out[i] = acc
    return out.view(np.uint32)


def test_fp16_products_exact(fp16_pe):
    """clear & valid loads one product: every special pair plus random bit patterns."""
    rng = np.random.default_rng(7)
    sa, sb = np.meshgrid(FP16_SPECIALS, FP16_SPECIALS)
    a = np.concatenate([sa.ravel(), rng.integers(0, 2**16, 300_000).astype(np.uint16)])
    b = np.concatenate([sb.ravel(), rng.integers(0, 2**16, 300_000).astype(np.uint16)])
    with np.errstate(all="ignore"):
        want = f32_bits(a.view(np.float16).astype(np.float32) * b.view(np.float16).astype(np.float32))
    ones = np.ones(len(a), np.uint8)
    got = fp16_pe.run(a=a, b=b, valid=ones, clear=ones)["acc"]
    assert_fp32_equal(got, want, {"a": a, "b": b})
    assert np.sum(want == 0x80000000) > 20  # -0 products kept their sign


def test_fp16_accumulate_sequences(fp16_pe):
    """Random streams with clears, bubbles and cancellation, vs the NumPy MAC."""
    rng = np.random.default_rng(11)
    n = 60_000
    kind = rng.integers(0, 4, n)
    # Mix: raw bit patterns; moderate normals; subnormals; values of either sign
    # around 1 (long sums, ties and cancellation).
    raw = rng.integers(0, 2**16, (2, n)).astype(np.uint16)
    moderate = f16_bits(rng.normal(0, 4, (2, n)))
    subnormal = (rng.integers(0, 2, (2, n)) << 15 | rng.integers(0, 0x400, (2, n))).astype(np.uint16)
    around_one = f16_bits(rng.choice([-1, 1], (2, n)) * (1 + rng.integers(0, 8, (2, n)) / 1024))
    ab = np.select([kind == 0, kind == 1, kind == 2], [raw, moderate, subnormal], around_one)
    a, b = ab[0], ab[1]
    # Exact cancellation: a product followed by its negation.
    idx = rng.choice(n - 1, 2_000, replace=False)
    a[idx + 1], b[idx + 1] = a[idx] ^ 0x8000, b[idx]
    valid = (rng.random(n) < 0.9).astype(np.uint8)
    clear = (rng.random(n) < 0.05).astype(np.uint8)
    want = _fp16_reference(a, b, valid, clear)
    got = fp16_pe.run(a=a, b=b, valid=valid, clear=clear)["acc"]
    assert_fp32_equal(got, want, {"a": a, "b": b, "valid": valid, "clear": clear})


def test_fp16_overflow_to_inf_then_clear(fp16_pe):
    # 65504^2 ~ 4.3e9 per product: 2^128 / 2^32 = 2^96 products would be needed,
    # so overflow is reached through inf operands; then clear recovers.
    a = f16_bits([65504, 65504, np.inf, 1, 1, -np.inf, 2, 0, 1])
    b = f16_bits([65504, -65504, 1, 1, 1, 1, 3, 0, np.inf])
    valid = np.array([1, 1, 1, 1, 0, 1, 1, 0, 1], np.uint8)
    clear = np.array([1, 0, 0, 0, 1, 0, 1, 0, 0], np.uint8)
    got = fp16_pe.run(a=a, b=b, valid=valid, clear=clear)["acc"].astype(np.uint32)
    want = _fp16_reference(a, b, valid, clear)
    assert_fp32_equal(got, want)
    assert got[2] == 0x7F800000 and got[4] == 0 and got[5] == 0xFF800000
    assert got[6] == f32_bits(6.0) and got[8] == 0x7F800000


# --------------------------------------------------------------------------
# INT8 MAC PE, clocked

def _int8_reference(a, b, valid, clear) -> np.ndarray:
    acc = 0
    out = np.empty(len(a), np.int64)
    for i in range(len(a)):
        if valid[i]:
            acc = (0 if clear[i] else acc) + int(a[i]) * int(b[i])
            acc = (acc + 2**31) % 2**32 - 2**31   # documented wrap
        elif clear[i]:
            acc = 0
        out[i] = acc
    return out


def _as_int32(raw) -> np.ndarray:
    return np.asarray(raw, dtype=np.uint64).astype(np.uint32).view(np.int32).astype(np.int64)


def test_int8_all_products(int8_pe):
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    a, b = a.ravel(), b.ravel()
    ones = np.ones(a.size, np.uint8)
    got = _as_int32(int8_pe.run(a=a & 0xFF, b=b & 0xFF, valid=ones, clear=ones)["acc"])
    np.testing.assert_array_equal(got, a.astype(np.int64) * b)


def test_int8_accumulate_and_wrap(int8_pe):
    rng = np.random.default_rng(3)
    n = 20_000
    a = rng.integers(-128, 128, n)
    b = rng.integers(-128, 128, n)
    valid = (rng.random(n) < 0.9).astype(np.uint8)
    clear = (rng.random(n) < 0.01).astype(np.uint8)
    # Then a long run of the largest product, which wraps past +2^31 - 1.
    m = 140_000
    a = np.concatenate([a, np.full(m, -128)])
    b = np.concatenate([b, np.full(m, -128)])
    valid = np.concatenate([valid, np.ones(m, np.uint8)])
    clear = np.concatenate([clear, np.zeros(m, np.uint8)])
    clear[n] = 1
    got = _as_int32(int8_pe.run(a=a & 0xFF, b=b & 0xFF, valid=valid, clear=clear)["acc"])
    want = _int8_reference(a, b, valid, clear)
    np.testing.assert_array_equal(got, want)
    assert want[-1] < 0 < want[n + 131_070]  # the wrap really happened
