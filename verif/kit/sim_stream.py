"""Stream helpers for testbenches on Amaranth's own simulator (tests/).

``verif.kit.stream`` drives streams from cocotb on Icarus and Verilator;
this module is the same job for ``amaranth.sim`` testbenches, in the idiom
of Glasgow's gateware tests: one ``await`` per beat.

- ``await stream_put(ctx, stream, payload)`` offers one beat on a stream the
  DUT takes (``In``): ``valid`` and the payload are held until the clock edge
  at which ``ready`` is high, then ``valid`` drops.
- ``payload = await stream_get(ctx, stream)`` takes one beat from a stream
  the DUT gives (``Out``): ``ready`` is held until the edge at which
  ``valid`` is high, then dropped; the payload is the one sampled at that
  edge (a ``data.Const``: ``payload.row``...; ``raw=True``: the packed word).

A payload is a mapping of field values, or an ``int``: the packed word
(``hw.codec``'s).  Both helpers take ``pause``: a callable asked before the
beat, once per cycle, whether to wait a cycle first (``valid`` low before a
put: a gap; ``ready`` low before a get: a stall) -- ``random_pause(rng, p)``
pauses each cycle with probability ``p``.  ``limit`` bounds the edges one
handshake may wait for the other side (an ``AssertionError`` naming
``what``: a DUT that stops taking or giving beats fails instead of hanging
the simulation).  ``clock`` (an ``EdgeCount``) adds up the edges a
testbench awaited, so a test can log the cycle a beat moved in.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["stream_put", "stream_get", "random_pause", "EdgeCount"]


class EdgeCount:
    """Clock edges one testbench has awaited; the helpers add theirs.
    After a helper returns, the beat moved at edge ``edges - 1``."""

    def __init__(self):
        self.edges = 0


def random_pause(rng, probability: float) -> Callable[[], bool]:
    """Each cycle paused independently with ``probability`` (``rng.random()``)."""
    return lambda: rng.random() < probability


def _target(stream, payload):
    """Where to write ``payload``: the view for a mapping, the packed value for an int."""
    if isinstance(payload, int) and hasattr(stream.payload, "as_value"):
        return stream.payload.as_value()
    return stream.payload


async def _tick(ctx, clock, *sampled):
    result = await ctx.tick().sample(*sampled)
    if clock is not None:
        clock.edges += 1
    return result[2:]


async def _wait_for(ctx, flag, sampled, clock, limit, what):
    """Edges until ``flag`` is high at one; the samples taken at that edge."""
    waited = 0
    while True:
        assert limit is None or waited < limit, f"{what}: no handshake after {limit} cycles"
        high, *values = await _tick(ctx, clock, flag, *sampled)
        waited += 1
        if high:
            return values


async def stream_put(ctx, stream, payload, *, pause: Callable[[], bool] | None = None,
                     limit: int | None = None, clock: EdgeCount | None = None,
                     what: str = "beat") -> None:
    """Offer one beat on ``stream`` (the DUT's input) until it is taken."""
    while pause is not None and pause():
        ctx.set(stream.valid, 0)
        await _tick(ctx, clock)
    ctx.set(stream.valid, 1)
    ctx.set(_target(stream, payload), payload)
    await _wait_for(ctx, stream.ready, (), clock, limit, f"{what} not taken")
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, pause: Callable[[], bool] | None = None,
                     limit: int | None = None, clock: EdgeCount | None = None,
                     what: str = "beat", raw: bool = False):
    """Take one beat from ``stream`` (the DUT's output); its payload."""
    while pause is not None and pause():
        ctx.set(stream.ready, 0)
        await _tick(ctx, clock)
    ctx.set(stream.ready, 1)
    payload = stream.payload.as_value() if raw else stream.payload
    value, = await _wait_for(ctx, stream.valid, (payload,), clock, limit,
                             f"{what} not given")
    ctx.set(stream.ready, 0)
    return int(value) if raw else value
