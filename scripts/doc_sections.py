"""Sections of a generated page that another command regenerates on its own.

A section runs from its begin marker to its end marker (both HTML comments,
both kept).  ``splice`` replaces it, or inserts it when the page has none;
``kept`` reads it back, so that a command re-rendering the whole page can
carry it over unchanged.
"""

from __future__ import annotations

__all__ = ["ONCHIP_SR", "QUANT_UNIT", "DOT_BASELINES", "splice", "kept"]

# (begin, end).  A begin marker is found by this prefix; the page's marker goes on
# to name the command that writes the section.
ONCHIP_SR = ("<!-- onchip-sr: begin", "<!-- onchip-sr: end -->")      # docs/results.md
QUANT_UNIT = ("<!-- quant-unit: begin", "<!-- quant-unit: end -->")   # docs/hardware-cost.md
DOT_BASELINES = ("<!-- dot-baselines: begin", "<!-- dot-baselines: end -->")   # docs/hardware-cost.md


def splice(doc: str, section: str, markers: tuple[str, str], before: str | None = None) -> str:
    """``doc`` with its section replaced by ``section``; without one, ``section``
    goes before the first line ``before`` (when given and present), else at the end."""
    begin, end = markers
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        return head + section.rstrip("\n") + rest.split(end, 1)[1]
    if before is not None and "\n" + before in doc:
        head, rest = doc.split("\n" + before, 1)
        return head + "\n" + section.rstrip("\n") + "\n\n" + before + rest
    return doc.rstrip("\n") + "\n\n" + section


def kept(doc: str, markers: tuple[str, str]) -> str | None:
    """The section as it stands in ``doc``, markers included (None: it has none)."""
    begin, end = markers
    if begin in doc and end in doc:
        return begin + doc.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
    return None
