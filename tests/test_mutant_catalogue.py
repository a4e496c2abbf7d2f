"""The mutation gate's catalogue stays applicable: a refactor that changes a
mutant's text makes ``make mutate`` report it STALE, hours later; here it
fails ``make test`` at once (three grid mutants and one AXI mutant went
stale unnoticed for a session before this check)."""

import pytest

from verif import mutate
from verif.mutant_selections import SELECTIONS
from verif.mutants import CATALOGUE


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda m: m.name)
def test_mutant_text_occurs_exactly_once(mutant):
    assert not mutate.stale(mutant), (
        f"{mutant.name}: its text must occur exactly once in {mutant.path}; update verif/mutants.py")
    assert mutant.new != mutant.old
    assert set(mutant.kill_layers) <= set(SELECTIONS), mutant.name


def test_stale_mutant_is_detected(tmp_path):
    """The check can fail: a mutant whose text is absent is stale and refuses to apply."""
    import dataclasses
    ghost = dataclasses.replace(CATALOGUE[0], old=CATALOGUE[0].old + "  # not in the source")
    assert mutate.stale(ghost)
    (tmp_path / ghost.path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / ghost.path).write_text((mutate.ROOT / ghost.path).read_text())
    with pytest.raises(ValueError, match="expected exactly once"):
        mutate.apply(ghost, tmp_path)


def test_names_are_unique():
    names = [m.name for m in CATALOGUE]
    assert len(names) == len(set(names))
