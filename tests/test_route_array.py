"""scripts/route_array.py and scripts/stitch_array.py: nextpnr phase timing from
its log, the CLI's errors, and (slow) a stitched flat netlist whose cells are
exactly the glue's plus R*C PEs'."""

import json

import pytest

from scripts.route_array import PhaseWatcher, main


def test_phase_watcher_times_placement_and_routing(tmp_path):
    log = tmp_path / "pnr.log"
    w = PhaseWatcher(log, poll=3600)   # checked by hand below, not by its thread
    w.check()                           # no log yet: nothing seen
    assert w.seen == {}
    log.write_text("Info: Packing constants..\nInfo: Placed 0 cells based on constraints.\n")
    w.check()
    assert set(w.seen) == {"place"}
    with log.open("a") as f:
        f.write("Info: Routing..\n")
    w.check()
    phases = w.stop()
    # Stopped during routing: pack, place and route so far, no "done".
    assert set(phases) == {"pack", "place", "route"}
    assert all(v >= 0 for v in phases.values())
    assert w.seen["route"] >= w.seen["place"]


def test_phase_watcher_stopped_while_placing(tmp_path):
    log = tmp_path / "pnr.log"
    log.write_text("Info: Placed 12 cells based on constraints.\n")
    w = PhaseWatcher(log, poll=3600)
    assert set(w.stop()) == {"pack", "place"}


@pytest.mark.parametrize("argv", [["--timeout", "0"], ["--lanes", "3"], ["--rows", "0"]])
def test_cli_errors_are_one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("route_array: error:") and err.count("\n") == 1


def _cells(stat_file):
    return json.loads(stat_file.read_text())["design"]["num_cells_by_type"]


@pytest.mark.slow
def test_stitched_array_is_glue_plus_pes(tmp_path):
    from hw.array import default_pe_class
    from model.config import DatapathConfig
    from scripts.stitch_array import FLOW, stitch_array

    cfg = DatapathConfig(rows=2, cols=3, acc_width=32, lanes=2)
    res = stitch_array(cfg, default_pe_class(2), tmp_path, step=lambda s: None)
    pe = _cells(tmp_path / "pe" / f"stat_{FLOW}.json")
    glue = _cells(tmp_path / "glue" / f"stat_{FLOW}.json")
    flat = _cells(tmp_path / "flat" / f"stat_{FLOW}.json")
    box = [t for t in glue if t.lstrip("\\").endswith("_box")]
    assert len(box) == 1 and glue[box[0]] == 6
    for cell in ("LUT4", "CCU2C", "TRELLIS_FF", "PFUMX"):
        assert flat.get(cell, 0) == glue.get(cell, 0) + 6 * pe.get(cell, 0), cell
    assert not any(t.lstrip("\\").endswith("_box") or t.startswith("$scopeinfo") for t in flat)
    # The JSON nextpnr reads: one non-blackbox module, the top, no PE instance left.
    mods = json.loads(res.netlist.read_text())["modules"]
    design = [m for m, v in mods.items() if "blackbox" not in v.get("attributes", {})]
    assert design == ["radix4_array_2x3_k2"]
    types = {c["type"] for c in mods[design[0]]["cells"].values()}
    assert "LUT4" in types and not any(t.endswith("_box") for t in types)
