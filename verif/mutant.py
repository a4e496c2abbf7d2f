"""One seeded RTL bug of the mutation gate (``verif.mutants``, ``make mutate``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .mutant_selections import DEFAULT_LAYER

__all__ = ["Mutant"]


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str          # hw/<module>.py
    old: str
    new: str
    why: str             # what the bug is
    layers: tuple = field(default=())   # default: the module's tests/ selection
    file: str = ""       # a source file outside hw/ (default hw/<module>.py)

    @property
    def path(self) -> str:
        return self.file or f"hw/{self.module}.py"

    @property
    def kill_layers(self) -> tuple:
        return self.layers or (DEFAULT_LAYER[self.module],)
