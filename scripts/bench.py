"""``make bench``: run every benchmark section ``scripts/bench_*.py``.

Each section module defines ``TITLE`` and ``run() -> str`` (markdown).  Each
section is printed and saved as ``docs/bench/<name>.md``; ``docs/bench.md``
is then assembled from every saved section, so ``python -m scripts.bench
driver`` refreshes one section without rerunning the slow ones.  Figures are
medians of repeats and ratios against a reference measured in the same run.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
import time

import scripts
from model.fileio import atomic_write_text
from model.paths import SOURCE_ROOT
from scripts.errors import require_checkout

ROOT = SOURCE_ROOT     # the checkout: main() requires one


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    require_checkout("scripts.bench", "make bench (it rewrites docs/bench.md)")
    names = sorted(m.name for m in pkgutil.iter_modules(scripts.__path__)
                   if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    out_dir = ROOT / "docs" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        module = importlib.import_module(f"scripts.{name}")
        print(f"== {module.TITLE}", flush=True)
        started = time.perf_counter()
        body = module.run()
        minutes = (time.perf_counter() - started) / 60
        section = (f"## {module.TITLE}\n\n_Run {time.strftime('%Y-%m-%d')} on "
                   f"{platform.machine()}, Python {platform.python_version()}, "
                   f"{os.cpu_count()} cores; section took {minutes:.1f} min. "
                   f"Regenerate: `python -m scripts.bench {name[len('bench_'):]}`._\n\n{body}\n")
        print(section, flush=True)
        atomic_write_text(out_dir / f"{name}.md", section)
    sections = sorted(out_dir.glob("bench_*.md"))
    header = ("# radix4 benchmarks\n\nAssembled by `make bench` (`python -m scripts.bench`) "
              "from the sections in `docs/bench/`. Medians of repeats; ratios are measured "
              "against a reference in the same run, never as timed assertions in tests.\n\n")
    out = ROOT / "docs" / "bench.md"
    atomic_write_text(out, header + "\n".join(p.read_text() for p in sections))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
