"""model.backend: one interface, operands checked once, wrappers that only add.

The RTL backends' behaviour is tested against the simulators elsewhere
(tests/test_rtl_backend.py, test_distributed.py, test_quant_tile.py); here
the shared base class is tested with backends that need no simulator.
"""

import numpy as np
import pytest

import model.formats
import model.quant
from model.backend import (Backend, BackendWrapper, GemmBackend, GemmOverflowError, GoldenBackend,
                           check_gemm)
from model.config import DatapathConfig
from model.gemm import exact_matmul, gemm_exact
from model.onchip_tile import GoldenQuantTile, QuantUnitJobs
from model.trace import TraceRecorder
from sim.driver import plan_gemm

RNG = np.random.default_rng(5)


class PlanningBackend(Backend):
    """Tiles every part with the RTL driver's planner (which trusts its
    operands) and answers with the golden sums: the RTL path minus the simulator."""

    name = "planning"

    def __init__(self):
        super().__init__(DatapathConfig(rows=2, cols=3))
        self.parts = []

    def run_part(self, part):
        plan_gemm(part.a, part.b, part.a_format, part.b_format, 2, 3, 8)
        self.parts.append((part.a_format, part.b_format, part.transposed, part.shift))
        m, _, n = part.shape
        return exact_matmul(*part.values()), np.zeros((m, n), bool)   # trusted: no check


def _codes(fmt, shape):
    lo, hi = {"int4": (-8, 8), "uint4": (0, 16), "fp4": (0, 16), "int8": (-128, 128),
              "uint8": (0, 256)}[fmt]
    dtype = {"int4": np.int8, "int8": np.int8}.get(fmt, np.uint8 if hi <= 256 else np.int16)
    return RNG.integers(lo, hi, shape).astype(dtype)


def test_every_backend_and_wrapper_has_the_interface():
    for backend in (GoldenBackend(), GoldenQuantTile(2, 3), PlanningBackend(),
                    TraceRecorder(GoldenBackend()), BackendWrapper(GoldenQuantTile())):
        assert isinstance(backend, GemmBackend)
        with backend as b:
            assert b is backend and b.config.acc_width == b.acc_width == 32
            assert b.total_stats["gemms"] == 0
    assert issubclass(GoldenQuantTile, QuantUnitJobs) and issubclass(GoldenQuantTile, Backend)


@pytest.mark.parametrize("fa,fb", [("int8", "int8"), ("uint4", "fp4"), ("fp4", "uint8")])
def test_operands_are_checked_once_on_the_way_down(monkeypatch, fa, fb):
    calls = []
    real = model.formats.check_codes

    def counting(codes, fmt, name="codes"):
        calls.append(name)
        return real(codes, fmt, name)

    # Every code check of the model goes through check_codes (8-bit ones
    # through the wide check): count both where the backend path calls them.
    monkeypatch.setattr(model.quant, "check_codes", counting)
    monkeypatch.setattr(model.formats, "check_codes", counting)
    wide = model.quant._check_wide
    monkeypatch.setattr(model.quant, "_check_wide",
                        lambda c, f, n: calls.append(n) or wide(c, f, n))
    a, b = _codes(fa, (5, 7)), _codes(fb, (7, 4))
    backend = PlanningBackend()
    out = backend.gemm(a, b, fa, fb, name="g")
    assert calls == ["A", "B"]                  # once per operand, for every part
    calls.clear()
    assert np.array_equal(out, GoldenBackend().gemm(a, b, fa, fb))
    n_parts = (2 if fa.endswith("8") else 1) * (2 if fb.endswith("8") else 1)
    assert len(backend.parts) == n_parts
    # FP4 on the user's B side runs transposed, with FP4 on the datapath's A side.
    assert all(p[2] == (fb == "fp4") and p[0] in ("int4", "uint4", "fp4") for p in backend.parts)


def test_check_gemm_refuses_in_one_line_naming_the_gemm():
    a, b = _codes("int4", (2, 3)), _codes("int4", (3, 2))
    for args, message in [((a, b[:2], "int4", "int4"), "GEMM 'g': shape mismatch"),
                          ((a, b, "fp4r2", "int4"), "GEMM 'g': format 'fp4r2' on A is not"),
                          ((a & 15, b & 15, "fp4", "fp4"), "GEMM 'g': fp4 x fp4 is not a datapath"),
                          ((a + 20, b, "int4", "int4"), "A: code")]:
        with pytest.raises(ValueError, match=message):
            check_gemm(*args, name="g")
    # The golden model takes any pair of the table, as given.
    op = check_gemm(a & 15, b & 15, "fp4", "fp4", name="g", datapath=False)
    assert [p.transposed for p in op.parts] == [False]


def test_first_overflowing_part_raises_with_its_count():
    class Flags(PlanningBackend):
        def run_part(self, part):
            c, _ = super().run_part(part)
            flags = np.zeros(c.shape, bool)
            if len(self.parts) == 2:            # the second part: 3 outputs
                flags.flat[:3] = True
            if len(self.parts) == 3:
                flags[...] = True
            return c, flags

    backend = Flags()
    with pytest.raises(GemmOverflowError, match="GEMM 'w': 3 output") as info:
        backend.gemm(_codes("int8", (4, 5)), _codes("int8", (5, 6)), "int8", "int8", name="w")
    assert info.value.count == 3 and len(backend.parts) == 2   # the parts after it never ran


def test_a_wrapper_writes_only_what_it_adds():
    class Counting(BackendWrapper):
        def __init__(self, inner):
            super().__init__(inner)
            self.n = 0

        def gemm(self, *args, **kwargs):
            self.n += 1
            return self.inner.gemm(*args, **kwargs)

    inner = GoldenQuantTile(2, 3)
    wrapped = Counting(TraceRecorder(inner))
    a, b = _codes("uint4", (3, 4)), _codes("int4", (4, 5))
    assert np.array_equal(wrapped.gemm(a, b, "uint4", "int4", name="x"), gemm_exact(a, b, "uint4",
                                                                                   "int4"))
    assert wrapped.n == 1 and len(wrapped.records) == 1
    assert wrapped.name == "golden" and wrapped.config is inner.config
    assert wrapped.total_stats is inner.total_stats and inner.total_stats["gemms"] == 1
    assert wrapped.forward_quant.__self__ is inner       # the unit's jobs pass through
