"""Offline datasets of model.data."""

from __future__ import annotations

import numpy as np

from model import data


def test_digits_split_is_fixed_stratified_and_disjoint():
    Xtr, ytr, Xte, yte = data.load_digits_split()
    Xtr2, ytr2, Xte2, yte2 = data.load_digits_split()
    np.testing.assert_array_equal(Xtr, Xtr2)
    np.testing.assert_array_equal(yte, yte2)
    assert Xtr.shape[1] == 64 and len(Xtr) + len(Xte) == 1797
    assert 0.0 <= Xtr.min() and Xtr.max() <= 1.0
    # Every class is in both splits in about the 2:1 proportion.
    for c in range(10):
        assert abs((ytr == c).sum() - 2 * (yte == c).sum()) <= 3
    # The two splits partition the dataset: together they are every image exactly once.
    from sklearn.datasets import load_digits
    d = load_digits()
    both = np.concatenate([np.column_stack([Xtr * 16, ytr]), np.column_stack([Xte * 16, yte])])
    full = np.column_stack([d.data, d.target])
    np.testing.assert_array_equal(both[np.lexsort(both.T)], full[np.lexsort(full.T)])


def test_encode_text_maps_printable_ascii_and_replaces_the_rest():
    ids = data.encode_text("Ab \n~\té")
    assert "".join(data.VOCAB[i] for i in ids) == "Ab \n~ ?"
    assert len(data.VOCAB) == 96 and len(set(data.VOCAB)) == 96


def test_char_windows_predict_the_next_character():
    tokens = np.arange(10, dtype=np.uint8)
    X, y = data.char_windows(tokens, 3)
    np.testing.assert_array_equal(X[0], [0, 1, 2])
    np.testing.assert_array_equal(y, np.arange(3, 10))


def test_charlm_is_deterministic_and_held_out_text_is_not_trained_on():
    Xtr, ytr, Xte, yte, digest = data.load_charlm(context=6, total_chars=20_000)
    Xtr2, _, Xte2, _, digest2 = data.load_charlm(context=6, total_chars=20_000)
    assert digest == digest2
    np.testing.assert_array_equal(Xtr, Xtr2)
    np.testing.assert_array_equal(Xte, Xte2)
    assert Xtr.shape[1] == 6 and Xtr.max() < 96 and ytr.max() < 96
    assert 8 < len(Xtr) / len(Xte) < 10  # every 10th chunk held out
    # Windows are consecutive text: the next window starts one character later.
    np.testing.assert_array_equal(Xtr[1, :-1], Xtr[0, 1:])
    assert Xtr[1, -1] == ytr[0]
    # The corpus is English prose from the stdlib's docstrings: mostly letters and spaces.
    text = data.stdlib_corpus(20_000)
    letters = sum(ch.isalpha() or ch == " " for ch in text) / len(text)
    assert letters > 0.7
