"""Block-scaled GEMMs on the host side (issue 25), without a simulator: the tile's
load layout, the driver's beats, the golden backend with a block PE, the tile
pair of a block recipe, and `radix4 gemm` with MXFP4 / NVFP4 operands."""

from __future__ import annotations

import numpy as np
import pytest

import hw.pe_kinds  # noqa: F401  (registers the PE kinds)
from hw.accel import JOB_FIELDS, load_layout, tile_pe_signature
from hw.array import input_layout
from model.backend import Backend, GoldenBackend
from model.block_gemm import block_gemm
from model.block_hw import BlockWindowError, hw_format, rebias
from model.block_quant import quantize
from model.config import DatapathConfig
from scripts.block_operands import save_block_operand
from scripts.cli import main as cli_main
from sim.driver import job_codec, load_codec, plan_block_gemm
from sim.factory import make_backend
from sim.host import HostConfig
from sim.tile_pair import TilePair

FORMATS = ("mxfp4", "nvfp4")


def _same(x, y) -> bool:
    """Bit for bit, one zero (+0)."""
    return x.shape == y.shape and np.array_equal((x + 0.0).view(np.int64),
                                                 (y + 0.0).view(np.int64))


def _operands(fmt, rng, m, k, n, spread=8, **kw):
    a = rng.standard_normal((m, k)) * np.exp2(rng.integers(-spread, spread + 1, (m, k)))
    b = rng.standard_normal((k, n)) * np.exp2(rng.integers(-spread, spread + 1, (k, n)))
    return quantize(a, fmt, axis=-1), quantize(b, fmt, axis=-2, **kw)


@pytest.mark.parametrize("pe,lanes", [("radix4", 1), ("radix4", 8), ("mxfp4", 2),
                                      ("nvfp4", 8)])
def test_load_layout_is_the_array_beat_without_the_job_fields(pe, lanes):
    cfg = DatapathConfig(rows=3, cols=5, lanes=lanes, pe=pe)
    sig = tile_pe_signature(cfg)
    beat = {name: f.width for name, f in input_layout(3, 5, sig)}
    load = {name: f.width for name, f in load_layout(3, 5, sig)}
    assert load == {n: w for n, w in beat.items() if n not in JOB_FIELDS}
    if pe != "radix4":
        w = hw_format(pe).scale_width
        assert (load["a_scale"], load["b_scale"]) == (3 * w, 5 * w)
    assert HostConfig.of(cfg).load_width == sum(load.values())


@pytest.mark.parametrize("fmt,lanes", [("mxfp4", 2), ("nvfp4", 4)])
def test_block_plan_puts_each_code_and_scale_in_its_lane(fmt, lanes):
    """Unpacking the plan's load words gives, per tile, beat, row (column) and
    lane, A's code at (row, beat*k + lane) and the scale field of the block
    that K index lies in (B likewise); rows beyond M are zero."""
    rng = np.random.default_rng(3)
    rows, cols, m, n = 2, 3, 5, 4
    a, b = _operands(fmt, rng, m, 40, n)
    la, lb = rebias(a, "a"), rebias(b, "b")
    plan = plan_block_gemm(la.codes, la.scale_fields(lanes), lb.codes, lb.scale_fields(lanes),
                           fmt, rows, cols, 16, lanes, fmt)
    codec = load_codec(rows, cols, lanes, fmt)
    hwf, bk = hw_format(fmt), la.block
    kp = la.codes.shape[1]
    assert plan.beats == kp // lanes and (m, n) == (plan.m, plan.n)
    for side, words, lines, count, tile in (("a", plan.a_words, la, m, rows),
                                            ("b", plan.b_words, lb, n, cols)):
        f = codec.unpack_words(words.reshape(-1, codec.n_words))
        codes = f[side].reshape(words.shape[0], plan.beats, tile, lanes)
        scales = f[f"{side}_scale"].reshape(words.shape[0], plan.beats, tile)
        for t, g, r in np.ndindex(words.shape[0], plan.beats, tile):
            line = t * tile + r
            kb = g * lanes // bk
            if line < count:
                assert list(codes[t, g, r]) == list(lines.codes[line, g * lanes:(g + 1) * lanes])
                assert scales[t, g, r] == hwf.pack_scale(lines.m[line, kb], lines.d[line, kb])
            else:
                assert not codes[t, g, r].any() and scales[t, g, r] == 0
    assert set(job_codec(16, fmt).fields) == {"k", "accumulate", "emit"}   # no selects
    chain = [(k0, min(k0 + 16, plan.beats)) for k0 in range(0, plan.beats, 16)]
    assert [(j.k0, j.k1, j.accumulate, j.emit) for j in plan.jobs[:len(chain)]] == \
        [(k0, k1, k0 > 0, k1 == plan.beats) for k0, k1 in chain]
    assert len(plan.jobs) == len(chain) * len(plan.tiles)


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_backend_with_a_block_pe_equals_block_gemm(fmt):
    rng = np.random.default_rng(11)
    g = GoldenBackend(config=DatapathConfig(pe=fmt, lanes=8))
    cases = [_operands(fmt, rng, 5, 70, 3), _operands(fmt, rng, 33, 48, 17, tile=fmt == "nvfp4")]
    x, w = rng.standard_normal((2, 4, 40)), rng.standard_normal((2, 40, 6))
    cases.append((quantize(x, fmt), quantize(w, fmt, axis=-2)))       # stacked (attention)
    for a, b in cases:
        assert _same(g.block_gemm(a, b, name="t"), block_gemm(a, b))
    assert g.total_stats["block_gemms"] == 3
    with pytest.raises(ValueError, match="'fc': nvfp4 operands on a tile of mxfp4 PEs"):
        GoldenBackend(config=DatapathConfig(pe="mxfp4")).block_gemm(
            *_operands("nvfp4", rng, 2, 16, 2), name="fc")


def test_block_window_refused_naming_the_gemm_on_a_block_pe_only():
    """MXFP4 blocks 18 binades apart in one row: beyond R = 17, refused by
    the block-PE backends (golden too), while the pure model computes it."""
    rng = np.random.default_rng(2)
    a, b = _operands("mxfp4", rng, 2, 64, 2)
    a.scales[0] = [150, 150 - hw_format("mxfp4").window - 1]
    a.codes[0] = 2
    with pytest.raises(BlockWindowError, match="'fc2.dW': 1 mxfp4 block"):
        GoldenBackend(config=DatapathConfig(pe="mxfp4")).block_gemm(a, b, name="fc2.dW")
    assert np.isfinite(GoldenBackend().block_gemm(a, b)).all()


def test_rtl_tile_of_block_pes_refuses_integer_gemms_and_radix4_refuses_blocks():
    class Tile(Backend):
        name = "icarus"

        def run_part(self, part):
            raise AssertionError("must not run")

    a = np.zeros((2, 3), np.int8)
    with pytest.raises(ValueError, match="'fc1.fwd': a tile of nvfp4 PEs runs block-scaled "
                                         "GEMMs only, not int4 x int4"):
        Tile(DatapathConfig(pe="nvfp4")).gemm(a, a.T, "int4", "int4", name="fc1.fwd")
    x, w = _operands("nvfp4", np.random.default_rng(1), 2, 16, 2)
    with pytest.raises(ValueError, match="'q': the icarus backend has no block-scaled"):
        Tile(DatapathConfig()).block_gemm(x, w, name="q")


class _Fake:
    def __init__(self, cfg):
        self.config, self.closed = cfg, False
        self.total_stats, self.last_stats = {"gemms": 0, "block_gemms": 0}, {}

    def gemm(self, a, b, fa, fb, *, name="gemm"):
        self.total_stats["gemms"] += 1
        return ("gemm", self.config.pe, self.config.acc_width)

    def block_gemm(self, a, b, *, name="gemm"):
        self.total_stats["block_gemms"] += 1
        return ("block", self.config.pe, self.config.acc_width)

    def close(self):
        self.closed = True


def test_tile_pair_routes_each_gemm_to_its_tile_and_starts_tiles_on_first_use():
    built = []
    pair = TilePair("icarus", DatapathConfig(rows=3, cols=4, lanes=2, pe="nvfp4"),
                    lambda cfg: built.append(_Fake(cfg)) or built[-1])
    assert built == []                                   # nothing started yet
    assert pair.block_gemm(None, None, name="x") == ("block", "nvfp4", 64)
    assert len(built) == 1                               # mxfp4-style: no radix-4 tile
    assert pair.gemm(None, None, "int4", "uint4") == ("gemm", "radix4", 32)
    pair.block_gemm(None, None)
    assert len(built) == 2 and (built[1].config.rows, built[1].config.lanes) == (3, 2)
    assert pair.total_stats == {"gemms": 1, "block_gemms": 2}
    pair.close()
    assert all(t.closed for t in built)


def test_make_backend_block_pe_pair_and_refusals():
    with make_backend("icarus", rows=2, cols=3, pe="mxfp4", pair=True) as pair:
        assert isinstance(pair, TilePair) and pair.config.acc_width == 64
    for extra in ({"workers": 2}, {"bus": "axi"}, {"quant": True}):
        with pytest.raises(ValueError, match="runs in one simulator"):
            make_backend("verilator", pe="nvfp4", **extra)
    assert isinstance(make_backend("golden", pe="nvfp4", pair=True), GoldenBackend)


# ---------------------------------------------------------------- radix4 gemm
@pytest.mark.parametrize("fmt", FORMATS)
def test_gemm_cli_golden_block_formats(tmp_path, fmt):
    rng = np.random.default_rng(7)
    a, b = _operands(fmt, rng, 6, 50, 5, tile=fmt == "nvfp4")
    save_block_operand(tmp_path / "a.npz", a)
    save_block_operand(tmp_path / "b.npz", b)
    out = tmp_path / "c.npy"
    assert cli_main(["gemm", "--a", str(tmp_path / "a.npz"), "--b", str(tmp_path / "b.npz"),
                     "--a-format", fmt, "--b-format", fmt, "-o", str(out)]) == 0
    assert _same(np.load(out), block_gemm(a, b))
    # A real matrix is quantized along K with nearest rounding.
    x, w = rng.standard_normal((3, 40)), rng.standard_normal((40, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    assert cli_main(["gemm", "--a", str(tmp_path / "x.npy"), "--b", str(tmp_path / "w.npy"),
                     "--a-format", fmt, "--b-format", fmt, "--pe", fmt, "-o", str(out)]) == 0
    assert _same(np.load(out), block_gemm(quantize(x, fmt), quantize(w, fmt, axis=-2)))


@pytest.mark.parametrize("args,message", [
    (["--a-format", "nvfp4", "--b-format", "mxfp4"], "one format on both sides"),
    (["--a-format", "int4", "--b-format", "int4", "--pe", "nvfp4"],
     "--pe nvfp4 runs nvfp4 GEMMs only"),
    (["--a-format", "fp4", "--b-format", "nvfp4"], "one format on both sides"),
    (["--a-format", "mxfp4", "--b-format", "mxfp4", "--pe", "nvfp4"], "run on --pe mxfp4"),
    (["--a-format", "nvfp4", "--b-format", "nvfp4", "--acc-width", "32"],
     "--acc-width must be 64 for the nvfp4 PE"),
    (["--a-format", "nvfp4", "--b-format", "nvfp4", "--sim", "icarus", "--workers", "2"],
     "runs in one simulator"),
    (["--a-format", "nvfp4", "--b-format", "nvfp4", "--a", "BAD"], "lacks scales"),
    (["--a-format", "nvfp4", "--b-format", "nvfp4", "--a", "PAD"], "the padding) must be 0"),
])
def test_gemm_cli_block_refusals_are_one_line_exit_2(tmp_path, capsys, args, message):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "x.npy", rng.standard_normal((3, 16)))
    np.savez(tmp_path / "bad.npz", codes=np.zeros((3, 16), np.uint8))
    t = quantize(rng.standard_normal((3, 10)), "nvfp4")
    t.codes[0, 12] = 1
    save_block_operand(tmp_path / "pad.npz", t)
    files = {"BAD": tmp_path / "bad.npz", "PAD": tmp_path / "pad.npz"}
    base = {"--a": str(tmp_path / "x.npy"), "--b": str(tmp_path / "x.npy")}
    argv = list(args)
    if "--a" in argv:
        i = argv.index("--a")
        base["--a"] = str(files[argv[i + 1]])
        del argv[i:i + 2]
    argv = ["gemm", *sum(base.items(), ()), *argv, "-o", str(tmp_path / "c.npy")]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_gemm_help_shows_the_pe_kinds_and_default(capsys):
    with pytest.raises(SystemExit):
        cli_main(["gemm", "--help"])
    out = capsys.readouterr().out
    assert "--pe {radix4,mxfp4,nvfp4}" in out and "radix4 (default)" in out
