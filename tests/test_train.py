"""The Trainer: determinism, backend swapping, learning, overflow, and the CLI."""

from __future__ import annotations

import re

import numpy as np
import pytest

from model.backend import GemmOverflowError, GoldenBackend
from model.tasks import make_task
from model.train import Trainer
from scripts.cli import main as cli_main


def _steps(trainer, task, n, batch=32, start=0):
    for i in range(start, start + n):
        sl = slice(i * batch, (i + 1) * batch)
        trainer.step(task.X_train[sl], task.y_train[sl])


def _equal_states(a, b):
    assert a.keys() == b.keys()
    return all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("recipe", ["4bit", "4bit-stochastic", "luq"])
def test_same_seed_gives_identical_weights_and_other_seed_differs(recipe):
    states = []
    for seed in (0, 0, 1):
        task = make_task("digits-mlp", seed)
        trainer = Trainer(task.model, recipe, seed=seed)
        _steps(trainer, task, 3)
        states.append(trainer.state())
    assert _equal_states(states[0], states[1])
    assert not _equal_states(states[0], states[2])


class CountingBackend(GoldenBackend):
    name = "counting"

    def __init__(self):
        super().__init__()
        self.count = 0

    def gemm(self, a, b, a_format, b_format, *, name="gemm"):
        self.count += 1
        return super().gemm(a, b, a_format, b_format, name=name)


def test_backend_can_be_swapped_between_steps_with_identical_results():
    task = make_task("digits-cnn", 0)
    ref = Trainer(task.model, "4bit-stochastic", seed=0)
    _steps(ref, task, 4)
    task2 = make_task("digits-cnn", 0)
    other = CountingBackend()
    swapped = Trainer(task2.model, "4bit-stochastic", seed=0)
    _steps(swapped, task2, 2)
    swapped.backend = other
    _steps(swapped, task2, 2, start=2)
    assert other.count == 2 * 8  # 8 GEMMs per CNN step, all on the new backend
    assert _equal_states(ref.state(), swapped.state())


def test_fp32_recipe_needs_no_backend_and_learns_digits():
    task = make_task("digits-mlp", 0)
    trainer = Trainer(task.model, "fp32", backend=None, seed=0, metric=task.metric)
    hist = trainer.fit(task.X_train, task.y_train, epochs=3, batch_size=32,
                       eval_data=(task.X_test, task.y_test), evals_per_epoch=2)
    assert len(hist["metric"]) == 6 and hist["eval_epoch"][1::2] == [1.0, 2.0, 3.0]
    assert hist["metric"][-1] == trainer.evaluate(task.X_test, task.y_test) > 0.85


def test_short_4bit_digits_run_learns():
    task = make_task("digits-mlp", 0)
    trainer = Trainer(task.model, "4bit", seed=0, metric=task.metric)
    hist = trainer.fit(task.X_train, task.y_train, epochs=3, batch_size=32,
                       eval_data=(task.X_test, task.y_test))
    assert len(hist["metric"]) == 3
    assert hist["metric"][-1] > 0.85  # chance is 0.1
    assert hist["train_loss"][-1] < hist["train_loss"][0]


def test_fit_accepts_user_arrays_and_steps_limit():
    from model.nn import Linear, ReLU, Sequential
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))          # signed inputs: INT4 fixed input scale
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = Sequential([Linear("a", 5, 16, rng), ReLU("r"), Linear("b", 16, 2, rng)])
    trainer = Trainer(model, "4bit", seed=0, lr=0.1)
    trainer.fit(X, y, epochs=50, batch_size=20, steps=25)
    assert trainer.steps_done == 25
    assert trainer.state()["a.in_alpha"][1] == 1.0  # signed input detected
    assert trainer.evaluate(X, y) > 0.8


def test_accumulator_overflow_propagates_naming_the_gemm():
    task = make_task("digits-mlp", 0)
    trainer = Trainer(task.model, "4bit", backend=GoldenBackend(acc_width=18), seed=0)
    with pytest.raises(GemmOverflowError) as info:
        _steps(trainer, task, 1)
    assert re.fullmatch(r"fc\d\.(fwd|dX|dW)", info.value.gemm_name)


def test_bits_per_char_metric_is_cross_entropy_in_bits():
    from model.nn import Linear, OneHot, Sequential
    rng = np.random.default_rng(0)
    model = Sequential([OneHot(4), Linear("fc", 8, 4, rng)])
    trainer = Trainer(model, "fp32", seed=0, metric="bits_per_char")
    model.layers[1].W.value[...] = 0  # uniform prediction over 4 symbols: 2 bits
    X = rng.integers(0, 4, (10, 2))
    assert trainer.evaluate(X, rng.integers(0, 4, 10)) == pytest.approx(2.0)


# --------------------------------------------------------------------------
# CLI


def test_cli_train_steps_prints_the_metric_line(capsys):
    assert cli_main(["train", "--steps", "2", "--no-progress"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.fullmatch(r"test_accuracy=([0-9.]+)", last)
    assert m and 0.0 <= float(m.group(1)) <= 1.0


def test_cli_train_charlm_reports_bits_per_char(capsys):
    assert cli_main(["train", "--dataset", "charlm", "--recipe", "fp32", "--steps", "1",
                     "--no-progress"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.fullmatch(r"bits_per_char=([0-9.]+)", last)
    assert m and 5.0 < float(m.group(1)) < 8.0  # about log2(96) before training


@pytest.mark.parametrize("argv", [
    ["train", "--steps", "0"],
    ["train", "--epochs", "-1"],
    ["train", "--recipe", "3bit"],
    ["train", "--dataset", "imagenet"],
    ["train", "--batch-size", "x"],
    ["train", "--recipe", "fp32", "--backend", "icarus"],
])
def test_cli_train_bad_input_exits_2_with_one_line(argv, capsys):
    try:
        code = cli_main(argv)
    except SystemExit as exc:  # argparse rejects bad choices and types itself
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]


def _class_mean(a):
    return np.abs(np.asarray(a, dtype=np.float64).mean(axis=-1)).max()


def test_centering_the_output_layer_leaves_the_softmax_unchanged():
    task = make_task("digits-mlp", 0)
    out = task.model.layers[-1]
    x = task.X_test[:50]
    from model.nn import Context
    from model.recipes import get_recipe
    before = task.model.forward(x, Context(get_recipe("fp32"), training=False))
    assert _class_mean(out.W.value) > 1e-3          # the raw initialisation is not centered
    trainer = Trainer(task.model, "fp32", seed=0)
    assert _class_mean(out.W.value) < 1e-6
    after = trainer.predict_logits(x)
    # Logits move by one shift per row, which softmax cannot see.
    shift = after - before
    assert np.allclose(shift, shift[:, :1], atol=1e-5)
    assert not np.allclose(shift, 0.0)


def test_exact_gradients_need_no_projection_but_fp4_gradients_do():
    """Unprojected, an fp32 gradient has no common component; an FP4 one has."""
    from dataclasses import replace
    from model.recipes import get_recipe
    common = {}
    for name in ("fp32", "4bit-all"):   # 4bit-all: the output layer's dL/dY is FP4
        recipe = replace(get_recipe(name), center_output=False)
        task = make_task("digits-mlp", 0)
        trainer = Trainer(task.model, recipe, seed=0)
        out = task.model.layers[-1]
        seen = []
        original = trainer.optimizer.step

        def step(original=original, out=out, seen=seen):
            seen.append(_class_mean(out.W.grad) / np.abs(out.W.grad).max())
            original()
        trainer.optimizer.step = step
        _steps(trainer, task, 3)
        common[name] = max(seen)
    assert common["fp32"] < 1e-9
    assert common["4bit-all"] > 1e-3


def test_nocenter_ablation_lets_the_common_component_grow():
    means = {}
    for recipe in ("4bit", "4bit-nocenter"):
        task = make_task("digits-mlp", 0)
        trainer = Trainer(task.model, recipe, seed=0)
        _steps(trainer, task, 10)
        means[recipe] = _class_mean(task.model.layers[-1].W.value)
    assert means["4bit"] < 1e-6
    assert means["4bit-nocenter"] > 1e-4


def test_models_not_ending_in_a_linear_layer_are_left_alone():
    from model.nn import Linear, ReLU, Sequential
    rng = np.random.default_rng(0)
    model = Sequential([Linear("fc", 4, 3, rng), ReLU("out")])
    w = model.layers[0].W.value.copy()
    Trainer(model, "fp32", seed=0)
    assert np.array_equal(model.layers[0].W.value, w)


def test_onchip_tasks_are_exactly_the_networks_the_unit_runs():
    """model.tasks.ONCHIP_TASKS (what --help promises) against check_network
    on each task's network as the on-chip recipe builds it."""
    from model.onchip import check_network
    from model.recipes import get_recipe
    from model.tasks import ONCHIP_TASKS, TASKS
    runs = set()
    for name in TASKS:
        trainer = Trainer(make_task(name, 0).model, get_recipe("4bit-onchip"), seed=0)
        try:
            check_network(trainer.model)
            runs.add(name)
        except ValueError:
            pass
    assert runs == set(ONCHIP_TASKS)


@pytest.mark.parametrize("recipe", ["4bit-onchip", "4bit-onchip-delayed", "4bit-onchip-sr"])
def test_onchip_recipe_refuses_other_tasks_before_training(capsys, recipe):
    """Issue 24: `train --help` offered digits-cnn with the on-chip recipes,
    which refused it only after the progress bar had started."""
    assert cli_main(["train", "--dataset", "digits-cnn", "--recipe", recipe,
                     "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs MLP tasks only (digits-mlp, charlm)" in err
    assert "step/s" not in err


def test_train_help_names_every_onchip_recipe_pattern(capsys):
    """--help says the on-chip recipes are ``4bit-onchip*``: every recipe with
    quantization on chip matches that name, and no other recipe does."""
    from model.recipes import RECIPES
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "the on-chip ones (4bit-onchip*) run MLP tasks only: digits-mlp, charlm" in out
    assert {n for n, r in RECIPES.items() if r.onchip} == \
        {n for n in RECIPES if n.startswith("4bit-onchip")} >= {"4bit-onchip-sr"}
