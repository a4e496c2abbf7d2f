"""Where every code of an on-chip training step was made (the demo's provenance table).

Every GEMM of an on-chip step takes two code operands, and each was produced
in exactly one of four places:

- ``unit``:  the on-chip quantization unit (a forward job, a one-pass backward
  job, or a measuring pass plus requant job): hidden activations and hidden
  gradients;
- ``sawb``:  the host's SAWB quantizer, every step, from the float master
  weights (the unit quantizes accumulator rows, not weights);
- ``input``: the host's fixed quantizer of the network input;
- ``loss``:  the host's GradScale + TPR quantization of the loss gradient.

:class:`Provenance` wraps the backend of a step and records, for every GEMM,
both operands and who made each; :func:`check` compares that record with what
the recipe prescribes (:func:`expected`) and with the complete list of
operands of the step's GEMMs, so a table that leaves an operand out (the
weights, say) fails.
"""

from __future__ import annotations

import hashlib

import numpy as np

from model.backend import BackendWrapper

__all__ = ["Provenance", "OPERANDS", "expected", "check", "rows"]

# The two operands (A side, B side) of each kind of GEMM, by the name's suffix.
OPERANDS = {".fwd": ("X", "W"), ".dX": ("dY phase 0", "W^T"), ".dW": ("X^T", "dY phase 1")}
LABELS = {"unit": "on-chip unit", "sawb": "host SAWB, INT4 weights",
          "input": "host: network input quantizer", "loss": "host: loss gradient, "
          "GradScale + TPR", "?": "UNKNOWN"}


def _key(x) -> str:
    x = np.ascontiguousarray(x)
    return hashlib.sha1(x.tobytes() + str(x.shape).encode() + str(x.dtype).encode()).hexdigest()


class Provenance(BackendWrapper):
    """Wraps a quant backend; records who produced each operand of each GEMM.

    ``gemms`` is a list of ``(gemm name, [(operand, kind, detail), ...])``
    with ``kind`` one of ``unit``, ``sawb``, ``input``, ``loss`` or ``?``.
    Host-made codes are registered before the step (:meth:`register`);
    the unit's are registered as its jobs return them.  A loss gradient is
    the one operand known by position only: a dY of the last layer that
    nothing registered."""

    def __init__(self, inner, last_layer: str):
        super().__init__(inner)
        self.made = {}        # key -> (kind, detail)
        self.gemms = []
        self.last_layer = last_layer

    def register(self, arr, kind, detail):
        if arr is not None:
            self.made[_key(arr)] = (kind, detail)
            self.made[_key(np.asarray(arr).T)] = (kind, detail)

    def _source(self, arr, name, op):
        if _key(arr) in self.made:
            return self.made[_key(arr)]
        if op.startswith("dY") and name.startswith(self.last_layer + "."):
            return "loss", "softmax cross-entropy gradient"
        return "?", "not registered"

    def _record(self, name, a, b):
        suffix = "." + name.rsplit(".", 1)[-1]
        labels = OPERANDS.get(suffix, ("A", "B"))
        self.gemms.append((name, [(op, *self._source(x, name, op))
                                  for op, x in zip(labels, (a, b))]))

    def gemm(self, a, b, fa, fb, *, name="gemm", **kw):
        self._record(name, a, b)
        return self.inner.gemm(a, b, fa, fb, name=name, **kw)

    def forward_quant(self, a, b, fa, fb, **kw):
        self._record(kw["name"], a, b)
        codes, mask = self.inner.forward_quant(a, b, fa, fb, **kw)
        self.register(codes, "unit", f"{kw['name']} forward job")
        return codes, mask

    def backward_quant(self, a, b, fa, fb, **kw):
        self._record(kw["name"], a, b)
        out = self.inner.backward_quant(a, b, fa, fb, **kw)
        for code in (out.code0, out.code1):
            self.register(code, "unit", f"{kw['name']}, one pass")
        return out

    def requant(self, acc, **kw):
        out = self.inner.requant(acc, **kw)
        for code in (out.code0, out.code1):
            self.register(code, "unit", f"{kw['name']}, pass 2")
        return out


def register_host_codes(prov: Provenance, model, xb) -> None:
    """The codes the host makes for a step of ``model`` on ``xb``: SAWB INT4
    weights of every layer, and the network input (calibrated quantizer)."""
    from model.onchip import check_network
    from model.quant import sawb_quantize
    pre, linears, _ = check_network(model)
    for layer in linears:
        wq = sawb_quantize(layer.W.value, bits=4, name=layer.W.name)
        prov.register(wq.codes, "sawb", f"{layer.W.name}, from the float weights")
    x = xb
    for layer in pre:
        x = layer.forward(x, None)
    codes = linears[0]._quantize_input(x)[0]
    prov.register(codes, "input", "fixed scale, calibrated on the first batch")


def expected(name: str, op: str, first: str, last: str) -> str:
    """The producer the on-chip recipes prescribe for operand ``op`` of GEMM ``name``."""
    layer = name.rsplit(".", 1)[0]
    if op.startswith("W"):
        return "sawb"
    if op.startswith("X"):
        return "input" if layer == first else "unit"
    return "loss" if layer == last else "unit"


def check(gemms, layers) -> list[str]:
    """Problems of a provenance record for an MLP with GEMM layers ``layers``
    (names, input first): every forward, dW and (but the first layer's) dX
    GEMM present, each with both its operands, each made where it must be."""
    problems = []
    first, last = layers[0], layers[-1]
    want = [f"{n}{s}" for n in layers for s in (".fwd", ".dW")] + \
        [f"{n}.dX" for n in layers[1:]]
    names = [g[0] for g in gemms]
    problems += [f"{n}: not in the table" for n in want if n not in names]
    for name, ops in gemms:
        suffix = "." + name.rsplit(".", 1)[-1]
        need = {".fwd": {"X", "W"}, ".dX": {"dY phase 0", "W^T"},
                ".dW": {"X^T", "dY phase 1"}}.get(suffix)
        listed = {op for op, *_ in ops}
        if need is None:
            problems.append(f"{name}: not a GEMM of the step")
            continue
        problems += [f"{name}: operand {op} not listed" for op in sorted(need - listed)]
        for op, kind, _ in ops:
            if kind != expected(name, op, first, last):
                problems.append(f"{name} {op}: made by {LABELS.get(kind, kind)}, expected "
                                f"{LABELS[expected(name, op, first, last)]}")
    return problems


def rows(gemms) -> list[str]:
    """The table's lines."""
    out = [f"{'GEMM':<10} {'operand':<11} produced by"]
    for name, ops in gemms:
        for op, kind, detail in ops:
            out.append(f"{name:<10} {op:<11} {LABELS.get(kind, kind)} ({detail})")
    return out
