"""Named tasks: a fresh model, its data splits, its metric and default schedule.

``make_task(name, seed)`` builds the model with weights drawn from ``seed``
(the same initial weights for every recipe of that seed), so recipes differ
only in the arithmetic of training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import data
from .nn import Conv2d, Flatten, Linear, OneHot, ReLU, Sequential
from .nn_attn import AttentionBlock, TokenOneHot

__all__ = ["Task", "TASKS", "make_task", "build_model"]

CHAR_CONTEXT = 6
ATTN_DIM, ATTN_HIDDEN = 32, 64


@dataclass
class Task:
    name: str
    model: Sequential
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    metric: str                 # "accuracy" (higher is better) or "bits_per_char"
    epochs: int                 # default schedule
    batch_size: int
    lr: float
    info: dict = field(default_factory=dict)


# name -> (description, default epochs, batch size, learning rate)
TASKS = {
    "digits-mlp": ("8x8 digits, MLP 64-128-128-10", 20, 32, 0.05),
    "digits-cnn": ("8x8 digits, CNN conv3x3(8)-conv3x3/2(16)-fc(10)", 12, 32, 0.05),
    "charlm": ("next character from the 6 previous, MLP 576-256-256-96 over one-hot "
               "characters, stdlib docstrings", 2, 128, 0.1),
    "charlm-attn": ("next character from the 6 previous, one transformer block (embedding 96-32, "
                    "single-head self-attention, MLP 32-64-32, layer norms) and a head 192-96, "
                    "same corpus as charlm", 1, 64, 0.1),
}


# Tasks whose network is an MLP (optional one-hot input, then Linear layers
# joined by activations): the only networks the on-chip recipes run
# (model.onchip.check_network).  tests/test_train.py checks this against
# the networks build_model makes.
ONCHIP_TASKS = ("digits-mlp", "charlm")


def build_model(name: str, seed: int) -> Sequential:
    rng = np.random.default_rng([seed, 0])
    if name == "digits-mlp":
        return Sequential([
            Linear("fc1", 64, 128, rng), ReLU("act1"),
            Linear("fc2", 128, 128, rng), ReLU("act2"),
            Linear("fc3", 128, 10, rng)])
    if name == "digits-cnn":
        return Sequential([
            Conv2d("conv1", 1, 8, 3, rng, stride=1, pad=1), ReLU("act1"),
            Conv2d("conv2", 8, 16, 3, rng, stride=2, pad=1), ReLU("act2"),
            Flatten("flatten"),
            Linear("fc", 16 * 4 * 4, 10, rng)])
    if name == "charlm":
        v = len(data.VOCAB)
        return Sequential([
            OneHot(v, "onehot"),
            Linear("fc1", CHAR_CONTEXT * v, 256, rng), ReLU("act1"),
            Linear("fc2", 256, 256, rng), ReLU("act2"),
            Linear("fc3", 256, v, rng)])
    if name == "charlm-attn":
        v = len(data.VOCAB)
        head = Linear("head", CHAR_CONTEXT * ATTN_DIM, v, rng)
        head.dynamic_input = True       # a layer norm's output, signed
        return Sequential([
            TokenOneHot(v, "tokens"),
            Linear("embed", v, ATTN_DIM, rng),
            AttentionBlock("block", CHAR_CONTEXT, ATTN_DIM, ATTN_HIDDEN, rng),
            head])
    raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")


@lru_cache(maxsize=None)
def _digits():
    return data.load_digits_split()


@lru_cache(maxsize=None)
def _charlm():
    return data.load_charlm(context=CHAR_CONTEXT)


def make_task(name: str, seed: int = 0) -> Task:
    """A fresh model (weights from ``seed``) with its data and defaults."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    desc, epochs, batch, lr = TASKS[name]
    model = build_model(name, seed)
    if name.startswith("digits"):
        Xtr, ytr, Xte, yte = _digits()
        if name == "digits-cnn":
            Xtr, Xte = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
        return Task(name, model, Xtr, ytr, Xte, yte, "accuracy", epochs, batch, lr,
                    {"description": desc})
    Xtr, ytr, Xte, yte, digest = _charlm()
    return Task(name, model, Xtr, ytr, Xte, yte, "bits_per_char", epochs, batch, lr,
                {"description": desc, "corpus_sha256_16": digest})
