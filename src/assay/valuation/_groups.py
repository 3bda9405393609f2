"""Values of groups of rows: sum per-row values, or make the groups the players of a game."""

from __future__ import annotations

from typing import Any

import numpy as np

from assay.exceptions import InputValidationError

__all__ = ["group_values"]


def group_values(values: Any, groups: Any) -> Any:
    """Sum per-row values within each group (source, annotator, batch, class).

    Sums are the right aggregate for KNN-Shapley and other additive values: the Shapley value of
    a set of rows in the KNN game is the sum of their values. To treat whole groups as players
    of a model-retraining game instead, pass ``groups=`` to :func:`tmc_shapley`,
    :func:`banzhaf` or :func:`beta_shapley`.

    Parameters
    ----------
    values : array-like of shape (n,) or (n, T)
    groups : array-like of shape (n,)

    Returns
    -------
    pandas.DataFrame
        One row per group (sorted), columns ``value`` (or ``value_0`` ... per task), ``n_rows``
        and ``mean_value``.

    Examples
    --------
    >>> from assay.valuation import group_values
    >>> group_values([0.5, 0.25, -0.1], ["a", "a", "b"])["value"].round(2).tolist()
    [0.75, -0.1]
    """
    import pandas as pd

    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(groups)
    if v.ndim not in (1, 2) or g.ndim != 1 or v.shape[0] != g.shape[0]:
        raise InputValidationError(
            f"values (shape {v.shape}) and groups (shape {g.shape}) must have one entry per row. "
            "Pass per-row values and one group label per row, in the same order."
        )
    keys, codes = np.unique(g, return_inverse=True)
    v2 = v.reshape(v.shape[0], -1)
    sums = np.stack([np.bincount(codes, weights=v2[:, t], minlength=keys.size)
                     for t in range(v2.shape[1])], axis=1)
    counts = np.bincount(codes, minlength=keys.size)
    names = ["value"] if v.ndim == 1 else [f"value_{t}" for t in range(v2.shape[1])]
    frame = pd.DataFrame(sums, columns=names, index=pd.Index(keys, name="group"))
    frame["n_rows"] = counts
    frame["mean_value"] = sums.mean(axis=1) / counts
    return frame
