"""Reusable cocotb testbench kit for radix4 (see each module).

- ``seed``: the run's seed (``RADIX4_SEED``), printed in every log.
- ``clocking``: clock start and synchronous reset helpers.
- ``stream``: valid/ready stream driver and monitor with random valid gaps
  and ready stalls (pause generators), X/Z checks on outputs.
- ``scoreboard``: in-order scoreboard; ``gemm_expectation`` feeds it from
  the golden model (``model.gemm.gemm_exact`` + ``overflow_mask``).
- ``coverage``: small functional-coverage bins, saved for the pytest side,
  which prints them and fails on any bin never hit.
- ``golden``: expected values from the model; formats, extreme codes and the
  overflow fill read from the format table.
- ``bench``: ``GemmBench``, the life cycle shared by the array and tile benches.
"""

from .seed import get_seed, test_rng
from .clocking import start_clock, reset, wait_cycles
from .stream import (StreamDriver, StreamMonitor, no_pause, random_pause, burst_pause, PauseControl,
                     assert_resolvable)
from .scoreboard import Scoreboard, ScoreboardError
from .coverage import STREAM_STALL_BINS, Coverage, hit_stream_stalls
from .bench import GemmBench

__all__ = ["STREAM_STALL_BINS", "hit_stream_stalls", "get_seed", "test_rng", "start_clock", "reset", "wait_cycles", "StreamDriver",
           "StreamMonitor", "no_pause", "random_pause", "burst_pause", "PauseControl", "assert_resolvable",
           "Scoreboard", "ScoreboardError", "Coverage", "GemmBench"]
