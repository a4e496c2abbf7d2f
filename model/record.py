"""Recording the GEMMs of real training steps into a trace.

This sits above both the trainer and the trace modules: the trace schema,
writer and reader know nothing of training, and the trainer knows nothing of
traces (it only sees a ``TraceRecorder`` as its GEMM backend).
"""

from __future__ import annotations

import numpy as np

from .backend import GoldenBackend
from .tasks import make_task
from .trace import Trace, TraceRecorder
from .trace_reader import load_trace
from .train import Trainer

__all__ = ["record_training_step"]


def record_training_step(out_path, task: str = "digits-mlp", recipe: str = "4bit-all",
                         seed: int = 0, *, steps: int = 1, backend=None) -> Trace:
    """Run ``steps`` training steps of ``task`` under ``recipe``; save every GEMM.

    The GEMMs run on ``backend`` (default: the golden model) wrapped in a
    ``TraceRecorder``; the trace's expected results come from the golden
    model either way.  Returns the saved trace as ``load_trace`` reads it.
    """
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    t = make_task(task, seed)
    rec = TraceRecorder(backend if backend is not None else GoldenBackend(),
                        info={"task": task, "recipe": recipe, "seed": seed, "steps": steps})
    trainer = Trainer(t.model, recipe, backend=rec, seed=seed, lr=t.lr, metric=t.metric)
    if not trainer.recipe.quantized:
        raise ValueError(f"recipe {recipe!r} runs no GEMMs on a backend; nothing to record")
    order = np.random.default_rng([seed, 1]).permutation(len(t.X_train))
    for s in range(steps):
        idx = order[s * t.batch_size:(s + 1) * t.batch_size]
        rec.step = s
        trainer.step(t.X_train[idx], t.y_train[idx])
    rec.save(out_path)
    return load_trace(out_path)
