"""The grid ``make results`` runs: tasks, seeds and which recipes each task runs.

Its own module so that the report writers (scripts.formats_report) read it
without importing the runner (scripts.results), which calls them.
"""

from __future__ import annotations

__all__ = ["TASK_ORDER", "SEEDS", "ONCHIP", "FORMAT_RECIPES", "TASK_RECIPES", "LM_TASKS"]

TASK_ORDER = ("digits-mlp", "digits-cnn", "charlm", "charlm-attn")
SEEDS = (0, 1, 2)
# Which recipes each task runs (None: all).  Budget: the whole command stays
# near an hour on 2 idle cores (the block-format recipes cost 2-5x a 4bit run).  The on-chip recipes run MLPs of Linear layers
# joined by PACTs only (model.onchip), so the digits MLP; the transformer gets
# the three rows issue 16 asks for.
ONCHIP = ("4bit-onchip", "4bit-onchip-delayed", "4bit-onchip-sr")
# The 4-bit formats of issue 25 (docs/formats.md) run on every task; 4bit-onchip on
# the char LM too (an MLP).
FORMAT_RECIPES = ("fp32", "4bit", "luq", "mxfp4", "nvfp4")
TASK_RECIPES = {"digits-cnn": lambda r: r not in ONCHIP,
                "charlm": lambda r: r not in ONCHIP or r == "4bit-onchip",
                "charlm-attn": lambda r: r in FORMAT_RECIPES}
LM_TASKS = ("charlm", "charlm-attn")
