"""Replicated control registers survive synthesis (hw/replica.py, docs/timing.md).

The array's control reaches every PE on an anti-diagonal with the same value,
and the drain's output register spans every column.  Yosys merges equal
flip-flops, which would give one register a die-wide fanout; the replicas are
kept apart by the flow.  These tests synthesize a small array (PEs as black
boxes, the real Yosys script of ``radix4 synth``) and read the netlist: every
PE's control inputs come from flip-flops of its own, and every column of the
output register loads under its own enable.  Behaviour is the array tests'
(tests/test_array.py, verif/test_array.py): replicas change no value.
"""

import json

import pytest

from hw.synth_compose import BLACKBOX_PE, synthesize_glue
from hw.synth_designs import Design

ROWS, COLS = 3, 4


@pytest.fixture(scope="module")
def netlist(tmp_path_factory):
    work = tmp_path_factory.mktemp("replica")
    design = Design(f"replica_{ROWS}x{COLS}", "array", "array", ROWS, COLS, acc_width=18)
    synthesize_glue(design, work, flows=["generic"], netlists={"generic": "glue.json"})
    modules = json.loads((work / "glue.json").read_text())["modules"]
    return modules[f"replica_{ROWS}x{COLS}_glue"]


def _drivers(module):
    """Net bit -> (cell name, type) of the cell output that drives it."""
    out = {}
    for name, cell in module["cells"].items():
        for port, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(port) == "output":
                for b in bits:
                    out[b] = (name, cell["type"])
    return out


def _pes(module):
    """Black-box PE cells in row-major order (hierarchical names carry r and c)."""
    cells = {n: c for n, c in module["cells"].items() if c["type"].lstrip("\\") == BLACKBOX_PE}
    assert len(cells) == ROWS * COLS
    return cells


@pytest.mark.parametrize("port", ["valid", "clear", "a_fmt", "b_fmt"])
def test_every_pe_has_its_own_control_flip_flops(netlist, port):
    drivers = _drivers(netlist)
    sources = {}
    for name, cell in _pes(netlist).items():
        bits = cell["connections"][port]
        # valid/clear come through a gate of the cell's own control register:
        # follow one gate back to the flip-flops feeding it.
        srcs = []
        for b in bits:
            if isinstance(b, str):       # constant bit: none expected
                continue
            drv = drivers.get(b)
            assert drv is not None, f"{name}.{port} undriven"
            srcs.append(_flops_behind(netlist, drivers, b))
        sources[name] = tuple(srcs)
    # Row 0 column 0 is fed by the input register's logic; every other PE
    # (all but one) has control flip-flops that feed no other PE's port.
    distinct = len(set(sources.values()))
    assert distinct == ROWS * COLS, (
        f"{port}: {ROWS * COLS} PEs share {distinct} control sources (merged "
        "anti-diagonal registers)")


def _flops_behind(module, drivers, bit, depth=3):
    """The flip-flop cells (names) in the fan-in of ``bit``, up to ``depth`` gates back."""
    found, frontier = set(), [bit]
    for _ in range(depth):
        nxt = []
        for b in frontier:
            drv = drivers.get(b)
            if drv is None:
                continue
            name, kind = drv
            if "DFF" in kind.upper():
                found.add(name)
                continue
            cell = module["cells"][name]
            for port, bits in cell["connections"].items():
                if cell["port_directions"].get(port) == "input":
                    nxt += [x for x in bits if not isinstance(x, str)]
        frontier = nxt
    return frozenset(found)


def test_each_output_column_loads_under_its_own_enable(netlist):
    drivers = _drivers(netlist)
    width = 18
    data = netlist["ports"]["o__payload"]["bits"][:COLS * width]
    enables = []
    for c in range(COLS):
        col = set()
        for b in data[c * width:(c + 1) * width]:
            name, kind = drivers[b]
            conns = netlist["cells"][name]["connections"]
            assert "E" in conns, f"output bit driven by {kind}, not a register with a load enable"
            col.add(tuple(conns["E"]))
        assert len(col) == 1, f"column {c}: {len(col)} enables"
        enables.append(col.pop())
    assert len(set(enables)) == COLS, "output columns share one load enable"


def test_input_register_lanes_load_under_their_own_enables(netlist):
    # PE(0, 0) takes A row 0 and B column 0 straight from the input register
    # (no skew delay): their flip-flops must not share one load enable.
    drivers = _drivers(netlist)
    pe00 = next(c for n, c in _pes(netlist).items() if "pe_0_0" in n)
    enables = {}
    for port in ("a", "b"):
        nets = set()
        for b in pe00["connections"][port]:
            name, kind = drivers[b]
            conns = netlist["cells"][name]["connections"]
            assert "E" in conns, f"{port} from {kind}, not a register with a load enable"
            nets.add(tuple(conns["E"]))
        assert len(nets) == 1
        enables[port] = nets.pop()
    assert enables["a"] != enables["b"], "A and B input lanes share one load enable"
