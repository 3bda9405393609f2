"""A multi-stage curation funnel: rank rows by quality, cut stage quotas, hand queues to people.

The Emu recipe (Dai et al. 2023) filters automatically to about 200k candidates, has generalist
annotators keep about 20k, and experts keep about 2k. :func:`curation_funnel` does the ranking
and the cuts from the audit's per-row signals; what people then keep from each queue is theirs
to decide, so later stages are provisional (the best-ranked rows of the stage before).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_1d, check_int
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["CurationFunnel", "audit_funnel", "audit_scores", "balanced_quota", "curation_funnel",
           "keep_one_per_copy", "quality_rank", "set_representatives"]

_OWNER = "curation_funnel"
DEFAULT_STAGES = ("automatic", "amateur", "expert")
#: The audit's per-row columns :func:`audit_funnel` ranks by, and the signal each feeds.
AUDIT_SIGNALS: dict[str, str] = {"label_score": "label_quality", "outlier_score": "outlier_score",
                                 "data_value": "value"}


def _signal(name: str, values: Any, n: int | None) -> np.ndarray | None:
    if values is None:
        return None
    arr = check_1d(name, values)
    if n is not None and arr.size != n:
        raise InputValidationError(
            f"{name} has {arr.size} rows but the other signals have {n}. Pass one value per row."
        )
    if arr.dtype == bool:
        return arr
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"{name} must be numeric ({exc}).") from exc
    if not np.all(np.isfinite(arr)):
        raise InputValidationError(
            f"{name} has {int(np.sum(~np.isfinite(arr)))} missing or infinite value(s). Fill "
            "them (e.g. with the median) before ranking."
        )
    return arr


def _percentile(x: np.ndarray) -> np.ndarray:
    """Average-rank percentile in [0, 1] (ties share their mean rank)."""
    if x.size == 1:
        return np.ones(1)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(x.size)
    ranks[order] = np.arange(x.size)
    uniq, inv = np.unique(x, return_inverse=True)
    mean_rank = np.bincount(inv, weights=ranks) / np.bincount(inv)
    return mean_rank[inv] / (x.size - 1)


def quality_rank(
    *,
    label_quality: Any = None,
    outlier_score: Any = None,
    value: Any = None,
    weights: dict[str, float] | None = None,
) -> np.ndarray:
    """Combine per-row quality signals into one score in [0, 1] (higher is better).

    Each given signal is turned into its percentile rank (so scales do not matter) and the
    percentiles are averaged with ``weights`` (default equal).

    Parameters
    ----------
    label_quality : array-like of shape (N,), optional
        Label quality in [0, 1], low = likely wrong (``assay.labels.label_quality_scores``).
    outlier_score : array-like of shape (N,), optional
        In [0, 1], low = more outlying (the audit's ``outlier_score``).
    value : array-like of shape (N,), optional
        Data value, higher = more useful (``assay.valuation``).
    weights : dict, optional
        Weight per signal name (``"label_quality"``, ``"outlier_score"``, ``"value"``).

    Returns
    -------
    ndarray of shape (N,)

    Examples
    --------
    >>> from assay.curate import quality_rank
    >>> quality_rank(label_quality=[0.9, 0.1, 0.5], value=[3.0, 1.0, 2.0]).tolist()
    [1.0, 0.0, 0.5]
    """
    given = {"label_quality": label_quality, "outlier_score": outlier_score, "value": value}
    n: int | None = None
    arrays: dict[str, np.ndarray] = {}
    for name, vals in given.items():
        arr = _signal(name, vals, n)
        if arr is not None:
            arrays[name] = arr.astype(float)
            n = arr.size
    if not arrays:
        raise InputValidationError(
            "No quality signal given. Pass at least one of label_quality, outlier_score or "
            "value (one value per row)."
        )
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(given))
    if unknown:
        raise InvalidParameterError(
            "weights", "a dict with keys among 'label_quality', 'outlier_score', 'value'",
            weights, owner="quality_rank",
        )
    w = np.array([float(weights.get(k, 1.0)) for k in arrays])
    if np.any(w < 0) or w.sum() <= 0:
        raise InvalidParameterError("weights", "non-negative weights with a positive sum",
                                    weights, owner="quality_rank")
    stacked = np.vstack([_percentile(a) for a in arrays.values()])
    return (w[:, None] * stacked).sum(axis=0) / w.sum()


def balanced_quota(available: np.ndarray, quota: int) -> np.ndarray:
    """Split ``quota`` across classes as evenly as their ``available`` counts allow.

    Water-filling: every class gets the same share, a class with fewer rows gives its unused
    share to the others; the remainder goes to the classes listed first.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.curate import balanced_quota
    >>> balanced_quota(np.array([100, 3, 50]), 60).tolist()
    [29, 3, 28]
    """
    avail = np.asarray(available, dtype=np.int64)
    quota = int(min(quota, avail.sum()))
    take = np.zeros_like(avail)
    left = quota
    open_ = avail > 0
    while left > 0 and open_.any():
        share = max(left // int(open_.sum()), 1)
        room = avail - take
        add = np.where(open_, np.minimum(room, share), 0)
        if share == 1 and add.sum() > left:
            first = np.flatnonzero(add)[:left]
            add = np.zeros_like(add)
            add[first] = 1
        take += add
        left -= int(add.sum())
        open_ = take < avail
    return take


@dataclass(frozen=True)
class CurationFunnel:
    """The ranking and the stage cuts of a curation funnel.

    Attributes
    ----------
    ranking : pandas.DataFrame
        One row per input row: ``row`` (position in the input), ``score`` (in [0, 1], higher
        is better), ``rank`` (1 = best; excluded rows last), ``excluded`` (why a row never
        enters the funnel, or ``""``), ``stage`` (deepest stage the row reaches, or
        ``"filtered_out"``) and ``label`` when labels were given.
    queues : dict of str to pandas.DataFrame
        For each stage, the rows entering it in review order (best first), with the columns of
        ``ranking``. People reviewing stage ``i`` keep ``quotas[i + 1]`` of its queue.
    quotas : dict of str to int
        Rows per stage as asked (a stage may get fewer when fewer rows qualify).
    """

    ranking: pd.DataFrame
    queues: dict[str, pd.DataFrame]
    quotas: dict[str, int]

    def summary(self) -> pd.DataFrame:
        """Rows per stage, and per class when labels were given."""
        rows = []
        for name, q in self.queues.items():
            rec: dict[str, Any] = {"stage": name, "quota": self.quotas[name], "rows": len(q)}
            if "label" in q.columns:
                rec["classes"] = int(q["label"].nunique())
            rows.append(rec)
        return pd.DataFrame(rows)


def curation_funnel(
    *,
    label_quality: Any = None,
    outlier_score: Any = None,
    value: Any = None,
    is_duplicate: Any = None,
    labels: Any = None,
    quotas: Sequence[int] = (200_000, 20_000, 2_000),
    stage_names: Sequence[str] = DEFAULT_STAGES,
    class_balanced: bool = False,
    weights: dict[str, float] | None = None,
) -> CurationFunnel:
    """Rank rows by the audit's quality signals and cut a multi-stage review funnel.

    Rows flagged ``is_duplicate`` never enter (keep one copy of each duplicate set unflagged).
    The first stage takes the ``quotas[0]`` best-ranked rows; each later stage takes the best
    ``quotas[i]`` of the stage before, so stages are nested. With ``class_balanced`` each cut
    is split across classes as evenly as the classes allow (:func:`balanced_quota`), best rows
    first within each class.

    Parameters
    ----------
    label_quality, outlier_score, value : array-like of shape (N,), optional
        Quality signals (see :func:`quality_rank`); at least one is needed.
    is_duplicate : array-like of shape (N,), bool, optional
        Redundant copies to exclude.
    labels : array-like of shape (N,), optional
        Class of each row (any values); needed for ``class_balanced``.
    quotas : sequence of int, default=(200_000, 20_000, 2_000)
        Rows per stage, non-increasing.
    stage_names : sequence of str, default=("automatic", "amateur", "expert")
        One name per quota.
    class_balanced : bool, default=False
    weights : dict, optional
        Weights of the signals in the score.

    Returns
    -------
    CurationFunnel

    Examples
    --------
    >>> from assay.curate import curation_funnel
    >>> f = curation_funnel(label_quality=[0.9, 0.2, 0.8, 0.7], is_duplicate=[False] * 3 + [True],
    ...                     quotas=(2, 1), stage_names=("auto", "expert"))
    >>> f.queues["auto"]["row"].tolist(), f.queues["expert"]["row"].tolist()
    ([0, 2], [0])
    """
    score = quality_rank(label_quality=label_quality, outlier_score=outlier_score, value=value,
                         weights=weights)
    n = score.size
    quotas = [check_int(f"quotas[{i}]", q, low=1, owner=_OWNER) for i, q in enumerate(quotas)]
    names = [str(s) for s in stage_names]
    if not quotas or len(names) != len(quotas):
        raise InvalidParameterError(
            "stage_names", f"one name per quota ({len(quotas)})", list(stage_names), owner=_OWNER
        )
    if len(set(names)) != len(names):
        raise InvalidParameterError("stage_names", "distinct names", names, owner=_OWNER)
    if any(b > a for a, b in zip(quotas, quotas[1:], strict=False)):
        raise InvalidParameterError(
            "quotas", "non-increasing stage sizes (each stage keeps part of the one before)",
            quotas, owner=_OWNER,
        )
    dup = np.zeros(n, dtype=bool)
    if is_duplicate is not None:
        dup = check_1d("is_duplicate", is_duplicate)
        if dup.dtype != bool or dup.size != n:
            raise InputValidationError(
                f"is_duplicate must be a boolean mask with one value per row ({n}); got dtype "
                f"{dup.dtype} and {dup.size} values."
            )
    codes = None
    if labels is not None:
        lab = check_1d("labels", labels)
        if lab.size != n:
            raise InputValidationError(
                f"labels has {lab.size} rows but the signals have {n}. Pass one label per row."
            )
        _, codes = np.unique(lab.astype(str) if lab.dtype == object else lab,
                             return_inverse=True)
    elif class_balanced:
        raise InputValidationError(
            "class_balanced=True needs labels (one class per row) to balance the stages."
        )

    order = np.lexsort((np.arange(n), -score, dup))  # eligible first, then best score
    eligible = order[~dup[order]]
    stage = np.full(n, "filtered_out", dtype=object)
    current = eligible
    queues: dict[str, pd.DataFrame] = {}
    members: list[np.ndarray] = []
    for name, quota in zip(names, quotas, strict=True):
        current = _cut(current, quota, codes if class_balanced else None)
        stage[current] = name
        members.append(current)

    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    ranking = pd.DataFrame({
        "row": np.arange(n),
        "score": score,
        "rank": rank,
        "excluded": np.where(dup, "duplicate", ""),
        "stage": stage,
    })
    if labels is not None:
        ranking["label"] = check_1d("labels", labels)
    for name, rows in zip(names, members, strict=True):
        queues[name] = ranking.iloc[rows].reset_index(drop=True)
    return CurationFunnel(ranking=ranking, queues=queues,
                          quotas=dict(zip(names, quotas, strict=True)))


def _cut(ranked: np.ndarray, quota: int, codes: np.ndarray | None) -> np.ndarray:
    """The best ``quota`` of ``ranked`` (already best first), class-balanced when ``codes``."""
    if codes is None:
        return ranked[:quota]
    c = codes[ranked]
    k = int(codes.max()) + 1
    take = balanced_quota(np.bincount(c, minlength=k), quota)
    # Position of each row within its class, in ranked order.
    pos = np.empty(ranked.size, dtype=np.int64)
    by_class = np.argsort(c, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(c, minlength=k))[:-1]])
    pos[by_class] = np.arange(ranked.size) - np.repeat(starts, np.bincount(c, minlength=k))
    return ranked[pos < take[c]]


def set_representatives(sets: Any, score: Any = None, *, eligible: Any = None) -> np.ndarray:
    """The row that stands for each duplicate set: the best-scored, ties to the first row.

    Parameters
    ----------
    sets : array-like of shape (N,)
        Each row's duplicate set (``duplicate_set`` of the audit): an integer >= 0, or -1 (or
        missing) outside any set.
    score : array-like of shape (N,), optional
        Higher is better (:func:`quality_rank`). Default: every row equal, so the first row of
        each set stands for it.
    eligible : array-like of shape (N,), bool, optional
        Rows that may stand for their set (default all). A set without an eligible row has no
        representative.

    Returns
    -------
    ndarray of shape (N,), int64
        For each row in a set with a representative, that representative's position (the
        representative points at itself); -1 elsewhere.

    Examples
    --------
    >>> set_representatives([0, -1, 0, 1, 1], [0.2, 0.9, 0.5, 0.7, 0.7]).tolist()
    [2, -1, 2, 3, 3]
    """
    codes = pd.to_numeric(pd.Series(np.asarray(sets).ravel()), errors="coerce")
    sets_arr = codes.fillna(-1).to_numpy(dtype=np.int64)
    n = sets_arr.size
    score_arr = np.zeros(n) if score is None else np.asarray(score, dtype=float).ravel()
    ok = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool).ravel()
    if score_arr.size != n or ok.size != n:
        raise InputValidationError(
            f"set_representatives needs one score and one eligibility value per row: {n} sets, "
            f"{score_arr.size} scores, {ok.size} eligibility values."
        )
    out = np.full(n, -1, dtype=np.int64)
    cand = np.flatnonzero((sets_arr >= 0) & ok)
    if not cand.size:
        return out
    # by set, best score first, then the first row: each set's first entry stands for it
    order = cand[np.lexsort((cand, -score_arr[cand], sets_arr[cand]))]
    first = np.ones(order.size, dtype=bool)
    first[1:] = sets_arr[order][1:] != sets_arr[order][:-1]
    reps = order[first]
    rep_of_set = pd.Series(reps, index=sets_arr[reps])
    in_set = np.flatnonzero(sets_arr >= 0)
    found = rep_of_set.reindex(sets_arr[in_set]).to_numpy()
    has = ~pd.isna(found)
    out[in_set[has]] = found[has].astype(np.int64)
    return out


def keep_one_per_copy(
    copy_of: Any, exact: Any, score: Any = None, *, eligible: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which duplicates to drop so that every dropped row is a copy of a row that stays.

    A duplicate set is a connected component of copy links, so keeping one row per set can drop
    a row that is a copy of nothing kept (in a chain ``a ~ b ~ c`` keeping ``a`` would drop
    ``c``, which is not near ``a``). Here the rows are visited best first: identical rows
    (``exact``, linked through ``copy_of``) as one group that keeps its best row; a row or group
    stays unless one of its direct links (``copy_of``, either way) already stays, and is
    dropped as a copy of that row otherwise. Only each row's nearest link is known, so in a
    group of mutual near copies more than one row can stay; none is dropped without a kept copy.

    Parameters
    ----------
    copy_of : array-like of shape (N,), int
        Each row's direct copy (``DuplicateResult.copy_of``; the audit's ``copy_of_row``), -1
        for none.
    exact : array-like of shape (N,), bool
        Rows with an identical copy (``is_exact_duplicate``); their ``copy_of`` is identical.
    score : array-like of shape (N,), optional
        Higher is better (:func:`quality_rank`); default equal, so the first row stays.
    eligible : array-like of shape (N,), bool, optional
        Rows that may stay (default all); the others are neither kept nor dropped here.

    Returns
    -------
    drop : ndarray of shape (N,), bool
    kept_copy : ndarray of shape (N,), int64
        For a dropped row, the kept row it is a copy of (directly, or identical to one that is);
        -1 elsewhere.

    Examples
    --------
    >>> drop, kept = keep_one_per_copy([1, 0, 1, -1], [False] * 4, [0.9, 0.5, 0.1, 0.0])
    >>> drop.tolist(), kept.tolist()   # row 2 is a copy of row 1, which is dropped: 2 stays
    ([False, True, False, False], [-1, 0, -1, -1])
    """
    link = np.asarray(copy_of, dtype=np.int64).ravel()
    n = link.size
    same = np.asarray(exact, dtype=bool).ravel()
    score_arr = np.zeros(n) if score is None else np.asarray(score, dtype=float).ravel()
    ok = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool).ravel()
    if same.size != n or score_arr.size != n or ok.size != n:
        raise InputValidationError(
            f"keep_one_per_copy needs one value per row in each argument: {n} links, "
            f"{same.size} exact flags, {score_arr.size} scores, {ok.size} eligibility values."
        )
    if np.any((link < -1) | (link >= n)):
        raise InputValidationError(
            f"copy_of must hold row positions in [0, {n}) or -1; got values from "
            f"{int(link.min())} to {int(link.max())}. Pass the audit's copy_of_row column (or "
            "DuplicateResult.copy_of) of these same rows, unchanged."
        )
    drop = np.zeros(n, dtype=bool)
    kept_copy = np.full(n, -1, dtype=np.int64)
    linked = link >= 0
    linked[link[linked]] = True  # a row named by a link is in the graph, links of its own or not
    rows = np.flatnonzero(linked)
    if not rows.size:
        return drop, kept_copy
    has_link = link[rows] >= 0
    # identical rows form one node named by its lowest row (their links form a star there)
    node = np.arange(n)
    in_group = rows[has_link & same[rows] & same[np.maximum(link[rows], 0)]]
    node[in_group] = np.minimum(in_group, link[in_group])
    # each node's best eligible member, and its rank (best score first, then lowest row)
    members = rows[np.lexsort((rows, -score_arr[rows], node[rows]))]
    best = pd.Series(members[ok[members]]).groupby(node[members[ok[members]]]).first()
    nodes = np.unique(node[rows])
    best_of = best.reindex(nodes).fillna(-1).to_numpy(dtype=np.int64)
    rank_score = np.where(best_of >= 0, score_arr[np.maximum(best_of, 0)], -np.inf)
    order = np.lexsort((nodes, -rank_score))
    # links between nodes, both ways (identical rows' own links stay inside their node)
    loose = rows[has_link & (node[rows] != node[np.maximum(link[rows], 0)])]
    a = np.searchsorted(nodes, node[loose])
    b = np.searchsorted(nodes, node[link[loose]])
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    by = np.argsort(src, kind="stable")
    src, dst = src[by], dst[by]
    starts = np.searchsorted(src, np.arange(nodes.size + 1))
    kept_row = np.full(nodes.size, -1, dtype=np.int64)  # the row that stays, per kept node
    copy_row = np.full(nodes.size, -1, dtype=np.int64)  # the kept copy, per dropped node
    for v in order.tolist():
        nbr = dst[starts[v]:starts[v + 1]]
        kept_nbr = nbr[kept_row[nbr] >= 0]
        if kept_nbr.size:
            copy_row[v] = kept_row[kept_nbr[0]]
        elif best_of[v] >= 0:
            kept_row[v] = best_of[v]
        # else nothing here may stay, and no copy of it stays: left to the caller
    at = np.searchsorted(nodes, node[rows])
    stays = kept_row[at]
    kept_copy[rows] = np.where(stays >= 0, np.where(stays != rows, stays, -1), copy_row[at])
    drop = kept_copy >= 0
    return drop, kept_copy


def audit_scores(issues: pd.DataFrame) -> dict[str, Any]:
    """The quality signals of an audit's per-row table, as :func:`quality_rank` takes them.

    The ``label_score``, ``outlier_score`` and ``data_value`` columns with at least one finite
    value; a missing value is filled with the column's median.
    """
    signals: dict[str, Any] = {}
    for col, name in AUDIT_SIGNALS.items():
        if col not in issues:
            continue
        vals = pd.to_numeric(issues[col], errors="coerce").to_numpy(dtype=float)
        finite = np.isfinite(vals)
        if finite.any():
            signals[name] = np.where(finite, vals, np.median(vals[finite]))
    return signals


def audit_funnel(
    issues: pd.DataFrame,
    quotas: Sequence[int],
    *,
    class_balanced: bool = False,
    stage_names: Sequence[str] = DEFAULT_STAGES,
) -> tuple[CurationFunnel, pd.DataFrame]:
    """The curation funnel of an audit's per-row table (``AuditResult.issues``).

    The signals are the table's ``label_score`` (label quality), ``outlier_score`` and
    ``data_value`` columns, those present with at least one finite value (a missing value is
    filled with the column's median). In each duplicate set (``duplicate_set`` >= 0) the
    best-scored member enters the funnel (ties: the first row) and the other members are
    excluded as redundant copies (with the audit's ``copy_of_row``, only rows that are copies of
    a row that stays: :func:`keep_one_per_copy`). The cuts are :func:`curation_funnel`'s on
    these signals.

    Parameters
    ----------
    issues : pandas.DataFrame
        One row per audited row: ``row``, optionally ``id``, ``given_label`` and the signals.
    quotas : sequence of int
        Rows per stage, non-increasing.
    class_balanced : bool, default=False
        Balance each cut across ``given_label``'s classes.
    stage_names : sequence of str, default=("automatic", "amateur", "expert")

    Returns
    -------
    funnel : CurationFunnel
    table : pandas.DataFrame
        One row per (stage, row) in each stage's review order (best first): ``stage``,
        ``row``, ``row_id`` (the audit's ``id``, else its row number, as text), ``rank``,
        ``score`` and ``label`` when the audit has labels.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.curate import audit_funnel
    >>> issues = pd.DataFrame({"row": [0, 1, 2, 3], "id": ["a", "b", "c", "d"],
    ...                        "label_score": [0.9, 0.2, 0.8, 0.7]})
    >>> _, table = audit_funnel(issues, (3, 2, 1))
    >>> table.groupby("stage", sort=False)["row_id"].agg(list).to_dict()
    {'automatic': ['a', 'c', 'd'], 'amateur': ['a', 'c'], 'expert': ['a']}
    """
    signals = audit_scores(issues)
    if not signals:
        raise InputValidationError(
            "The audit has no per-row quality signal to rank by (label_score, outlier_score or "
            "data_value). Re-run the audit with its label and outlier checks (the defaults)."
        )
    labels = issues["given_label"].to_numpy() if "given_label" in issues else None
    if class_balanced and labels is None:
        raise InputValidationError(
            "Balancing by class needs the audit's labels (given_label), and this audit has none. "
            "Leave out --balance-by-class, or audit with --label."
        )
    is_duplicate = None
    if "copy_of_row" in issues and "is_exact_duplicate" in issues:
        is_duplicate, _ = keep_one_per_copy(
            pd.to_numeric(issues["copy_of_row"], errors="coerce").fillna(-1).to_numpy(np.int64),
            issues["is_exact_duplicate"].to_numpy(bool), quality_rank(**signals))
    elif "duplicate_set" in issues:  # an audit recorded before copy links were stored
        rep = set_representatives(issues["duplicate_set"], quality_rank(**signals))
        is_duplicate = (rep >= 0) & (rep != np.arange(len(issues)))
    funnel = curation_funnel(**signals, is_duplicate=is_duplicate, labels=labels,
                             quotas=quotas, stage_names=stage_names,
                             class_balanced=class_balanced)
    ids = (issues["id"] if "id" in issues else issues["row"]).astype(str).to_numpy()
    rows = issues["row"].to_numpy() if "row" in issues else np.arange(len(issues))
    parts = []
    for name, queue in funnel.queues.items():
        pos = queue["row"].to_numpy()
        part = pd.DataFrame({"stage": name, "row": rows[pos], "row_id": ids[pos],
                             "rank": queue["rank"].to_numpy(), "score": queue["score"].to_numpy()})
        if labels is not None:
            part["label"] = queue["label"].astype(str).to_numpy()
        parts.append(part)
    return funnel, pd.concat(parts, ignore_index=True)
