"""Formal verification with SymbiYosys: the PE proved, the array and tile bounded-model-checked.

See ``verif.formal.run`` (runner, ``make formal``) and docs/verification.md.
"""
