"""What ``make results`` runs: tasks, seeds and which recipes each task gets.

Shared by ``scripts.results`` (which runs it) and ``scripts.formats_report``
(which says what is still pending).  Budget: the whole command stays near an
hour on 2 idle cores (the block-format recipes cost 2-5x a 4bit run).
"""

TASK_ORDER = ("digits-mlp", "digits-cnn", "charlm", "charlm-attn")
SEEDS = (0, 1, 2)
# The on-chip recipes run MLPs of Linear layers joined by PACTs only
# (model.onchip): the digits MLP, and the char LM for 4bit-onchip and
# 4bit-onchip-sr (issue 25: radix 4, all 4-bit, nearest vs stochastic).
ONCHIP = ("4bit-onchip", "4bit-onchip-delayed", "4bit-onchip-sr")
# The transformer gets the rows of the format comparison (issue 25,
# docs/formats.md).
FORMAT_RECIPES = ("fp32", "4bit", "luq", "mxfp4", "nvfp4")
# Which recipes each task runs (absent: all).
TASK_RECIPES = {"digits-cnn": lambda r: r not in ONCHIP,
                "charlm": lambda r: r not in ONCHIP or r in ("4bit-onchip", "4bit-onchip-sr"),
                "charlm-attn": lambda r: r in FORMAT_RECIPES}
