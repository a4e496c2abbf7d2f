"""The test selections of the mutation gate (``verif.mutants``): which pytest
run each layer name stands for, and each hw module's default layer.

Kept apart from the catalogue of mutants itself, which ``verif.mutants``
holds; a mutant names layers from ``SELECTIONS``.
"""

from __future__ import annotations

__all__ = ["SELECTIONS", "DEFAULT_LAYER"]

# Test selections (pytest arguments, run from the mutated copy's root).
SELECTIONS = {
    "tests:pe": ["tests/test_pe.py"],
    "tests:array": ["tests/test_array.py"],
    "tests:tile": ["tests/test_accel.py"],
    "tests:quant": ["tests/test_quant_unit.py"],
    "verif:array": ["verif/test_array.py", "-k", "icarus and (2x3 or 3x5)"],
    "verif:tile": ["verif/test_accel.py"],
    # The real driver and host testbench (sim.backends, Icarus): a sticky
    # overflow across a job chain and batches, counters, backpressure.
    "driver": ["tests/test_driver_overflow.py"],
    # The tile with the quantization unit through its host (Icarus only: the
    # Verilator build of it takes minutes).
    "tests:quant_tile": ["tests/test_quant_tile.py", "-k", "not verilator"],
    # The k-lane PE (hw/dot_pe.py, dot_rows.py, adder_tree.py): Amaranth
    # simulation, and its cocotb bench on Icarus at 2, 4 and 16 lanes, W = 18.
    "tests:dot_pe": ["tests/test_dot_pe.py", "tests/test_adder_tree.py"],
    # The quantization unit's cocotb bench, Icarus at 3 lanes W = 18.
    "verif:quant": ["verif/test_quant_unit.py", "-k", "icarus-c3w18"],
    "verif:dot_pe": ["verif/test_dot_pe.py", "-k", "icarus-k2-w18 or icarus-k4-w18 or icarus-k16-w18"],
    # The k-lane PE's simulation model (hw/dot_pe_model.py): the 2-lane proof
    # whose reference it is, and its differential Icarus run against the gate PE.
    "formal:dot_pe_k2": ["tests/test_formal.py", "-k", "test_pe_proofs_pass and dot_pe_k2"],
    "tests:dot_pe_model": ["tests/test_dot_pe_model.py", "-m", "not slow"],
    # The k-lane baselines of the cost report (hw/baselines/int8_dot.py,
    # fp_dot.py, dot_base.py) against model/dot_baselines.py, Amaranth simulation.
    "tests:dot_baselines": ["tests/test_dot_baselines_rtl.py", "-m", "not slow"],
    # The block-scaled PEs (hw/block_dot_pe.py) against model/block_hw.py's beat
    # reference, and the array carrying their scale fields (issue 25 item 3).
    "tests:block_pe": ["tests/test_block_dot_pe.py"],
    "tests:block_array": ["tests/test_block_array.py"],
    # The AXI shell (hw/axi_*.py): its cocotbext-axi bench on Icarus, and the
    # table-driven CSR decode in Amaranth simulation.
    "verif:axi": ["verif/test_axi.py", "-k", "icarus"],
    "tests:axi": ["tests/test_axi_csr.py"],
    # The shell around the tile with the quantization unit (hw/axi_quant.py and
    # the route logic of hw/axi_shell.py): its cocotbext-axi bench on Icarus.
    "verif:axiq": ["verif/test_axiq.py", "-k", "icarus"],
    # The board top (hw/board.py, uart.py, uart_bridge.py): GEMMs, corrupt and
    # cut-off frames through the serial-line model, Amaranth simulation.
    "tests:board": ["tests/test_board_uart.py", "-m", "not slow"],
    # The array and driver with k-lane PEs (issue 27 item 2): Amaranth array
    # tests, the array's cocotb bench on Icarus at 2x3 k = 8, and the Icarus
    # tile through the real driver (padding, lane packing) against the model.
    "tests:lanes": ["tests/test_array_lanes.py"],
    "verif:array_lanes": ["verif/test_array.py", "-k", "lanes and icarus and k8"],
    "driver:lanes": ["tests/test_driver_lanes.py", "-m", "not slow"],
    # Block-scaled GEMMs through the real driver and tile (Icarus, NVFP4), and
    # the driver's beat packing on its own (issue 25).
    "driver:block": ["tests/test_block_rtl.py", "-m", "not slow"],
    "driver:block_plan": ["tests/test_block_backend.py", "-k", "plan"],
    # The synthesized netlist of a small array (Yosys, PEs as black boxes):
    # replicated control and drain enables stay apart (docs/timing.md).
    "tests:replica": ["tests/test_replica.py"],
}
DEFAULT_LAYER = {"pe": "tests:pe", "product": "tests:pe", "product_pipeline": "tests:pe", "skew": "tests:array",
                 "grid": "tests:array", "drain": "tests:array", "array": "tests:array",
                 "accel": "tests:tile", "tile_quant": "tests:quant_tile", "quant_unit": "tests:quant",
                 "dot_pe": "tests:dot_pe", "dot_rows": "tests:dot_pe", "adder_tree": "tests:dot_pe",
                 "axi_shell": "verif:axi", "axi_lite": "verif:axi", "axi_csr": "tests:axi",
                 "axi_quant": "verif:axiq", "uart_bridge": "tests:board", "uart": "tests:board",
                 "replica": "tests:replica", "block_dot_pe": "tests:block_pe",
                 "dot_pe_model": "tests:dot_pe_model"}
