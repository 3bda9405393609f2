"""The agreement ceiling: how well a model can be expected to match these labels at best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.agreement._disagreement import _py, leave_one_out_credit
from assay.agreement._io import Ratings, as_ratings, require_pairable

BAYES_ERROR_BIAS = (
    "The Bayes-error estimate is the mean over items of 1 - (largest class share of the item's "
    "ratings). With few ratings per item it is biased low (the largest observed share "
    "overestimates the largest true share; with 2 ratings an item can only score 0 or 0.5), so "
    "the ceiling 1 - bayes_error is optimistic; the bias shrinks as ratings per item grow. It "
    "measures label noise as seen through these annotators, not the separability of the inputs."
)


@dataclass(frozen=True)
class Ceiling:
    """Agreement ceiling.

    Attributes
    ----------
    single_annotator_accuracy : float
        Mean over ratings (of items with >= 2 ratings) of whether the rating matches the majority
        of the *other* ratings of the item (ties credited fractionally): how often one annotator
        reproduces the consensus of the others.
    per_annotator : pandas.DataFrame
        ``annotator``, ``n_ratings`` (counted ratings), ``accuracy_vs_others``.
    bayes_error : float
        Mean over items with >= 2 ratings of ``1 - max_k share_k`` (soft labels).
    ceiling : float
        ``1 - bayes_error``: accuracy against a random annotator's label that no model can be
        expected to beat; model gains beyond it (or beyond ``single_annotator_accuracy`` when a
        model is scored against one annotator's labels) are not credible.
    n_items : int
        Items with two or more ratings used.
    note : str
        The known bias of the Bayes-error estimate.
    """

    single_annotator_accuracy: float
    per_annotator: pd.DataFrame
    bayes_error: float
    ceiling: float
    n_items: int
    note: str = BAYES_ERROR_BIAS


def annotator_ceiling(
    reliability_data: Any, *, categories: Sequence[Any] | None = None
) -> Ceiling:
    """Single-annotator accuracy against the others' consensus, and a Bayes-error estimate.

    Parameters
    ----------
    reliability_data : array-like of shape (coders, units)
        Ratings, ``NaN`` / ``None`` for missing.
    categories : sequence, optional

    Returns
    -------
    Ceiling

    Examples
    --------
    >>> c = annotator_ceiling([[1, 1, 2, 2], [1, 1, 2, 1], [1, 2, 2, 1]])
    >>> round(c.bayes_error, 4), round(c.single_annotator_accuracy, 4)
    (0.1667, 0.6667)
    """
    r = as_ratings(reliability_data, categories=categories)
    require_pairable(r)
    return _ceiling(r)


def _ceiling(r: Ratings) -> Ceiling:
    coder, _, credit = leave_one_out_credit(r)
    n_coders = r.codes.shape[0]
    n = np.bincount(coder, minlength=n_coders)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(coder, weights=credit, minlength=n_coders) / n
    c = r.counts
    m = c.sum(axis=1)
    keep = m >= 2
    err = 1.0 - c[keep].max(axis=1) / m[keep]
    bayes = float(err.mean())
    return Ceiling(
        single_annotator_accuracy=float(credit.mean()),
        per_annotator=pd.DataFrame(
            {
                "annotator": [_py(g) for g in r.coders],
                "n_ratings": n,
                "accuracy_vs_others": np.where(n > 0, acc, np.nan),
            }
        ),
        bayes_error=bayes,
        ceiling=1.0 - bayes,
        n_items=int(keep.sum()),
    )
