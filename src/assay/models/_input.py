"""What the audit's classifier reads: the raw table for tables, the feature vectors otherwise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ModelInput", "model_input", "MAX_CATEGORIES"]

#: Categories kept per categorical column (the most frequent; the rest share one code).
#: HistGradientBoosting's native categorical support takes at most 255 bins, one for missing.
MAX_CATEGORIES = 250


@dataclass(frozen=True)
class ModelInput:
    """A matrix for a classifier and how to read it.

    Attributes
    ----------
    matrix : ndarray of shape (N, d), float64
        For tables: numeric columns as they are (NaN for missing) and categorical columns as
        integer codes (NaN for missing). For vectors: the feature matrix.
    categorical : ndarray of shape (d,), bool
        Which columns hold category codes.
    kind : {"table", "vectors"}
    columns : list of str
        Column names (tables) or ``["dim_0", ...]``.
    info : dict
        How the matrix was built (recorded in the audit summary).
    """

    matrix: np.ndarray
    categorical: np.ndarray
    kind: str
    columns: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """Number of columns."""
        return int(self.matrix.shape[1])


def model_input(
    dataset: Any, vectors: np.ndarray | Callable[[], np.ndarray] | None = None
) -> ModelInput:
    """The classifier's input for ``dataset``: its raw table columns when it is a plain table.

    A table (feature columns only: no text, image or embeddings) is given to the model as it is,
    numbers with their missing values and categories as codes, so that a gradient-boosted model
    with native categorical and missing-value support sees what the user sees. Anything else
    (text, images, embeddings, or a mix), or a table with no column the model can read as it is
    (free text not declared as text, say), is read through ``vectors``, the featurizer's matrix.
    Nothing here looks at the labels: category codes are by frequency over all rows.

    Parameters
    ----------
    dataset : Dataset
    vectors : ndarray of shape (N, d), or a callable returning it, optional
        The featurizer's matrix; called only when the table cannot be read as it is.

    Returns
    -------
    ModelInput

    Examples
    --------
    >>> import pandas as pd, assay
    >>> from assay.models import model_input
    >>> ds = assay.load(pd.DataFrame({"a": [1.0, None, 3.0], "c": ["x", "y", "x"],
    ...                               "y": [0, 1, 0]}), label="y")
    >>> mi = model_input(ds)
    >>> mi.kind, mi.categorical.tolist(), mi.matrix[:, 1].tolist()
    ('table', [False, True], [0.0, 1.0, 0.0])
    """
    roles = dataset.roles
    tab_cols = [c for c in roles.features if c not in (roles.text, roles.image)]
    plain_table = (dataset.embeddings is None and roles.text is None and roles.image is None
                   and bool(tab_cols))
    if not plain_table:
        return _vectors_input(vectors)
    blocks: list[np.ndarray] = []
    cat_mask: list[bool] = []
    names: list[str] = []
    dropped: list[str] = []
    for c in tab_cols:
        col = dataset.table[c]
        if pd.api.types.is_bool_dtype(col):
            blocks.append(col.astype("float64").to_numpy(na_value=np.nan))
            cat_mask.append(False)
        elif pd.api.types.is_numeric_dtype(col):
            v = np.array(col.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
            v[~np.isfinite(v)] = np.nan
            if np.all(np.isnan(v)):
                dropped.append(str(c))
                continue
            blocks.append(v)
            cat_mask.append(False)
        else:
            codes = _category_codes(col)
            if codes is None:
                dropped.append(str(c))
                continue
            blocks.append(codes)
            cat_mask.append(True)
        names.append(str(c))
    if not blocks:
        return _vectors_input(vectors)
    matrix = np.column_stack(blocks)
    info = {"source": "table", "numeric": [n for n, m in zip(names, cat_mask, strict=True) if not m],
            "categorical": [n for n, m in zip(names, cat_mask, strict=True) if m],
            "dropped": dropped}
    return ModelInput(matrix, np.array(cat_mask, dtype=bool), "table", names, info)


def _vectors_input(vectors: np.ndarray | Callable[[], np.ndarray] | None) -> ModelInput:
    if vectors is None:
        raise ValueError("model_input needs the feature vectors: the data is not a table the "
                         "model can read as it is")
    x = np.asarray(vectors() if callable(vectors) else vectors, dtype=np.float64)
    return ModelInput(x, np.zeros(x.shape[1], dtype=bool), "vectors",
                      [f"dim_{i}" for i in range(x.shape[1])], {"source": "features"})


def _category_codes(col: pd.Series) -> np.ndarray | None:
    """Codes 0.. by descending frequency (rare values past MAX_CATEGORIES share the last code);
    NaN for missing. None when the column has a single value or is unique per row (an id)."""
    values = col.astype("string")
    counts = values.value_counts(dropna=True)
    n_distinct = len(counts)
    if n_distinct < 2:
        return None
    if n_distinct > 0.9 * len(col) and n_distinct > 50:
        return None  # an identifier or free text: no signal a model should learn from codes
    rank = pd.Series(np.minimum(np.arange(n_distinct), MAX_CATEGORIES - 1), index=counts.index)
    codes = values.map(rank).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return codes
