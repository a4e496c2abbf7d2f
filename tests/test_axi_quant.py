"""The tile with the quantization unit behind the AXI shell (issue 26):
`radix4 verilog --top axi --tile qtile` (ports, lint, one-line refusals) and
two on-chip training steps through the bus, weights equal to golden.
The GEMMs and unit jobs through the bus are tests/test_quant_tile.py's
(``icarus-axi``), the register level is verif/test_axiq.py's, and
`radix4 train --bus axi` end to end is tests/test_axi_driver.py's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hw.quant_unit import output_layout as unit_output_layout
from hw.tile_quant import mask_layout, qcfg_layout, requant_layout
from hw.verilog import TOPS, generate, verilator_lint


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("args, flag", [
    (["--top", "accel", "--tile", "qtile"], "--tile"),            # --tile is the shell's
    (["--top", "axi", "--quant-lanes", "2"], "--quant-lanes"),    # no unit without --tile qtile
    (["--top", "axi", "--tile", "qtile", "--cols", "4", "--quant-lanes", "3"], "--quant-lanes"),
])
def test_cli_refuses_impossible_mixes_in_one_line(tmp_path, args, flag):
    proc = _cli("verilog", *args, "-o", str(tmp_path / "x.v"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert flag in proc.stderr
    assert not (tmp_path / "x.v").exists()


def _bytes(bits):
    return 8 * ((bits + 7) // 8)


@pytest.mark.slow
def test_cli_writes_the_quant_shell_lint_clean(tmp_path):
    from tests.test_verilog import module_ports
    out = tmp_path / "q.v"
    proc = _cli("verilog", "--top", "axi", "--tile", "qtile", "--rows", "2", "--cols", "4",
                "--depth", "8", "--acc-width", "18", "--quant-lanes", "2", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text == generate("axi_qtile", rows=2, cols=4, depth=8, acc_width=18, quant_lanes=2)
    assert "quant_lanes=2" in text.splitlines()[0]
    ports = module_ports(text, TOPS["axi_qtile"])
    for prefix, bits, d in [("s_axis_qcfg", qcfg_layout(4).size, "input"),
                            ("s_axis_mask", mask_layout(4).size, "input"),
                            ("s_axis_rq", requant_layout(4, 18).size, "input"),
                            ("m_axis_q", unit_output_layout(4, 18).size, "output")]:
        back = "output" if d == "input" else "input"
        assert ports[f"{prefix}_tdata"] == (d, _bytes(bits)), prefix
        assert ports[f"{prefix}_tvalid"] == (d, 1) and ports[f"{prefix}_tlast"] == (d, 1)
        assert ports[f"{prefix}_tready"] == (back, 1)
    (tmp_path / "lint").mkdir()
    result = verilator_lint(text, TOPS["axi_qtile"], tmp_path / "lint")
    assert result.returncode == 0 and "%Warning" not in result.stderr, result.stderr


@pytest.mark.slow
@pytest.mark.big    # 42 min measured at load 13-19: make test-big, not .ci/run
@pytest.mark.cocotb
def test_onchip_steps_through_the_bus_equal_golden():
    """Two on-chip training steps (stochastic rounding on the unit, so the tile
    order matters) with every GEMM and unit job over the bus: weights
    bit-identical to the golden tile's."""
    import numpy as np

    from model.onchip_tile import GoldenQuantTile
    from model.tasks import make_task
    from model.train import Trainer
    from sim.axi_backend import AxiQuantRtlBackend
    task = make_task("digits-mlp", 0)
    rng = np.random.default_rng(4)
    batches = [rng.choice(len(task.X_train), 8, replace=False) for _ in range(2)]
    states = []
    with AxiQuantRtlBackend("icarus", rows=3, cols=4, depth=16, gap_permille=100,
                            stall_permille=100, seed=3) as bus:
        for backend in (GoldenQuantTile(3, 4), bus):
            fresh = make_task("digits-mlp", 0)       # its own copy of the initial weights
            tr = Trainer(fresh.model, "4bit-onchip-sr", backend=backend, seed=0, lr=task.lr)
            for idx in batches:
                tr.step(task.X_train[idx], task.y_train[idx])
            states.append(tr.state())
    for k, v in states[0].items():
        assert np.array_equal(v, states[1][k]), k
