"""docs/formats.md's cost column and Pareto plot (scripts/formats_cost.py)."""

import json

from scripts import formats_cost as fc


def test_pareto_front_keeps_only_the_undominated_points():
    # (cost, loss): b is beaten by a on both axes, d ties c on cost and loses.
    pts = [(1.0, 5.0), (2.0, 6.0), (3.0, 1.0), (3.0, 2.0), (0.5, 9.0)]
    assert fc.pareto_front(pts) == [4, 0, 2]


def test_cost_cells_name_the_pe_and_say_when_there_is_none(tmp_path):
    path = tmp_path / "dot.json"
    path.write_text(json.dumps({"derived": {"radix4": {fc.METRIC: 839.6},
                                            "mxfp4": {fc.METRIC: 599.64},
                                            "int8": {fc.METRIC: None}}}))
    costs = fc.load_costs(path)
    assert costs == {"radix4": 839.6, "mxfp4": 599.64}
    assert fc.cost_cell("4bit-onchip-sr", costs) == "840 (radix4)"
    assert fc.cost_cell("mxfp4-ends", costs) == "600 (mxfp4)"
    assert fc.cost_cell("nvfp4", costs) == fc.NOT_MEASURED
    assert fc.cost_cell("luq", costs) == fc.NO_PE
    assert fc.load_costs(tmp_path / "absent.json") == {}


def test_every_recipe_of_the_tables_has_a_cost_mapping():
    from scripts.formats_report import ROWS
    assert {r for r, _, _ in ROWS} == set(fc.RECIPE_PE)
