"""The hardware half of docs/formats.md's tables (issue 25): each recipe's
4-bit datapath cost, and the Pareto plot of accuracy against that cost.

Cost is the k-lane comparison's figure (scripts/measure_dot_baselines.py,
docs/dot-baselines.md): the 8x8 array of 8-lane dot-product PEs of the
recipe's 4-bit GEMM format, ECP5 LUT4 per MAC/ns (array LUT4 over
R*C*k MACs per cycle times the PE's Fmax), read from the stored
measurement ``docs/dot_baselines.json`` that the measurement writes beside
its report.  A recipe whose format has no PE built (``luq``'s radix-2 FP4)
has no cost.  The cost is the 4-bit array's only: recipes with 8-bit end
layers also need an 8-bit datapath for those layers, which no column counts.
"""

from __future__ import annotations

import json

import numpy as np

from scripts.measure_dot_baselines import DOC, STORED

COST_JSON = DOC.with_name(STORED)

# recipe -> the PE kind (hw.pe_kinds) its 4-bit GEMMs run on; None: no PE built.
RECIPE_PE = {
    "4bit": "radix4", "4bit-stochastic": "radix4", "4bit-all": "radix4",
    "4bit-onchip": "radix4", "4bit-onchip-sr": "radix4",
    "luq": None,
    "mxfp4": "mxfp4", "mxfp4-ends": "mxfp4",
    "nvfp4": "nvfp4", "nvfp4-all": "nvfp4",
}
METRIC = "array_lut4_per_mac_per_ns"
NO_PE = "no PE built"
NOT_MEASURED = "not measured"


def load_costs(path=COST_JSON) -> dict:
    """PE kind -> array LUT4 per MAC/ns (kinds the stored measurement has)."""
    if not path.exists():
        return {}
    derived = json.loads(path.read_text()).get("derived", {})
    return {kind: d[METRIC] for kind, d in derived.items() if d.get(METRIC)}


def cost_cell(recipe: str, costs: dict) -> str:
    """The table cell of ``recipe``'s cost."""
    kind = RECIPE_PE.get(recipe)
    if kind is None:
        return NO_PE
    if kind not in costs:
        return NOT_MEASURED
    return f"{costs[kind]:,.0f} ({kind})"


def pareto_front(points):
    """Indices of the points no other point beats on both axes:
    ``points`` are ``(cost, loss)`` pairs, lower is better on both."""
    front = []
    for i, (c, l) in enumerate(points):
        if not any((c2 <= c and l2 <= l) and (c2 < c or l2 < l)
                   for j, (c2, l2) in enumerate(points) if j != i):
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def plot_pareto(tasks: list[tuple[str, bool, list]], path) -> None:
    """One panel per task: each recipe's mean gap to FP32 (error bar: std
    over seeds) against its array cost; the non-dominated recipes joined.
    ``tasks``: ``(task, higher_is_better, [(recipe, ends, cost, mean, std)])``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(3.6 * max(1, len(tasks)), 3.8))
    axes = np.atleast_1d(axes)
    colour = {"radix4": "tab:blue", "mxfp4": "tab:orange", "nvfp4": "tab:green"}
    for ax, (task, higher, rows) in zip(axes, tasks):
        # A loss to minimise on the y axis: the accuracy gap is negated.
        loss = [(-m if higher else m) for _, _, _, m, _ in rows]
        for (recipe, ends, cost, mean, std) in rows:
            kind = RECIPE_PE[recipe]
            ax.errorbar(cost, mean, yerr=std, fmt="o" if ends == "4-bit" else "s",
                        color=colour[kind], mfc=colour[kind] if ends == "4-bit" else "white",
                        capsize=2, ms=6)
            ax.annotate(recipe, (cost, mean), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
        front = pareto_front([(c, lo) for (_, _, c, _, _), lo in zip(rows, loss)])
        ax.plot([rows[i][2] for i in front], [rows[i][3] for i in front], "k--", lw=0.8,
                label="Pareto front")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xlabel("8x8 array, ECP5 LUT4 per MAC/ns")
        ax.set_ylabel("accuracy gap (points)" if higher else "bpc gap (% of FP32)")
        ax.set_title(f"{task} ({'up' if higher else 'down'} is better; left is cheaper)",
                     fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    fig.suptitle("4-bit formats: gap to FP32 against array cost (filled: all GEMMs 4-bit; "
                 "open: 8-bit end layers; blue radix-4, orange MXFP4, green NVFP4)", fontsize=8)
    fig.tight_layout()
    from model.fileio import atomic_open
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
