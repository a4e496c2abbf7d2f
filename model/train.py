"""The training loop: one ``Trainer`` for every recipe and every backend.

    trainer = Trainer(model, "4bit", backend=GoldenBackend(), seed=0)
    loss = trainer.step(xb, yb)              # forward + backward + SGD update
    trainer.backend = other_backend          # swap freely between steps
    acc = trainer.evaluate(X_test, y_test)   # accuracy or bits per character
    history = trainer.fit(X, y, epochs=5, batch_size=32, progress=True)
    weights = trainer.state()                # name -> array, for bit-exact comparisons

Randomness is all ``numpy.random.Generator`` derived from ``seed``: batch
order (``[seed, 1]``) and stochastic rounding (``[seed, 2]``); initial
weights come from the task (``[seed, 0]``).  Two trainers with the same
model, recipe and seed that see the same batches produce identical weights
on any backend that honours the GEMM contract.

A model that ends in a ``Linear`` layer (its outputs are the softmax's
logits) gets that layer centered over the classes when the trainer is built,
and, unless the recipe says ``center_output=False``, its gradient projected
onto zero class-mean before every step (see ``_center_classes``).  The
trainer changes the model's weights at construction: build the trainer
before you read or copy the initial weights.
"""

from __future__ import annotations

import contextlib
import math
import sys

import numpy as np

from .backend import BackendWrapper, GoldenBackend
from .nn import SGD, Context, Linear, Sequential, softmax_cross_entropy
from .onchip import onchip_backward, onchip_forward, quant_backend
from .recipes import check_hardware, get_recipe

__all__ = ["Trainer", "METRICS"]

METRICS = {"accuracy": "higher", "bits_per_char": "lower"}


class Trainer:
    def __init__(self, model: Sequential, recipe="4bit", backend=None, seed: int = 0, *,
                 lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 1e-4,
                 metric: str = "accuracy"):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        self.recipe = get_recipe(recipe)
        self.model = model
        model.configure(self.recipe)
        if backend is None and self.recipe.quantized:
            backend = GoldenBackend()
        if self.recipe.quantized:
            # An RTL backend would only fail at the first GEMM it cannot run.
            check_hardware(self.recipe, getattr(backend, "name", "golden"))
        self.backend = backend
        self.seed = seed
        self.metric = metric
        self.base_lr = lr
        self.optimizer = SGD(model.params(), lr=lr, momentum=momentum,
                             weight_decay=weight_decay)
        self.shuffle_rng = np.random.default_rng([seed, 1])
        self.rounding_rng = np.random.default_rng([seed, 2])
        self.sigma_state: dict = {}
        self.steps_done = 0
        self._output = _logits_layer(model)
        if self._output is not None:
            # Every recipe starts from the same centered output layer, so the
            # projection below is the only difference ``4bit-nocenter`` makes.
            for p in self._output.params():
                _center_classes(p.value)
        self._limit_depth = 0

    @contextlib.contextmanager
    def _one_blas_thread(self):
        """Run BLAS single-threaded: our GEMMs are small, and a multi-threaded
        BLAS on a busy 2-core machine is up to 100x slower on them."""
        if self._limit_depth:
            yield
            return
        from threadpoolctl import threadpool_limits
        self._limit_depth += 1
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                yield
        finally:
            self._limit_depth -= 1

    def context(self, training: bool) -> Context:
        """The ``Context`` a forward/backward pass runs in (the trainer's
        backend, rounding generator and GradScale state)."""
        ctx = Context(self.recipe, self.backend, self.rounding_rng, self.sigma_state, training)
        if self.recipe.onchip:
            ctx.backend = quant_backend(self.backend)   # the unit's jobs
        return ctx

    # ------------------------------------------------------------------
    def step(self, xb, yb) -> float:
        """One minibatch: forward, loss, backward, SGD update; returns the loss (nats)."""
        yb = np.asarray(yb)
        ctx = self.context(training=True)
        self.optimizer.zero_grad()
        # Overflow to inf/NaN is caught below (loss, weights) as one error
        # instead of a screen of RuntimeWarnings first (e.g. an absurd lr).
        with self._one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):
            if self.recipe.onchip:
                loss = onchip_backward(self.model, ctx, xb, yb, variant=self.recipe.onchip,
                                       seed=self.seed, step=self.steps_done)
            else:
                logits = self.model.forward(xb, ctx)
                loss, grad = softmax_cross_entropy(logits, yb)
                if not math.isfinite(loss):
                    raise ArithmeticError(
                        f"training diverged at step {self.steps_done}: loss {loss}")
                self.model.backward(grad, ctx)
            if self.recipe.center_output and self._output is not None:
                for p in self._output.params():
                    _center_classes(p.grad)
            self.optimizer.step()
        self._check_finite()
        self.steps_done += 1
        return loss

    def _check_finite(self) -> None:
        """``ArithmeticError`` naming the first parameter an update made NaN or inf."""
        for p in self.model.params():
            if not np.isfinite(p.value).all():
                raise ArithmeticError(
                    f"training diverged at step {self.steps_done}: {p.name} is not finite "
                    f"after the update (peak learning rate {self.base_lr:g} too large?)")

    def predict_logits(self, X, batch_size: int = 1024, progress: bool = False) -> np.ndarray:
        """Logits of ``X`` in batches; ``progress``: a bar on stderr (samples done,
        and the GEMM running, which on an RTL backend is where the time goes)."""
        from tqdm import tqdm
        bar = tqdm(total=len(X), disable=not progress, file=sys.stderr, unit="sample",
                   desc=f"evaluate ({getattr(self.backend, 'name', 'float')})", leave=False)
        backend = self.backend
        if progress and backend is not None and not self.recipe.onchip:
            self.backend = _CountingBackend(backend, bar)   # same answers, a postfix per GEMM
        outs = []
        try:
            ctx = self.context(training=False)
            with self._one_blas_thread():
                for i in range(0, len(X), batch_size):
                    if self.recipe.onchip:   # inference through the unit
                        outs.append(onchip_forward(self.model, X[i:i + batch_size], ctx,
                                                   ctx.backend))
                    else:
                        outs.append(self.model.forward(X[i:i + batch_size], ctx))
                    bar.update(len(outs[-1]))
        finally:
            self.backend = backend
            bar.close()
        return np.concatenate(outs, axis=0)

    def evaluate(self, X, y, batch_size: int = 1024, progress: bool = False) -> float:
        """The trainer's metric on (X, y): accuracy, or mean bits per character."""
        y = np.asarray(y)
        logits = self.predict_logits(X, batch_size, progress=progress)
        if self.metric == "accuracy":
            return float(np.mean(np.argmax(logits, axis=1) == y))
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean() / math.log(2.0))

    def fit(self, X, y, *, epochs: int = 1, batch_size: int = 32, steps: int | None = None,
            eval_data=None, evals_per_epoch: int = 1, progress: bool = False,
            schedule: str = "cosine", callback=None) -> dict:
        """Train on (X, y) for ``epochs`` (at most ``steps`` minibatches in all).

        The learning rate follows a cosine decay from ``lr`` to 0 over the
        planned steps (``schedule="constant"`` keeps it).  After each epoch the
        metric on ``eval_data`` (if given) is recorded, and ``evals_per_epoch - 1``
        more times evenly within each epoch.  Returns a history dict: per-epoch
        lists ``epoch`` and ``train_loss``, and aligned lists ``eval_epoch``
        (fractional epochs) and ``metric``.
        """
        from tqdm import tqdm
        X = np.asarray(X)
        y = np.asarray(y)
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(f"X and y must be non-empty and equally long, got {len(X)} and {len(y)}")
        if epochs < 1 or batch_size < 1 or evals_per_epoch < 1 or (steps is not None and steps < 1):
            raise ValueError("epochs, batch_size and steps must be positive")
        if schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {schedule!r}")
        per_epoch = math.ceil(len(X) / batch_size)
        total = per_epoch * epochs if steps is None else min(steps, per_epoch * epochs)
        history = {"epoch": [], "train_loss": [], "eval_epoch": [], "metric": []}
        checkpoints = {round(per_epoch * k / evals_per_epoch) for k in range(1, evals_per_epoch)}
        bar = tqdm(total=total, disable=not progress, file=sys.stderr, unit="step",
                   desc=f"{self.recipe.name}", leave=False)
        done = 0
        with contextlib.ExitStack() as stack:
            stack.enter_context(self._one_blas_thread())
            stack.callback(bar.close)
            for epoch in range(epochs):
                order = self.shuffle_rng.permutation(len(X))
                losses = []
                for b in range(per_epoch):
                    if done >= total:
                        break
                    if schedule == "cosine":
                        self.optimizer.lr = self.base_lr * 0.5 * (1 + math.cos(math.pi * done / total))
                    idx = order[b * batch_size:(b + 1) * batch_size]
                    losses.append(self.step(X[idx], y[idx]))
                    done += 1
                    bar.update(1)
                    if done % 10 == 0:
                        bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-10:]):.3f}")
                    if eval_data is not None and b + 1 in checkpoints and done < total:
                        history["eval_epoch"].append(epoch + (b + 1) / per_epoch)
                        history["metric"].append(self.evaluate(*eval_data))
                history["epoch"].append(epoch + 1)
                history["train_loss"].append(float(np.mean(losses)) if losses else float("nan"))
                if eval_data is not None:
                    history["eval_epoch"].append(epoch + min(1.0, len(losses) / per_epoch))
                    history["metric"].append(self.evaluate(*eval_data))
                if callback is not None:
                    callback(epoch + 1, history)
                if done >= total:
                    break
        return history

    def state(self) -> dict[str, np.ndarray]:
        """Copies of every learned tensor and calibration, keyed by name."""
        out = {p.name: p.value.copy() for p in self.model.params()}
        out.update({k: v.copy() for k, v in self.model.buffers().items()})
        return out


class _CountingBackend(BackendWrapper):
    """Names each GEMM on ``bar`` as it starts; everything else is the wrapped backend."""

    def __init__(self, backend, bar):
        super().__init__(backend)
        self._bar, self._count = bar, 0

    def gemm(self, a, b, a_format, b_format, *, name="gemm", **kwargs):
        self._count += 1
        self._bar.set_postfix_str(f"GEMM {self._count}: {name}", refresh=True)
        return self.inner.gemm(a, b, a_format, b_format, name=name, **kwargs)


def _logits_layer(model: Sequential):
    """The Linear layer whose outputs are the softmax's logits, if the model ends in one."""
    last = model.layers[-1] if model.layers else None
    return last if isinstance(last, Linear) else None


def _center_classes(a: np.ndarray) -> None:
    """Remove, in place, the component shared by all classes (the last axis).

    Softmax cross-entropy cannot see a shift common to all logits, so an
    exact gradient never has that component: its rows sum to zero.  A
    rounded FP4 gradient does have it (nearest rounding does not preserve
    the zero sum), and nothing in the loss pushes it back, so without this
    projection it grows in the output weights, takes over SAWB's INT4 range
    and leaks into dX.  On exact gradients the projection is a no-op.
    """
    a[...] = a - a.mean(axis=-1, keepdims=True)
