"""Turn a ``Dataset`` into one float32 feature matrix, recording how."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_choice
from assay.data._dataset import Dataset
from assay.exceptions import InputValidationError

__all__ = ["Features", "embedding_metric", "featurize", "robust_scale"]

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
    metric : {"cosine", "euclidean"}
        The distance that fits these features, used by every neighbourhood check (near
        duplicates, outliers, near leaks, k-NN label agreement).
    metric_reason : str
        Why that distance (recorded in audit.json and the report).
    """

    matrix: np.ndarray
    featurizer: str
    info: dict[str, Any] = field(default_factory=dict)
    metric: str = "cosine"
    metric_reason: str = ""


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
        emb = dataset.embeddings
        metric, reason = embedding_metric(emb)
        return Features(emb, "embeddings", {"dims": emb.shape[1]}, metric, reason)
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
        paths = [resolve_path(dataset.root, p) for p in dataset.table[roles.image].astype(str)]
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
    metric, reason = _block_metric(parts)
    if len(blocks) > 1:
        blocks, weights = _balance_blocks(blocks)
        info["block_weights"] = dict(zip(parts, weights, strict=True))
    matrix = np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)
    return Features(matrix, "+".join(parts), info, metric, reason)


#: Embeddings with at least this many dimensions are taken to be learned embeddings (cosine).
EMBEDDING_COSINE_MIN_DIMS = 32
#: Share of rows with a norm under 5 % of the median norm above which cosine is refused: such a
#: row's direction is arbitrary, so its cosine distances are noise.
_NEAR_ORIGIN_SHARE = 0.01


def embedding_metric(embeddings: Any) -> tuple[str, str]:
    """The distance that fits user embeddings, and why.

    Cosine when the rows are unit-normalised (then cosine and Euclidean rank neighbours alike)
    or when there are at least 32 dimensions: learned embeddings (sentence, image and audio
    encoders) are trained and used with cosine similarity, and their norms mostly carry
    frequency or confidence, not content. Euclidean for fewer dimensions (hand-made numeric
    vectors, projections) and whenever more than 1 % of the rows lie near the origin (norm
    under 5 % of the median norm), where a row's direction, and so its cosine distance, is
    arbitrary.

    Parameters
    ----------
    embeddings : array-like of shape (N, d)

    Returns
    -------
    metric : {"cosine", "euclidean"}
    reason : str

    Examples
    --------
    >>> import numpy as np
    >>> from assay.data import embedding_metric
    >>> embedding_metric(np.random.default_rng(0).normal(size=(100, 64)))[0]
    'cosine'
    >>> embedding_metric(np.random.default_rng(0).normal(size=(100, 3)))[0]
    'euclidean'
    """
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputValidationError(
            f"embeddings must be a non-empty 2-d array (rows x dimensions); got shape {x.shape}."
        )
    # row norms accumulated in float64 without a float64 copy of the matrix (1M x 768: 6 GB)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    median = float(np.median(norms))
    if median == 0:
        return "euclidean", "embeddings: most rows are all zeros, so they have no direction"
    near_origin = float(np.mean(norms < 0.05 * median))
    if near_origin > _NEAR_ORIGIN_SHARE:
        return "euclidean", (
            f"embeddings: {near_origin:.1%} of rows lie near the origin (norm < 5 % of the "
            "median), where the direction used by cosine distance is arbitrary")
    if np.all(np.abs(norms - 1.0) < 1e-3):
        return "cosine", ("embeddings: unit-normalised rows (cosine and Euclidean rank "
                          "neighbours alike)")
    if x.shape[1] >= EMBEDDING_COSINE_MIN_DIMS:
        return "cosine", (
            f"embeddings: {x.shape[1]} dimensions (>= {EMBEDDING_COSINE_MIN_DIMS}), taken as a "
            "learned embedding, whose encoders are trained with cosine similarity")
    return "euclidean", (
        f"embeddings: {x.shape[1]} dimensions (< {EMBEDDING_COSINE_MIN_DIMS}), taken as numeric "
        "coordinates, where the distance from the origin is part of the content")


def _block_metric(parts: list[str]) -> tuple[str, str]:
    """The distance for the featurizer's own blocks, and why."""
    if parts == ["minilm"] or parts == ["tfidf-svd"]:
        return "cosine", (f"text ({parts[0]}): unit-normalised rows; cosine is the similarity "
                          "the text representation is built for")
    if parts == ["image-pixels+hist"]:
        return "euclidean", ("image pixels (grey thumbnail in [0, 1]) and colour histograms "
                             "at their own scale: a blank, faint or noisy image differs in "
                             "magnitude, which cosine distance ignores")
    if parts == ["tabular"]:
        return "euclidean", (
            "table: robustly scaled numeric columns (median / quantile spread; columns sharing "
            "one unit keep their common scale) and one-hot categories; a standardised row has "
            "no meaningful direction, so cosine would make rows near the median arbitrary")
    return "euclidean", (
        "mixed blocks (" + ", ".join(parts) + "): Euclidean on the concatenation, each block "
        "scaled to the same total variance so that every modality weighs equally; cosine on a "
        "concatenation would let the block with the largest norm decide")


def _balance_blocks(blocks: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    """Scale each block to unit total variance (each modality weighs equally)."""
    out: list[np.ndarray] = []
    weights: list[float] = []
    for b in blocks:
        total = float(np.asarray(b, dtype=np.float64).var(axis=0).sum())
        w = 1.0 / np.sqrt(total) if total > 0 else 1.0
        out.append((np.asarray(b, dtype=np.float64) * w).astype(np.float32))
        weights.append(round(w, 6))
    return out, weights


def resolve_path(root: Path | None, value: str) -> Path:
    """An image path from the table, resolved against the data's root folder."""
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


#: Columns whose names differ only in a trailing number (``pixel_0_0`` ... ``pixel_7_7``, ``x0`` ...
#: ``x39``) form a shared-unit group when there are at least this many of them.
UNIT_GROUP_MIN_COLUMNS = 8
#: ... and when no column's spread exceeds this many times the group's median spread.
UNIT_GROUP_MAX_SPREAD_RATIO = 10.0
_STEM = re.compile(r"(?:[\s_.\-x]*\d+)+$", re.IGNORECASE)
# normal-consistent spreads: IQR / 1.349 and (q95 - q05) / 3.290 both equal the sd of a normal
_Z_IQR = 1.3490
_Z_90 = 3.2897


def robust_scale(values: Any) -> np.ndarray:
    """Per-column scale that does not inflate near-constant columns.

    The larger of two normal-consistent spreads, ``IQR / 1.349`` and ``(q95 - q05) / 3.29``
    (both equal the standard deviation of a normal column), so a column that is constant over
    its middle half but varies in its tails is scaled by its tails, and up to 5 % of far-out
    rows on each side do not shrink the column. A two-valued column, and one that is one value
    on about 90 % of the rows or more (both spreads zero), is scaled by ``(max - min) /
    sqrt(2)``: a departure from the majority then weighs like a one-hot category mismatch (a
    squared distance of 2, the expected squared difference of two rows of a unit-variance
    column). Constant columns get 0.

    Parameters
    ----------
    values : array-like of shape (N, d)
        Finite numbers.

    Returns
    -------
    ndarray of shape (d,)

    Examples
    --------
    >>> import numpy as np
    >>> from assay.data import robust_scale
    >>> x = np.column_stack([np.arange(100.0), np.r_[np.zeros(95), np.ones(5)], np.ones(100)])
    >>> np.round(robust_scale(x), 2).tolist()
    [36.69, 0.71, 0.0]
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise InputValidationError(
            f"robust_scale needs a 2-d array of finite numbers; got shape {x.shape}"
            + ("" if x.ndim != 2 else " with missing or infinite values")
            + ". Impute or drop those values first."
        )
    if x.shape[0] == 0:
        return np.zeros(x.shape[1])
    q05, q25, q75, q95 = np.quantile(x, [0.05, 0.25, 0.75, 0.95], axis=0)
    scale = np.maximum((q75 - q25) / _Z_IQR, (q95 - q05) / _Z_90)
    lo, hi = x.min(axis=0), x.max(axis=0)
    two_valued = ((x == lo) | (x == hi)).all(axis=0)
    rare = (scale <= 0) | two_valued
    scale[rare] = (hi[rare] - lo[rare]) / np.sqrt(2.0)
    return scale


def _unit_groups(frame: pd.DataFrame, numeric: list[Any]) -> list[list[Any]]:
    """Groups of numeric columns that share one unit (pixels, channels, spectra, signal steps).

    A group is >= ``UNIT_GROUP_MIN_COLUMNS`` columns whose names differ only in a trailing number
    (or integer names, as from a NumPy array) and whose spreads are comparable (no column's
    robust range over ten times the group's median). Such columns are kept at their common
    scale: standardising each would blow up near-constant ones (a border pixel that is almost
    always 0) until their noise dominates every distance.
    """
    stems: dict[str, list[Any]] = {}
    for c in numeric:
        name = str(c)
        stem = _STEM.sub("", name)
        if stem == name and not name.isdigit():
            continue
        stems.setdefault(stem.lower(), []).append(c)
    groups = []
    for cols in stems.values():
        if len(cols) < UNIT_GROUP_MIN_COLUMNS:
            continue
        x = frame[cols].to_numpy(dtype=np.float64, na_value=np.nan)
        lo, hi = np.nanquantile(x, [0.01, 0.99], axis=0)
        spread = hi - lo
        med = float(np.nanmedian(spread))
        if med > 0 and float(np.nanmax(spread)) <= UNIT_GROUP_MAX_SPREAD_RATIO * med:
            groups.append(cols)
    return groups


def _tabular_block(frame: pd.DataFrame, max_categories: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Numeric columns robustly scaled (shared-unit groups at a common scale), one-hot categories.

    Built for distances (Euclidean): centred on the median, divided by ``robust_scale``; a
    shared-unit group is divided by one scale, ``robust_scale`` of its pooled values; a one-hot
    category mismatch adds a squared distance of 2, as much as two typical rows of a scaled
    numeric column differ by.
    """
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    blocks: list[np.ndarray] = []
    groups: list[list[Any]] = []
    if numeric:
        x = frame[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        x = np.where(np.isfinite(x), x, np.nan)
        med = np.nanmedian(x, axis=0) if x.shape[0] else np.zeros(x.shape[1])
        med = np.where(np.isfinite(med), med, 0.0)
        x = np.where(np.isfinite(x), x, med)
        scale = robust_scale(x)
        position = {c: i for i, c in enumerate(numeric)}
        groups = _unit_groups(frame, numeric)
        for cols in groups:
            idx = [position[c] for c in cols]
            pooled = x[:, idx].reshape(-1, 1)
            if pooled.shape[0] > 200_000:  # a sample is plenty for three quantiles
                pick = np.random.default_rng(0).choice(pooled.shape[0], 200_000, replace=False)
                pooled = pooled[pick]
            scale[idx] = robust_scale(pooled)[0]
        keep = scale > 0
        x = (x[:, keep] - med[keep]) / scale[keep]
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
    info = {"numeric": numeric, "categorical": categorical, "onehot_columns": onehot_cols,
            "scaling": "median / robust_scale; one scale per shared-unit group",
            "unit_groups": [[str(c) for c in g[:3]] + (["..."] if len(g) > 3 else [])
                            + [f"({len(g)} columns)"] for g in groups]}
    if not blocks:
        return np.empty((frame.shape[0], 0), dtype=np.float32), info
    return np.hstack(blocks), info
