"""Offline datasets: scikit-learn's digits and a character corpus from the stdlib.

Both are deterministic: the digits split is fixed (independent of the run's
seed, so seeds vary only initialization and batch order), and the text
corpus is the docstrings of a fixed list of standard-library modules of the
running interpreter, cut to a fixed length and mapped onto a fixed
96-character vocabulary.  The corpus therefore depends on the Python
version; ``corpus_digest`` identifies it in reports.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util

import numpy as np

__all__ = ["load_digits_split", "VOCAB", "encode_text", "stdlib_corpus", "corpus_digest",
           "char_windows", "load_charlm"]


def load_digits_split(test_fraction: float = 1 / 3, split_seed: int = 0):
    """8x8 digits scaled to [0, 1]: ``(X_train, y_train, X_test, y_test)``.

    X is (N, 64) float64; a stratified split fixed by ``split_seed``.
    """
    from sklearn.datasets import load_digits
    d = load_digits()
    X = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(split_seed)
    test = np.zeros(len(y), dtype=bool)
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        test[idx[:int(round(len(idx) * test_fraction))]] = True
    return X[~test], y[~test], X[test], y[test]


# --------------------------------------------------------------------------
# Character corpus

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))  # 96 symbols
_INDEX = {ch: i for i, ch in enumerate(VOCAB)}
_UNKNOWN = _INDEX["?"]

# Modules with plenty of English prose in their docstrings.
CORPUS_MODULES = (
    "argparse", "textwrap", "difflib", "string", "collections", "functools",
    "itertools", "heapq", "bisect", "fractions", "decimal", "statistics", "random",
    "calendar", "datetime", "json", "csv", "configparser", "logging", "shutil",
    "subprocess", "threading", "queue", "socket", "email.message", "http.client",
    "urllib.parse", "pathlib", "tempfile", "inspect", "dataclasses", "enum",
    "typing", "contextlib", "pickle", "tarfile", "zipfile", "gettext", "locale",
    "pprint", "unittest.case", "doctest", "pydoc", "tokenize", "ast", "codecs",
)


def encode_text(text: str) -> np.ndarray:
    """Token ids (uint8) over ``VOCAB``; tabs become spaces, others become '?'."""
    text = text.replace("\t", " ")
    return np.fromiter((_INDEX.get(ch, _UNKNOWN) for ch in text), dtype=np.uint8,
                       count=len(text))


def _docstrings(source: str) -> list[str]:
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                out.append(doc)
    return out


def stdlib_corpus(max_chars: int = 80_000) -> str:
    """Docstrings of ``CORPUS_MODULES`` (in that order), joined, cut to ``max_chars``."""
    parts = []
    total = 0
    for mod in CORPUS_MODULES:
        spec = importlib.util.find_spec(mod)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        with open(spec.origin, encoding="utf-8") as fh:
            docs = _docstrings(fh.read())
        for doc in docs:
            parts.append(doc + "\n\n")
            total += len(parts[-1])
        if total >= max_chars:
            break
    text = "".join(parts)[:max_chars]
    if len(text) < max_chars // 2:
        raise RuntimeError(f"standard-library corpus too small ({len(text)} chars)")
    return text


def corpus_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def char_windows(tokens: np.ndarray, context: int):
    """Inputs (N, context) of preceding tokens and targets (N,) of the next one."""
    tokens = np.asarray(tokens)
    win = np.lib.stride_tricks.sliding_window_view(tokens, context + 1)
    return np.ascontiguousarray(win[:, :context]).astype(np.int64), win[:, context].astype(np.int64)


def load_charlm(context: int = 6, total_chars: int = 80_000, chunk: int = 500,
                test_every: int = 10):
    """Next-character prediction: ``(X_train, y_train, X_test, y_test, digest)``.

    The first ``total_chars`` characters of the corpus are cut into chunks of
    ``chunk`` characters; every ``test_every``-th chunk is held out for test
    (so test text comes from the same modules as training text, but is never
    trained on), the rest train.  Windows never straddle two chunks.
    """
    text = stdlib_corpus(total_chars)
    tokens = encode_text(text)
    parts = {True: ([], []), False: ([], [])}
    for i, start in enumerate(range(0, len(tokens) - context, chunk)):
        X, y = char_windows(tokens[start:start + chunk], context)
        held_out = i % test_every == test_every - 1
        parts[held_out][0].append(X)
        parts[held_out][1].append(y)
    (X_tr, y_tr), (X_te, y_te) = [(np.concatenate(parts[k][0]), np.concatenate(parts[k][1]))
                                  for k in (False, True)]
    return X_tr, y_tr, X_te, y_te, corpus_digest(text)
