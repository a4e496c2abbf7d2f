"""The accelerator tile with the PE latencies other than the default.

tests/test_accel.py runs the tile at ``model.config.DEFAULT_PE_LATENCY``.  This
re-runs its checks (random job chains under gaps, stalls and backpressure
against the golden model, counters, and no bubbles when unstalled) with
every tile built at each other latency.  The array's external timing does
not depend on the PE latency, so the same counter bounds must hold.
"""

import pytest

import test_accel
from hw.accel import AcceleratorTile
from model.config import DEFAULT_PE_LATENCY, PE_LATENCIES

OTHER_LATENCIES = [lat for lat in PE_LATENCIES if lat != DEFAULT_PE_LATENCY]


@pytest.fixture(params=OTHER_LATENCIES, ids=lambda lat: f"latency{lat}")
def pipelined_tiles(monkeypatch, request):
    built = []

    def make(*args, **kwargs):
        tile = AcceleratorTile(*args, pe_latency=request.param, **kwargs)
        built.append(tile)
        return tile

    monkeypatch.setattr(test_accel, "AcceleratorTile", make)
    yield
    assert built and all(t.pe_latency == request.param for t in built)


@pytest.mark.usefixtures("pipelined_tiles")
@pytest.mark.parametrize("rows,cols,depth,seed", [(2, 3, 8, 2), (3, 2, 4, 3)])
def test_tile_random_jobs_under_stalls(rows, cols, depth, seed):
    test_accel.test_tile_random_jobs_under_stalls(rows, cols, depth, seed)


@pytest.mark.usefixtures("pipelined_tiles")
def test_tile_streams_without_bubbles_when_unstalled():
    test_accel.test_tile_streams_without_bubbles_when_unstalled()


def test_pe_latency_is_validated():
    with pytest.raises(ValueError, match="latency"):
        AcceleratorTile(2, 2, pe_latency=4)
