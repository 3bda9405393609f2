"""Where annotators disagree: per-class agreement, confused class pairs, pairwise kappa.

All functions take a ``(coders, units)`` reliability matrix (``NaN`` / ``None`` for missing) and
read the same coincidence matrix of pairable values (Krippendorff): ``o[c, k]`` counts, over units
with two or more ratings, the ordered pairs of ratings (one ``c``, one ``k``) weighted by
``1 / (m_u - 1)``, so that each rating contributes one pairable value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from assay._kernels import agreement as K
from assay._validation import check_int
from assay.agreement._io import Ratings, as_ratings, require_pairable
from assay.exceptions import InputValidationError


def _ratings(reliability_data: Any, categories: Sequence[Any] | None) -> Ratings:
    r = as_ratings(reliability_data, categories=categories)
    require_pairable(r)
    return r


def _labels(r: Ratings) -> list[Any]:
    return [_py(v) for v in r.categories]


def _py(v: Any) -> Any:
    """Plain Python scalar (whole floats become ints) for frames and JSON."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def coincidence_matrix(
    reliability_data: Any, *, categories: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Krippendorff's coincidence matrix between categories, as a labelled DataFrame.

    The diagonal holds agreeing pairable values, the off-diagonal cells the disagreements; the
    matrix is symmetric and its row sums are the number of pairable values per category.

    Examples
    --------
    >>> coincidence_matrix([["a", "a", "b"], ["a", "b", "b"]]).to_numpy().tolist()
    [[2.0, 1.0], [1.0, 2.0]]
    """
    r = _ratings(reliability_data, categories)
    labels = _labels(r)
    return pd.DataFrame(K.coincidence(r.counts), index=labels, columns=labels)


def per_class_agreement(
    reliability_data: Any, *, categories: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Agreement of each class: class-vs-rest alpha, Fleiss' per-category kappa, specific agreement.

    Returns
    -------
    pandas.DataFrame
        One row per class: ``class``, ``n_pairable`` (pairable values in the class),
        ``share`` (of all pairable values), ``specific_agreement`` (``o_cc / n_c``: the chance
        that another rating of the same unit is also this class), ``alpha`` (Krippendorff's
        nominal alpha of this class against all others) and ``fleiss_kappa`` (Fleiss' per-category
        kappa). Both coefficients are ``nan`` for a class with no pairable values. Sorted by
        ``alpha`` ascending: the worst class first.

    Examples
    --------
    >>> t = per_class_agreement([[1, 1, 2, 3, 3], [1, 1, 3, 3, 2]])
    >>> t["class"].tolist()
    [2, 3, 1]
    """
    r = _ratings(reliability_data, categories)
    o = K.coincidence(r.counts)
    alpha, kappa = K.per_class_from_coincidence(o)
    n_c = o.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        specific = np.where(n_c > 0, np.diag(o) / np.where(n_c > 0, n_c, 1.0), np.nan)
    frame = pd.DataFrame(
        {
            "class": _labels(r),
            "n_pairable": n_c,
            "share": n_c / n_c.sum(),
            "specific_agreement": specific,
            "alpha": alpha,
            "fleiss_kappa": kappa,
        }
    )
    return frame.sort_values("alpha", kind="stable", na_position="last").reset_index(drop=True)


def _example_items(
    r: Ratings, a: int, b: int, n_examples: int
) -> list[Any]:
    c = r.counts
    m = c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(m >= 2, c[:, a] * c[:, b] / np.maximum(m - 1.0, 1.0), 0.0)
    hit = np.flatnonzero(score > 0)
    if hit.size > n_examples:
        top = hit[np.argpartition(-score[hit], n_examples - 1)[:n_examples]]
    else:
        top = hit
    top = top[np.lexsort((top, -score[top]))]
    return [_py(r.units[i]) for i in top]


def confused_pairs(
    reliability_data: Any,
    *,
    top: int = 10,
    n_examples: int = 5,
    categories: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """The most confused class pairs, with example items: the guideline revision list.

    Pairs are ranked by their number of disagreeing pairable values ``o[a, b]`` (the volume of
    disagreement a clearer rule between the two classes would remove).

    Parameters
    ----------
    reliability_data : array-like of shape (coders, units)
    top : int, default 10
        Number of pairs returned (pairs with no disagreement are never listed).
    n_examples : int, default 5
        Example items per pair: the units where the two classes collide most
        (largest ``n_ua * n_ub / (m_u - 1)``).
    categories : sequence, optional

    Returns
    -------
    pandas.DataFrame
        ``rank``, ``class_a``, ``class_b``, ``disagreements`` (``o[a, b]``),
        ``share_of_disagreement`` (of all off-diagonal coincidences), ``expected`` (under chance,
        ``n_a n_b / (n - 1)``), ``observed_over_expected`` and ``example_items``.

    Examples
    --------
    >>> data = [["cat", "dog", "dog", "fox"], ["dog", "dog", "cat", "fox"]]
    >>> confused_pairs(data)[["class_a", "class_b"]].values.tolist()
    [['cat', 'dog']]
    """
    top = check_int("top", top, low=1, owner="confused_pairs")
    n_examples = check_int("n_examples", n_examples, low=0, owner="confused_pairs")
    r = _ratings(reliability_data, categories)
    return _confused_pairs(r, top=top, n_examples=n_examples)


def _confused_pairs(r: Ratings, *, top: int, n_examples: int) -> pd.DataFrame:
    o = K.coincidence(r.counts)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    a_idx, b_idx = np.triu_indices(r.n_categories, k=1)
    dis = o[a_idx, b_idx]
    total = dis.sum()
    keep = dis > 1e-12
    a_idx, b_idx, dis = a_idx[keep], b_idx[keep], dis[keep]
    order = np.lexsort((b_idx, a_idx, -dis))[:top]
    labels = _labels(r)
    rows = []
    for rank, j in enumerate(order, start=1):
        a, b = int(a_idx[j]), int(b_idx[j])
        expected = n_c[a] * n_c[b] / (n - 1.0) if n > 1 else np.nan
        rows.append(
            {
                "rank": rank,
                "class_a": labels[a],
                "class_b": labels[b],
                "disagreements": float(dis[j]),
                "share_of_disagreement": float(dis[j] / total) if total > 0 else np.nan,
                "expected": float(expected),
                "observed_over_expected": float(dis[j] / expected) if expected > 0 else np.nan,
                "example_items": _example_items(r, a, b, n_examples),
            }
        )
    cols = [
        "rank", "class_a", "class_b", "disagreements", "share_of_disagreement", "expected",
        "observed_over_expected", "example_items",
    ]
    return pd.DataFrame(rows, columns=cols)


def items_to_discuss(
    reliability_data: Any, *, top: int = 20, categories: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Items with the most disagreement, worst first: the items to bring to a guideline meeting.

    Returns
    -------
    pandas.DataFrame
        ``item``, ``n_ratings``, ``agreement`` (share of agreeing rating pairs in the item),
        ``majority`` (most frequent label, ties to the first in scale order), ``majority_share``
        and ``labels`` (``{label: count}``). Only items with two or more ratings and at least one
        disagreement; sorted by ``agreement`` ascending, then by more ratings first.

    Examples
    --------
    >>> items_to_discuss([[1, 1, 2], [1, 2, 3], [1, 1, 3]])["item"].tolist()
    [1, 2]
    """
    top = check_int("top", top, low=1, owner="items_to_discuss")
    r = _ratings(reliability_data, categories)
    return _items_to_discuss(r, top=top)


def unit_agreement(counts: np.ndarray) -> np.ndarray:
    """Per-unit share of agreeing rating pairs; ``nan`` for units with fewer than two ratings."""
    m = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            m >= 2, (counts * (counts - 1.0)).sum(axis=1) / np.maximum(m * (m - 1.0), 1.0), np.nan
        )


def _items_to_discuss(r: Ratings, *, top: int) -> pd.DataFrame:
    c = r.counts
    m = c.sum(axis=1)
    agree = unit_agreement(c)
    cand = np.flatnonzero((m >= 2) & (agree < 1.0))
    order = cand[np.lexsort((cand, -m[cand], agree[cand]))][:top]
    labels = _labels(r)
    maj = c[order].argmax(axis=1)
    rows = []
    for i, k in zip(order, maj, strict=True):
        nz = np.flatnonzero(c[i])
        rows.append(
            {
                "item": _py(r.units[i]),
                "n_ratings": int(m[i]),
                "agreement": float(agree[i]),
                "majority": labels[k],
                "majority_share": float(c[i, k] / m[i]),
                "labels": {str(labels[j]): int(c[i, j]) for j in nz},
            }
        )
    cols = ["item", "n_ratings", "agreement", "majority", "majority_share", "labels"]
    return pd.DataFrame(rows, columns=cols)


def pairwise_kappa(
    reliability_data: Any,
    *,
    weights: str | None = None,
    categories: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Cohen's kappa and raw agreement for every pair of coders, on the units both rated.

    Returns
    -------
    pandas.DataFrame
        ``coder_a``, ``coder_b``, ``n_common`` (units both rated), ``agreement`` and ``kappa``
        (``nan`` when the pair shares no unit or kappa is undefined). Sorted by kappa ascending.

    Examples
    --------
    >>> pairwise_kappa([[1, 2, 1, 2], [1, 2, 2, 2], [1, 2, 1, 2]])["kappa"].round(3).tolist()
    [0.5, 0.5, 1.0]
    """
    from assay.agreement._coefficients import _check_weights

    wt = _check_weights(weights, owner="pairwise_kappa")
    r = _ratings(reliability_data, categories)
    if len(r.coders) < 2:
        raise InputValidationError(
            f"pairwise_kappa needs at least two coders with ratings; got {len(r.coders)}."
        )
    return _pairwise_kappa(r, weights=wt)


def _pairwise_kappa(r: Ratings, *, weights: str | None = None) -> pd.DataFrame:
    wm = K.agreement_weights(weights, r.n_categories)
    rows = []
    n_coders = r.codes.shape[0]
    for g in range(n_coders):
        for h in range(g + 1, n_coders):
            table = K.pair_table(r.codes[g], r.codes[h], r.n_categories)
            n = table.sum()
            rows.append(
                {
                    "coder_a": _py(r.coders[g]),
                    "coder_b": _py(r.coders[h]),
                    "n_common": int(n),
                    "agreement": float(np.trace(table) / n) if n > 0 else np.nan,
                    "kappa": K.kappa_from_table(table, wm),
                }
            )
    frame = pd.DataFrame(rows, columns=["coder_a", "coder_b", "n_common", "agreement", "kappa"])
    return frame.sort_values("kappa", kind="stable", na_position="last").reset_index(drop=True)


def leave_one_out_credit(r: Ratings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per rating: credit for matching the majority of the *other* ratings of its unit.

    Returns ``(coder, unit, credit)`` for every rating whose unit has >= 2 ratings. A tie among
    the others' top classes gives fractional credit ``1 / n_tied`` when the rating is one of them
    (the expected accuracy under a random tie break). Cached on ``r``.
    """
    cached = r.__dict__.get("_loo_credit")
    if cached is not None:
        return cached
    coder, unit = np.nonzero(r.codes >= 0)
    label = r.codes[coder, unit]
    c = r.counts
    keep = c[unit].sum(axis=1) >= 2
    coder, unit, label = coder[keep], unit[keep], label[keep]
    others = c[unit].copy()
    others[np.arange(unit.size), label] -= 1.0
    best = others.max(axis=1, keepdims=True)
    tied = others == best
    credit = tied[np.arange(unit.size), label] / tied.sum(axis=1)
    out = (coder, unit, credit.astype(np.float64))
    r.__dict__["_loo_credit"] = out
    return out


def annotator_agreement(
    reliability_data: Any,
    *,
    consensus: Any = None,
    categories: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Each coder's agreement with the others and (optionally) with a consensus label.

    Parameters
    ----------
    reliability_data : array-like of shape (coders, units)
    consensus : array-like of shape (units,), optional
        A consensus label per unit (e.g. from :func:`assay.consensus.dawid_skene`), ``NaN`` /
        ``None`` where there is none.
    categories : sequence, optional

    Returns
    -------
    pandas.DataFrame
        ``coder``, ``n_ratings``, ``accuracy_vs_others`` (share of the coder's ratings that match
        the majority of the other ratings of the same unit, ties credited fractionally) and, with
        ``consensus``, ``accuracy_vs_consensus`` and ``kappa_vs_consensus``.

    Examples
    --------
    >>> annotator_agreement([[1, 2, 1], [1, 2, 2], [1, 2, 1]])["accuracy_vs_others"].tolist()
    [0.8333333333333334, 0.6666666666666666, 0.8333333333333334]
    """
    r = _ratings(reliability_data, categories)
    cons = None
    if consensus is not None:
        from assay._annotations import encode_values

        arr = np.asarray(consensus, dtype=object)
        if arr.ndim != 1 or arr.shape[0] != r.n_input_units:
            raise InputValidationError(
                f"consensus must have one label per unit of reliability_data "
                f"({r.n_input_units}); got shape {arr.shape}. Align it with the columns."
            )
        cons, _, _ = encode_values(
            arr, name="consensus", categories=list(r.categories)
        )
        cons = cons[r.unit_index]
    return _annotator_agreement(r, cons)


def _annotator_agreement(r: Ratings, cons: np.ndarray | None) -> pd.DataFrame:
    n_coders = r.codes.shape[0]
    coder, _, credit = leave_one_out_credit(r)
    n_loo = np.bincount(coder, minlength=n_coders)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(coder, weights=credit, minlength=n_coders) / n_loo
    frame = pd.DataFrame(
        {
            "coder": [_py(c) for c in r.coders],
            "n_ratings": (r.codes >= 0).sum(axis=1),
            "accuracy_vs_others": np.where(n_loo > 0, acc, np.nan),
        }
    )
    if cons is not None:
        accs, kappas = [], []
        for g in range(n_coders):
            table = K.pair_table(r.codes[g], cons, r.n_categories)
            n = table.sum()
            accs.append(float(np.trace(table) / n) if n > 0 else np.nan)
            kappas.append(K.kappa_from_table(table, np.eye(r.n_categories)))
        frame["accuracy_vs_consensus"] = accs
        frame["kappa_vs_consensus"] = kappas
    return frame
