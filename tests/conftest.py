"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

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


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright, offline (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium "
                    "(apt-get install chromium); browser tests need it")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
