"""Shared fixtures."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def digits_noisy():
    """Digits with 10 % uniform flips and out-of-fold probabilities (computed once)."""
    from sklearn.datasets import load_digits

    from assay.models import cross_val_pred_probs

    x, y = load_digits(return_X_y=True)
    r = np.random.default_rng(0)
    flip = r.random(len(y)) < 0.1
    noisy = y.copy()
    noisy[flip] = (y[flip] + r.integers(1, 10, flip.sum())) % 10
    probs = cross_val_pred_probs(x, noisy, random_state=0)
    return x, y, noisy, flip, probs
