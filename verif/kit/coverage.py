"""Small functional-coverage bins.

Bins are declared up front (``declare(group, bins)``); ``hit`` on an
undeclared bin is an error (so a typo cannot pass silently).  ``save`` writes
JSON to ``$RADIX4_COVERAGE_FILE``; the pytest side prints the report and fails
when any declared bin has zero hits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from model.fileio import atomic_write_text


class Coverage:
    def __init__(self, name: str):
        self.name = name
        self.groups: dict[str, dict[str, int]] = {}

    def declare(self, group: str, bins):
        g = self.groups.setdefault(group, {})
        for b in bins:
            g.setdefault(str(b), 0)

    def hit(self, group: str, bin, n: int = 1):
        g = self.groups[group]
        key = str(bin)
        if key not in g:
            raise KeyError(f"coverage {self.name}: bin {key!r} not declared in group {group!r}")
        g[key] += n

    def missing(self) -> list[str]:
        return [f"{g}:{b}" for g, bins in self.groups.items() for b, n in bins.items() if n == 0]

    def report(self) -> str:
        lines = [f"coverage {self.name}:"]
        for g, bins in self.groups.items():
            hit = sum(1 for n in bins.values() if n)
            lines.append(f"  {g}: {hit}/{len(bins)} bins hit")
            if len(bins) <= 24:
                lines.append("    " + ", ".join(f"{b}={n}" for b, n in bins.items()))
            else:
                lines.append(f"    hits min {min(bins.values())} max {max(bins.values())}")
        miss = self.missing()
        lines.append(f"  MISSING ({len(miss)}): {', '.join(miss[:20])}" if miss else "  all bins hit")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"name": self.name, "groups": self.groups}

    def save(self, path: str | os.PathLike | None = None):
        path = path or os.environ.get("RADIX4_COVERAGE_FILE")
        if path:
            atomic_write_text(path, json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path) -> "Coverage":
        data = json.loads(Path(path).read_text())
        cov = cls(data["name"])
        cov.groups = {g: dict(b) for g, b in data["groups"].items()}
        return cov


# The stall bins of a bench with one input driver and one output monitor
# (verif.kit.stream's StreamDriver / StreamMonitor counters).
STREAM_STALL_BINS = ["valid gaps", "ready stalls", "input blocked (valid, not ready)"]


def hit_stream_stalls(cov: Coverage, drv, mon) -> None:
    """Hit ``STREAM_STALL_BINS`` of ``cov``'s "stalls" point that ``drv`` and ``mon`` saw."""
    for seen, label in zip((drv.gap_cycles, mon.stall_cycles, drv.blocked_cycles),
                           STREAM_STALL_BINS):
        if seen:
            cov.hit("stalls", label)
