"""The soak entry point (``python -m sim.soak``, ``make soak``): runs, and fails
when the RTL and the golden model disagree.

The simulator runs use the 3 x 4 tile with 16-beat banks at 32-bit
accumulators, the build tests/test_rtl_backend.py already has in the cache.
"""

import numpy as np
import pytest

import sim.soak as soak
from model.hw_vocab import product_range, side_formats
from model.gemm import gemm_exact, overflow_mask

TINY = ["--sim", "verilator", "--rows", "3", "--cols", "4", "--depth", "16",
        "--acc-widths", "32", "--no-progress"]


def test_pairs_are_every_datapath_pair():
    formats = set(side_formats("a")) | set(side_formats("b"))
    assert {f for p in soak.PAIRS for f in p} == formats
    assert ("int4", "fp4") in soak.PAIRS and ("fp4", "fp4") not in soak.PAIRS
    assert len(soak.PAIRS) == len(set(soak.PAIRS)) == 8


def test_gemms_replay_from_seed_and_index():
    cfg = soak.SoakConfig()
    for i in (0, 7, 123):
        g1, g2 = soak.make_gemm(99, i, cfg), soak.make_gemm(99, i, cfg)
        assert g1.describe() == g2.describe()
        assert np.array_equal(g1.a, g2.a) and np.array_equal(g1.b, g2.b)
    assert soak.make_gemm(99, 0, cfg).describe() != soak.make_gemm(98, 0, cfg).describe()


def test_boundary_gemms_straddle_the_accumulator_range():
    """Boundary GEMMs end within a few products of the range edge; some of
    their outputs are flagged, some not."""
    cfg = soak.SoakConfig(acc_widths=(18,), boundary_fraction=1.0)
    flagged = unflagged = 0
    for i in range(40):
        g = soak.make_gemm(5, i, cfg)
        assert g.kind == "boundary" and g.acc_width == 18
        mask = overflow_mask(g.a, g.b, g.a_format, g.b_format, 18)
        flagged += int(mask.any())
        unflagged += int(not mask.all())
        biggest = max(abs(v) for v in product_range(g.a_format, g.b_format))
        assert np.abs(gemm_exact(g.a, g.b, g.a_format, g.b_format)).max() \
            >= (1 << 17) - 3 * biggest, g.describe()
    assert flagged >= 20 and unflagged >= 10, (flagged, unflagged)


def test_count_mismatches_sees_values_and_flags():
    g = soak.make_gemm(3, 1, soak.SoakConfig(acc_widths=(18,), boundary_fraction=1.0))
    exact = gemm_exact(g.a, g.b, g.a_format, g.b_format)
    mask = overflow_mask(g.a, g.b, g.a_format, g.b_format, 18)
    assert soak.count_mismatches(g, exact, mask) == 0
    assert soak.count_mismatches(g, exact, ~mask) == g.outputs
    wrong = exact.copy()
    wrong[~mask] += 1
    assert soak.count_mismatches(g, wrong, mask) == int((~mask).sum())
    wrong_flagged = exact.copy()
    wrong_flagged[mask] += 1            # SPEC 2 leaves a flagged output's value open
    assert soak.count_mismatches(g, wrong_flagged, mask) == 0


def test_soak_passes_on_the_rtl(capsys):
    assert soak.main(TINY + ["--outputs", "400", "--seed", "11"]) == 0
    out = capsys.readouterr().out
    assert "seed 11 (replay: python -m sim.soak --seed 11)" in out
    assert "mismatches 0" in out and "MISMATCH" not in out


@pytest.mark.slow   # make test budget (the soak's passing run stays in make test)
def test_soak_fails_when_the_golden_model_disagrees(monkeypatch, capsys):
    """A seeded disagreement (the golden result off by one) must fail the run,
    name the GEMMs and print a replay command that reproduces one alone."""
    monkeypatch.setattr(soak, "gemm_exact", lambda *a: gemm_exact(*a) + 1)
    assert soak.main(TINY + ["--outputs", "100", "--seed", "11"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH verilator: GEMM 0 " in out
    replay = [line.split("python -m sim.soak ")[1] for line in out.splitlines()
              if "replay: python -m sim.soak --sim" in line]
    assert replay and replay[0].startswith("--sim verilator --seed 11 --gemm ")
    assert soak.main(TINY + replay[0].split()[2:]) == 1
    out = capsys.readouterr().out
    assert out.count("MISMATCH") == 1 and " 1 GEMMs " in out


@pytest.mark.parametrize("argv", [["--outputs", "0"], ["--acc-widths", "17"],
                                  ["--stall-max", "1000"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        soak.main(["--sim", "verilator"] + argv)
    assert exc.value.code == 2


class _FakeBackend:
    """Stands in for RtlBackend: golden answers, but GEMM ``soak1`` hangs."""

    started = 0

    def __init__(self, sim, **kw):
        type(self).started += 1
        self.last_stats, self.acc_width = {}, kw["acc_width"]

    def tile_gemm(self, a, b, fa, fb, *, name):
        from sim.backends import SimulationError
        if name == "soak1":
            raise SimulationError("simulator answered 'timeout 999' to 'run ...'")
        self.last_stats = {"cycles": a.shape[1]}
        return gemm_exact(a, b, fa, fb), overflow_mask(a, b, fa, fb, self.acc_width)

    def close(self):
        pass


def test_a_simulator_error_fails_its_gemm_and_the_run_goes_on(monkeypatch, capsys):
    import sim.backends
    monkeypatch.setattr(sim.backends, "RtlBackend", _FakeBackend)
    assert soak.main(TINY + ["--outputs", "2000", "--seed", "4"]) == 1
    out = capsys.readouterr().out
    assert out.count("MISMATCH") == 1 and "GEMM 1 " in out and "timeout 999" in out
    assert "--seed 4 --gemm 1" in out
    assert _FakeBackend.started == 2     # restarted after the error
