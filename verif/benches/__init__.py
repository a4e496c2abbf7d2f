"""cocotb test modules (run inside the simulator by verif/test_*.py via verif.tools)."""
