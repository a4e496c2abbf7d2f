"""Generated sections regenerated on their own (scripts/doc_sections.py) and the
on-chip stochastic-rounding section of docs/results.md (scripts/results_onchip.py)."""

from scripts import results_onchip as ro
from scripts.doc_sections import ONCHIP_SR, kept, splice


def test_splice_replaces_inserts_and_appends():
    m = ("<!-- s: begin", "<!-- s: end -->")
    new = "<!-- s: begin (cmd) -->\nNEW\n<!-- s: end -->\n"
    doc = "# T\n\n<!-- s: begin (old) -->\nOLD\n<!-- s: end -->\n\n## Tail\n"
    assert splice(doc, new, m) == "# T\n\n<!-- s: begin (cmd) -->\nNEW\n<!-- s: end -->\n\n## Tail\n"
    assert splice("# T\n\n## Tail\n", new, m, before="## Tail") == \
        "# T\n\n<!-- s: begin (cmd) -->\nNEW\n<!-- s: end -->\n\n## Tail\n"
    assert splice("# T\n", new, m, before="## Tail") == "# T\n\n" + new
    assert kept(doc, m) == "<!-- s: begin (old) -->\nOLD\n<!-- s: end -->\n"
    assert kept("# T\n", m) is None
    # what a full re-render does: the kept section goes back into the new page
    page = "# New page\n"
    assert kept(splice(page, kept(doc, m), m), m) == kept(doc, m)


def _run(task, recipe, seed, final):
    return {"task": task, "recipe": recipe, "seed": seed, "final": final, "cpu_s": 2.0}


def test_onchip_section_table():
    runs = [_run("digits-mlp", "4bit-onchip-sr", s, v) for s, v in ((0, 0.97), (1, 0.96), (2, 0.98))]
    runs += [_run("charlm", "4bit-onchip-sr", 0, 2.8504), _run("charlm", "fp32", 0, 2.7)]
    text = ro.section(runs)
    assert text.startswith(ONCHIP_SR[0]) and text.rstrip().endswith(ONCHIP_SR[1])
    # mean 97.00, sample standard deviation 1.00 (points); one charlm seed: no spread
    assert "| `4bit-onchip-sr` | 97.00 ± 1.00 (seeds 0,1,2) | 2.850 (seed 0) |" in text
    assert "| `fp32` | – | 2.700 (seed 0) |" in text
    assert "| `4bit-onchip` | – | – |" in text
