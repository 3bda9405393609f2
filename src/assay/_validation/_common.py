"""Shared validation helpers. Each raises an assay exception whose message says how to fix it."""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from assay.exceptions import InputValidationError, InvalidParameterError


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def check_choice(name: str, value: Any, choices: Sequence[str], *, owner: str = "") -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise with a suggestion."""
    if value not in choices:
        raise InvalidParameterError(
            name,
            "one of " + ", ".join(repr(c) for c in choices),
            value,
            owner=owner,
            hint=did_you_mean(str(value), choices).strip(),
        )
    return str(value)


def check_int(
    name: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
    owner: str = "",
) -> int:
    """Return ``value`` as an int in ``[low, high]`` (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameterError(name, _range_text("an int", low, high), value, owner=owner)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidParameterError(name, _range_text("an int", low, high), value, owner=owner)
    return int(value)


def check_fraction(
    name: str, value: Any, *, inclusive: bool = False, owner: str = ""
) -> float:
    """Return ``value`` as a float in (0, 1), or [0, 1] when ``inclusive``."""
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = (0.0 <= v <= 1.0) if inclusive else (0.0 < v < 1.0)
    if not ok:
        rng = "[0, 1]" if inclusive else "(0, 1)"
        raise InvalidParameterError(name, f"a float in the range {rng}", value, owner=owner)
    return float(value)


def check_random_state(random_state: Any) -> np.random.Generator:
    """Turn ``None``, an int, or a Generator into a ``np.random.Generator``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, int | np.integer) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise InvalidParameterError(
        "random_state", "None, an int or a numpy.random.Generator", random_state
    )


def check_1d(name: str, values: Any) -> np.ndarray:
    """Return ``values`` as a 1-d array; raise when it has another shape."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputValidationError(
            f"{name} must be one-dimensional (one value per row). Got an array of shape "
            f"{arr.shape}. Pass a list, a pandas Series or a 1-d numpy array."
        )
    return arr


def check_same_length(**arrays: Any) -> int:
    """Raise unless every array has the same number of rows; return that number."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise InputValidationError(
            f"Inputs must have one row per sample, but their lengths differ: {shown}. "
            "Pass arrays aligned with the same rows."
        )
    return next(iter(lengths.values()), 0)


def check_labels(labels: Any, *, name: str = "labels", min_classes: int = 2) -> np.ndarray:
    """Return integer labels ``0..K-1`` as an int64 array.

    Labels must already be encoded as non-negative integers (use ``Dataset`` to encode names).
    """
    arr = check_1d(name, labels)
    if arr.size == 0:
        raise InputValidationError(f"{name} is empty. Pass at least one labelled row.")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            bad = int(np.sum(~np.isfinite(arr)))
            raise InputValidationError(
                f"{name} contains {bad} missing or non-finite value(s). "
                "Drop unlabelled rows or give them a label before auditing."
            )
        if not np.all(arr == np.round(arr)):
            raise InputValidationError(
                f"{name} must hold integer class indices 0..K-1; got non-integer floats. "
                "Encode class names with assay.load(...) or numpy.unique(..., return_inverse=True)."
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise InputValidationError(
            f"{name} must hold integer class indices 0..K-1; got dtype {arr.dtype}. "
            "Encode class names with assay.load(...) or numpy.unique(..., return_inverse=True)."
        )
    arr = arr.astype(np.int64, copy=False)
    if arr.min() < 0:
        raise InputValidationError(
            f"{name} must hold class indices >= 0; got {int(arr.min())}. "
            "Encode classes as 0..K-1."
        )
    n_classes = int(np.unique(arr).size)
    if n_classes < min_classes:
        raise InputValidationError(
            f"{name} contain {n_classes} class(es); at least {min_classes} are needed. "
            "Check that the label column is the right one and not constant."
        )
    return arr


#: Rows checked at a time (pred_probs, features): no N x K or N x d temporaries.
_ROW_BLOCK = 65_536

#: Read-only arrays that passed a full check, by kind and identity (see :func:`mark_validated`).
_VALIDATED: weakref.WeakValueDictionary[tuple[str, int], np.ndarray] = (
    weakref.WeakValueDictionary())


def mark_validated(arr: np.ndarray, kind: str) -> np.ndarray:
    """Record that the read-only ``arr`` passed :func:`check_pred_probs` (``kind``
    ``"pred_probs"``, default tolerance) or :func:`check_features` (``"features"``), so that a
    later check of the same object skips its scan of the values; returns ``arr``.

    For the audit, which validates its inputs once and hands them to functions that each check
    what they are given: at 10M rows x 100 classes every scan reads 8 GB. Only a read-only array
    is recorded (one that could be written to could change between two checks), by identity and
    for as long as it lives.
    """
    if isinstance(arr, np.ndarray) and not arr.flags.writeable:
        _VALIDATED[(kind, id(arr))] = arr
    return arr


def _validated(arr: Any, kind: str) -> bool:
    return (isinstance(arr, np.ndarray) and not arr.flags.writeable
            and _VALIDATED.get((kind, id(arr))) is arr)


def check_pred_probs(
    pred_probs: Any, *, n_rows: int | None = None, n_classes: int | None = None,
    classes: Sequence[Any] | None = None, atol: float = 1e-3, copy: bool = True,
) -> np.ndarray:
    """Validate an ``(N, K)`` matrix of predicted probabilities and return it as float64.

    With ``copy=False`` a float64 array that needs no clipping comes back as it is (for callers
    that only read it: a million rows x 100 classes is 800 MB per copy); by default the caller's
    array is never returned.
    """
    arr = np.asarray(pred_probs, dtype=np.float64)
    if arr.ndim != 2:
        raise InputValidationError(
            f"pred_probs must be a 2-d array (rows x classes); got shape {arr.shape}."
        )
    if n_rows is not None and arr.shape[0] != n_rows:
        raise InputValidationError(
            f"pred_probs has {arr.shape[0]} rows but the data has {n_rows}. "
            "Pass one row of probabilities per sample, in the same order."
        )
    if n_classes is not None and arr.shape[1] != n_classes:
        order = f" ({list(classes)[:8]}{'...' if len(classes) > 8 else ''})" if classes else ""
        raise InputValidationError(
            f"pred_probs has {arr.shape[1]} columns but labels contain {n_classes} classes. "
            f"Pass one column per class, in the order of `classes`{order}."
        )
    if not copy and atol >= 1e-3 and arr is pred_probs and _validated(arr, "pred_probs"):
        return arr
    # in row blocks: no N x K temporaries (a million rows x 100 classes is 800 MB per copy)
    low, high, worst, worst_sum, n_bad = np.inf, -np.inf, 0.0, 1.0, 0
    for start in range(0, arr.shape[0], _ROW_BLOCK):
        b = arr[start:start + _ROW_BLOCK]
        finite = np.isfinite(b).all(axis=1)
        if not finite.all():
            n_bad += int(np.count_nonzero(~finite))
            continue
        if b.size:
            low, high = min(low, float(b.min())), max(high, float(b.max()))
        gap = np.abs(b.sum(axis=1) - 1.0)
        if gap.size and float(gap.max()) > worst:
            at = int(np.argmax(gap))
            worst, worst_sum = float(gap[at]), float(b[at].sum())
    if n_bad:
        raise InputValidationError(
            f"pred_probs has NaN or infinite values in {n_bad} row(s). "
            "Pass finite probabilities (check the model's output for those rows)."
        )
    if low < -1e-9 or high > 1 + 1e-9:
        raise InputValidationError(
            f"pred_probs must lie in [0, 1]; got values from {low:.4g} to {high:.4g}. "
            "Pass probabilities, not logits (apply a softmax first)."
        )
    if worst > atol:
        raise InputValidationError(
            f"Rows of pred_probs must sum to 1 (within {atol}); the worst row sums to "
            f"{worst_sum:.4g}. Pass normalised probabilities "
            "(apply a softmax to logits, or divide each row by its sum)."
        )
    # a copy only when the values need clipping or the input is not float64 already (then
    # np.asarray above copied): the caller's array is never returned to be written into
    given = copy and isinstance(pred_probs, np.ndarray) and np.may_share_memory(arr, pred_probs)
    if low < 0.0 or high > 1.0 or given:
        return np.clip(arr, 0.0, 1.0)
    return arr


def check_class_order(
    labels: np.ndarray, pred_probs: np.ndarray, classes: Sequence[Any] | None = None
) -> None:
    """Refuse probability columns that look permuted against the class order.

    The labels agree with the argmax of the columns as given on a share of rows; the best
    permutation of the columns (an assignment on the confusion counts) on another. When the best
    permutation agrees on at least twice as many rows, and on at least half of them, the
    columns are out of order (a model's own label encoding, say), and every label check on
    them would be wrong.
    """
    n, k = pred_probs.shape
    if n < 20 or k < 2:
        return
    from scipy.optimize import linear_sum_assignment

    conf = np.zeros((k, k))
    np.add.at(conf, (labels, argmax_rows(pred_probs)), 1.0)
    rows, cols = linear_sum_assignment(-conf)
    as_given = float(np.trace(conf)) / n
    best = float(conf[rows, cols].sum()) / n
    if best >= 0.5 and best >= 2.0 * as_given:
        names = list(classes) if classes is not None else list(range(k))
        order = [names[r] for r in rows[np.argsort(cols)]]
        raise InputValidationError(
            f"pred_probs columns look out of order: the labels agree with the most probable "
            f"column on {as_given:.0%} of rows as given, but on {best:.0%} if the columns were "
            f"the classes {order[:10]}{'...' if k > 10 else ''}. Pass one column per class in "
            f"the sorted order of the class names ({names[:10]}{'...' if k > 10 else ''}), "
            "as scikit-learn's classes_ orders them."
        )


def check_features(features: Any, *, name: str = "features", n_rows: int | None = None) -> np.ndarray:
    """Validate an ``(N, d)`` finite numeric matrix and return it as C-contiguous float32."""
    try:
        arr = np.asarray(features, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            f"{name} must be a numeric (N, d) matrix; it could not be converted to float ({exc})."
        ) from exc
    if arr.ndim != 2:
        raise InputValidationError(
            f"{name} must be a 2-d array (rows x dimensions); got shape {arr.shape}. "
            "Reshape a single feature with x.reshape(-1, 1)."
        )
    if n_rows is not None and arr.shape[0] != n_rows:
        raise InputValidationError(
            f"{name} has {arr.shape[0]} rows but the data has {n_rows}. "
            "Pass one row per sample, in the same order."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputValidationError(f"{name} is empty (shape {arr.shape}).")
    if arr is features and _validated(arr, "features") and arr.flags.c_contiguous:
        return arr
    bad = count_nonfinite_rows(arr)
    if bad:
        raise InputValidationError(
            f"{name} has NaN or infinite values in {bad} row(s). Impute or drop them first."
        )
    return np.ascontiguousarray(arr)


def argmax_rows(arr: np.ndarray) -> np.ndarray:
    """Row-wise ``argmax`` of a 2-d array without copying a read-only one whole.

    numpy 2.4's ``argmax`` (and ``argmin``) copies a read-only array in full before reducing,
    so on a memory-mapped N x K matrix of probabilities it allocates N x K x 8 bytes (measured:
    77 MB for 100k x 100 float64, against 0.8 MB for a writeable one). Done in row blocks, the
    copy is one block.

    Examples
    --------
    >>> p = np.array([[0.2, 0.8], [0.6, 0.4]])
    >>> p.flags.writeable = False
    >>> argmax_rows(p).tolist()
    [1, 0]
    """
    if arr.flags.writeable or arr.shape[0] <= _ROW_BLOCK:
        return arr.argmax(axis=1)
    out = np.empty(arr.shape[0], dtype=np.intp)
    for start in range(0, arr.shape[0], _ROW_BLOCK):
        out[start:start + _ROW_BLOCK] = arr[start:start + _ROW_BLOCK].argmax(axis=1)
    return out


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float when it is a finite number; None for NaN, infinities, booleans,
    text and ``None`` (a figure read back from JSON or a summary that may be missing)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    return float(value) if np.isfinite(value) else None


def count_nonfinite_rows(arr: np.ndarray) -> int:
    """Rows of the 2-d ``arr`` holding a NaN or an infinity, counted in row blocks (no N x d
    boolean temporary)."""
    bad = 0
    for start in range(0, arr.shape[0], _ROW_BLOCK):
        bad += int(np.count_nonzero(~np.isfinite(arr[start:start + _ROW_BLOCK]).all(axis=1)))
    return bad


def check_counts(counts: Any, *, name: str = "train_counts") -> np.ndarray:
    """Validate per-class counts (finite, non-negative, not all zero) and return them as float64.

    Parameters
    ----------
    counts : array-like of shape (n_classes,)
        The number of (training) samples of each class, e.g. ``numpy.bincount(labels)``.
    name : str, default "train_counts"
        The argument's name in error messages.

    Returns
    -------
    numpy.ndarray of shape (n_classes,)
        The counts as float64.

    Raises
    ------
    InputValidationError
        When ``counts`` is not 1-d, is empty, is not numeric, has a negative or non-finite
        entry, or sums to 0.

    Examples
    --------
    >>> check_counts([3, 0, 1]).tolist()
    [3.0, 0.0, 1.0]
    """
    arr = check_1d(name, counts)
    if arr.size == 0:
        raise InputValidationError(f"{name} is empty. Pass one count per class.")
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            f"{name} must hold numeric counts, one per class; got dtype {arr.dtype}."
        ) from exc
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InputValidationError(
            f"{name} must hold finite, non-negative counts; got min {np.nanmin(arr):.4g}. "
            "Pass the number of training samples of each class (e.g. numpy.bincount(labels))."
        )
    if arr.sum() <= 0:
        raise InputValidationError(
            f"{name} sums to 0: no class has a training sample. Pass the training counts."
        )
    return arr


def check_predictions(predictions: Any, *, n_rows: int) -> np.ndarray:
    """Validate predictions given as class indices or probabilities; return the class indices.

    Parameters
    ----------
    predictions : array-like of shape (n_rows,) or (n_rows, n_classes)
        Predicted class indices ``0..K-1``, or predicted probabilities (one row per sample,
        one column per class), whose most probable column is the prediction.
    n_rows : int
        The number of rows ``predictions`` must have (that of the labels).

    Returns
    -------
    numpy.ndarray of shape (n_rows,)
        int64 predicted class index per row.

    Raises
    ------
    InputValidationError
        When the probabilities or the class indices are invalid (see :func:`check_pred_probs`
        and :func:`check_labels`) or their number of rows is not ``n_rows``.

    Examples
    --------
    >>> check_predictions([[0.9, 0.1], [0.2, 0.8]], n_rows=2).tolist()
    [0, 1]
    >>> check_predictions([2, 0, 1], n_rows=3).tolist()
    [2, 0, 1]
    """
    arr = np.asarray(predictions)
    if arr.ndim == 2:
        return argmax_rows(check_pred_probs(arr, n_rows=n_rows, copy=False)).astype(np.int64)
    pred = check_labels(arr, name="predictions", min_classes=1)
    check_same_length(labels=np.empty(n_rows), predictions=pred)
    return pred


def _range_text(kind: str, low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{kind} in the range [{low}, {high}]"
    if low is not None:
        return f"{kind} >= {low}"
    if high is not None:
        return f"{kind} <= {high}"
    return kind
