"""The ambiguous-pairs headline takes its count and its rate from the same pair (issue 14)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import assay


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    """Big pair a/b with many confused rows but a low share; small pair c/d with a high share."""
    rng = np.random.default_rng(0)
    sizes = {"a": 200, "b": 200, "c": 10, "d": 10}
    names = list(sizes)
    y = np.repeat(names, list(sizes.values()))
    k = len(names)
    p = np.full((len(y), k), 0.02)
    idx = np.array([names.index(v) for v in y])
    p[np.arange(len(y)), idx] = 0.94
    # swap confidence for a few rows of each pair: 12 of a/b's 400 rows, 4 of c/d's 20 rows
    partner = {"a": "b", "b": "a", "c": "d", "d": "c"}
    for cls, n_swap in (("a", 6), ("b", 6), ("c", 2), ("d", 2)):
        rows = np.flatnonzero(y == cls)[:n_swap]
        p[rows] = 0.02
        p[rows, names.index(partner[cls])] = 0.94
    frame = pd.DataFrame({"x": rng.normal(size=len(y)), "y": y})
    return frame, p


def _reference_pairs(frame: pd.DataFrame, p: np.ndarray) -> dict[tuple[str, str], tuple[int, float]]:
    """(name_a, name_b) -> (confused rows, share of the pair's rows), from cleanlab's joint."""
    count = pytest.importorskip("cleanlab.count")
    names = sorted(frame["y"].unique())
    y = np.array([names.index(v) for v in frame["y"]])
    cj = count.compute_confident_joint(y, p, calibrate=True)
    n = np.bincount(y, minlength=len(names))
    out = {}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            c = int(cj[i, j] + cj[j, i])
            if c:
                out[(names[i], names[j])] = (c, c / (n[i] + n[j]))
    return out


def test_headline_count_and_rate_come_from_the_same_pair():
    frame, p = _data()
    ref = _reference_pairs(frame, p)
    by_count = max(ref, key=lambda key: ref[key][0])
    by_rate = max(ref, key=lambda key: ref[key][1])
    assert by_count == ("a", "b") and by_rate == ("c", "d")  # the case this test is about

    res = assay.audit(frame, label="y", pred_probs=p, checks=["ambiguous_pairs"])
    check = res.checks["ambiguous_pairs"]
    found = re.findall(r"(\w+) / (\w+) \((\d+) rows, ([\d.]+)% of the pair's rows\)",
                       check.message)
    assert found, check.message
    for a, b, n_rows, pct in found:
        n_ref, rate_ref = ref[(a, b)]
        assert int(n_rows) == n_ref, check.message
        assert float(pct) == pytest.approx(100 * rate_ref, abs=0.05), check.message
    # the headline's first pair is the one the status is judged on (the highest share)
    assert (found[0][0], found[0][1]) == by_rate
    assert check.summary["worst_rate"] == pytest.approx(ref[by_rate][1])
    assert check.status == "warn"
    # and the pair with the most confused rows is named too, with its own numbers
    assert (found[1][0], found[1][1]) == by_count


def test_headline_single_pair_when_count_and_rate_agree():
    frame, p = _data()
    keep = frame["y"].isin(["a", "b"]).to_numpy()
    sub = frame[keep].reset_index(drop=True)
    q = p[keep][:, :2] / p[keep][:, :2].sum(axis=1, keepdims=True)
    res = assay.audit(sub, label="y", pred_probs=q, checks=["ambiguous_pairs"])
    msg = res.checks["ambiguous_pairs"].message
    assert msg.startswith("Highest confused share: a / b (") and "Most confused rows" not in msg
