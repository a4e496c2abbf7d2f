"""In-order scoreboard: every expected item is matched exactly once.

``expect(item, tag)`` queues what the DUT must produce; ``receive(item)``
compares the next arrival with the oldest expectation.  A mismatch, an
arrival with nothing expected (extra / duplicated / stale output) raises
``ScoreboardError`` at once; ``check_done()`` raises if anything expected
never came (lost output).  ``flush()`` forgets expectations (reset).
"""

from __future__ import annotations

from collections import deque


class ScoreboardError(AssertionError):
    pass


class Scoreboard:
    def __init__(self, name: str, describe=repr):
        self.name = name
        self.describe = describe
        self.expected: deque = deque()
        self.matched = 0
        self.errors: list[str] = []

    def expect(self, item, tag: str = ""):
        self.expected.append((item, tag))

    def flush(self):
        dropped = len(self.expected)
        self.expected.clear()
        return dropped

    def _fail(self, msg: str):
        self.errors.append(msg)
        raise ScoreboardError(f"{self.name}: {msg}")

    def receive(self, item):
        if not self.expected:
            self._fail(f"unexpected output (extra, duplicated or stale): {self.describe(item)}")
        want, tag = self.expected.popleft()
        if item != want:
            self._fail(f"mismatch at {tag}:\n  got      {self.describe(item)}\n"
                       f"  expected {self.describe(want)}")
        self.matched += 1

    def check_done(self):
        if self.errors:
            raise ScoreboardError(f"{self.name}: {len(self.errors)} errors; first: {self.errors[0]}")
        if self.expected:
            item, tag = self.expected[0]
            raise ScoreboardError(f"{self.name}: {len(self.expected)} expected outputs never "
                                  f"came; first {tag}: {self.describe(item)}")
