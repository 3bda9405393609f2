"""Turn a ``Dataset`` into one float32 feature matrix, recording how."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_choice
from assay.data._dataset import Dataset
from assay.exceptions import InputValidationError

__all__ = ["Features", "featurize"]

_TEXT_MODELS = ("tfidf", "minilm")


@dataclass(frozen=True)
class Features:
    """A feature matrix and its provenance.

    Attributes
    ----------
    matrix : ndarray of shape (N, d), float32
    featurizer : str
        Short description (``"embeddings"``, ``"tabular+tfidf-svd"``, ...).
    info : dict
        Per-block details (columns used, dimensions, model names).
    """

    matrix: np.ndarray
    featurizer: str
    info: dict[str, Any] = field(default_factory=dict)


def featurize(
    dataset: Dataset,
    *,
    text_model: str = "tfidf",
    text_dims: int = 128,
    max_categories: int = 20,
    image_size: int = 16,
    random_state: int = 0,
) -> Features:
    """Build float32 features for ``dataset``; user embeddings always win.

    Parameters
    ----------
    dataset : Dataset
    text_model : {"tfidf", "minilm"}, default="tfidf"
        TF-IDF (word 1-2 grams) reduced by truncated SVD, or all-MiniLM-L6-v2 sentence
        embeddings (extra ``text``, offline).
    text_dims : int, default=128
        SVD dimensions for TF-IDF text.
    max_categories : int, default=20
        One-hot columns per categorical column (the most frequent values; the rest share one).
    image_size : int, default=16
        Side of the grey thumbnail used as image pixels.
    random_state : int, default=0

    Returns
    -------
    Features

    Examples
    --------
    >>> import pandas as pd, assay
    >>> ds = assay.load(pd.DataFrame({"a": [1.0, 2.0, None], "c": ["x", "y", "x"],
    ...                               "y": [0, 1, 0]}), label="y")
    >>> featurize(ds).matrix.shape
    (3, 3)
    """
    text_model = check_choice("text_model", text_model, _TEXT_MODELS, owner="featurize")
    if dataset.embeddings is not None:
        return Features(dataset.embeddings, "embeddings", {"dims": dataset.embeddings.shape[1]})
    roles = dataset.roles
    blocks: list[np.ndarray] = []
    parts: list[str] = []
    info: dict[str, Any] = {}
    if roles.text is not None:
        texts = dataset.table[roles.text].fillna("").astype(str).tolist()
        blocks.append(_text_block(texts, text_model, text_dims, random_state))
        parts.append("minilm" if text_model == "minilm" else "tfidf-svd")
        info["text"] = {"column": roles.text, "model": text_model, "dims": blocks[-1].shape[1]}
    if roles.image is not None:
        paths = [_resolve(dataset.root, p) for p in dataset.table[roles.image].astype(str)]
        from assay.data._images import decode_images

        blocks.append(decode_images(paths, size=image_size))
        parts.append("image-pixels+hist")
        info["image"] = {"column": roles.image, "size": image_size, "dims": blocks[-1].shape[1]}
    tab_cols = [c for c in roles.features if c not in (roles.text, roles.image)]
    if tab_cols:
        block, tab_info = _tabular_block(dataset.table[tab_cols], max_categories)
        if block.shape[1]:
            blocks.append(block)
            parts.append("tabular")
            info["tabular"] = tab_info
    if not blocks:
        raise InputValidationError(
            "No features to audit: the data has no feature columns, text, images or embeddings "
            "besides the label. Pass --features, --text, --image or --embeddings."
        )
    matrix = np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)
    return Features(matrix, "+".join(parts), info)


def _resolve(root: Path | None, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() or root is None else root / p


def _text_block(texts: list[str], model: str, dims: int, random_state: int) -> np.ndarray:
    if model == "minilm":
        from assay.data._text import embed_texts

        return embed_texts(texts)
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=1, max_features=50_000, sublinear_tf=True)
    try:
        mat = tfidf.fit_transform(texts)
    except ValueError as exc:  # empty vocabulary
        raise InputValidationError(
            f"The text column has no usable words ({exc}). Check the --text column."
        ) from exc
    n_comp = int(min(dims, mat.shape[1] - 1, mat.shape[0] - 1))
    if n_comp < 1:
        return np.asarray(mat.toarray(), dtype=np.float32)
    svd = TruncatedSVD(n_components=n_comp, random_state=random_state)
    out = svd.fit_transform(mat)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (out / norms).astype(np.float32)


def _tabular_block(frame: pd.DataFrame, max_categories: int) -> tuple[np.ndarray, dict[str, Any]]:
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    blocks: list[np.ndarray] = []
    if numeric:
        x = frame[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        med = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0)
        med = np.where(np.isfinite(med), med, 0.0)
        x = np.where(np.isfinite(x), x, med)
        std = x.std(axis=0)
        keep = std > 0
        x = (x[:, keep] - x[:, keep].mean(axis=0)) / std[keep]
        blocks.append(x.astype(np.float32))
        numeric = [c for c, k in zip(numeric, keep, strict=True) if k]
    onehot_cols = 0
    for c in categorical:
        values = frame[c].astype("string").fillna("<missing>")
        top = values.value_counts().index[:max_categories]
        if len(top) < 2:
            continue
        codes = pd.Categorical(values.where(values.isin(top), "<other>"))
        dummies = np.eye(len(codes.categories), dtype=np.float32)[codes.codes]
        blocks.append(dummies)
        onehot_cols += dummies.shape[1]
    info = {"numeric": numeric, "categorical": categorical, "onehot_columns": onehot_cols}
    if not blocks:
        return np.empty((frame.shape[0], 0), dtype=np.float32), info
    return np.hstack(blocks), info
