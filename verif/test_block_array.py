"""The block-scaled array bench (verif/benches/block_array_tb.py) on both simulators.

NVFP4 PEs (the scale multiply, UE4M3 subnormals) in a 2x3 array at k = 2 on
Icarus in `make test` (seconds); in `make test-slow` MXFP4 likewise, both on
Verilator at 2x3, and the 8x8 array at k = 8 of each format on Icarus; the
8x8 k = 8 arrays on Verilator (a 25-minute build each) in `make test-big`.
"""

import pytest

from verif.harness import run_bench

# (sim, pe, rows, cols, lanes, slow)
CONFIGS = [("icarus", "nvfp4", 2, 3, 2, False), ("icarus", "mxfp4", 2, 3, 2, True),
           ("verilator", "mxfp4", 2, 3, 2, True), ("verilator", "nvfp4", 2, 3, 2, True)]
CONFIGS += [(sim, pe, 8, 8, 8, True) for sim in ("icarus", "verilator")
            for pe in ("mxfp4", "nvfp4")]


def _verilog(pe, rows, cols, lanes):
    import hw.pe_kinds  # noqa: F401  (registers the kinds)
    from hw.verilog import generate
    from model.config import DatapathConfig
    return generate("array", config=DatapathConfig(rows=rows, cols=cols, lanes=lanes, pe=pe))


@pytest.mark.cocotb
@pytest.mark.parametrize("sim,pe,rows,cols,lanes", [
    pytest.param(*c[:5], marks=([pytest.mark.slow] if c[5] else [])
                 + ([pytest.mark.big] if c[0] == "verilator" and c[2] * c[4] == 64 else []))
    for c in CONFIGS],
    ids=[f"{s}-{p}-{r}x{c}-k{k}" for s, p, r, c, k, _ in CONFIGS])
def test_block_array(sim, pe, rows, cols, lanes):
    run_bench("verif.benches.block_array_tb", "array",
              {"rows": rows, "cols": cols, "lanes": lanes, "pe": pe}, sim,
              verilog=_verilog(pe, rows, cols, lanes))
