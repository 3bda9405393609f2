"""Agreement per guideline round, the change between rounds, and class pairs that moved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay._annotations import encode_values, long_frame
from assay._validation import check_choice, check_fraction, check_int, check_random_state
from assay.agreement._coefficients import (
    _PLANS,
    COEFFICIENTS,
    _replicates,
    bootstrap_sums,
    coincidence_plan,
)
from assay.agreement._io import (
    Ratings,
    check_level,
    check_level_values,
    ratings_from_long,
)
from assay.exceptions import InputValidationError


@dataclass(frozen=True)
class RoundsResult:
    """Agreement per round and its changes.

    Attributes
    ----------
    per_round : pandas.DataFrame
        ``round``, ``n_items``, ``n_ratings``, ``value``, ``ci_low``, ``ci_high``.
    changes : pandas.DataFrame
        Consecutive rounds: ``from_round``, ``to_round``, ``change`` (to minus from),
        ``ci_low``, ``ci_high`` (percentile interval of the difference of independent bootstrap
        replicates) and ``significant`` (the interval excludes 0).
    pairs : pandas.DataFrame
        Per class pair and consecutive rounds: ``from_round``, ``to_round``, ``class_a``,
        ``class_b``, ``rate_from``, ``rate_to`` (share of pairable values that are an a/b
        disagreement), ``change``, ``ci_low``, ``ci_high`` and ``status`` (``"improved"``,
        ``"worse"`` or ``"no clear change"``, from whether the interval excludes 0).
    coefficient : str
    level : str
    """

    per_round: pd.DataFrame
    changes: pd.DataFrame
    pairs: pd.DataFrame
    coefficient: str
    level: str


def _pair_rates(o: np.ndarray) -> np.ndarray:
    """Upper-triangle disagreement rates ``2 o[a, b] / n`` of a coincidence matrix."""
    n = o.sum()
    a, b = np.triu_indices(o.shape[0], k=1)
    return 2.0 * o[a, b] / n if n > 0 else np.full(a.shape, np.nan)


def agreement_by_round(
    annotations: pd.DataFrame,
    *,
    item: str,
    annotator: str,
    label: str,
    round: str,
    level: str = "nominal",
    coefficient: str = "krippendorff_alpha",
    categories: Sequence[Any] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: Any = 0,
) -> RoundsResult:
    """Agreement per guideline round (v1, v2, ...), the change with a CI, and class pairs that moved.

    Rounds are ordered by their sorted values. Each round is bootstrapped over its own items,
    independently of the others (rounds usually label different items), and the change between
    consecutive rounds takes its interval from the differences of the replicates.

    Parameters
    ----------
    annotations : pandas.DataFrame
        Long table, one row per rating.
    item, annotator, label, round : str
        Column names.
    level : str, default "nominal"
    coefficient : str, default "krippendorff_alpha"
        One of ``assay.agreement.COEFFICIENTS``.
    categories : sequence, optional
        The scale in order (shared by all rounds).
    n_boot : int, default 1000
    confidence : float, default 0.95
    random_state : None, int or numpy.random.Generator, default 0

    Returns
    -------
    RoundsResult

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({
    ...     "id": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
    ...     "who": list("ab" * 6),
    ...     "y": list("xyxyyx") + list("xxyyxx"),
    ...     "v": [1] * 6 + [2] * 6})
    >>> res = agreement_by_round(long, item="id", annotator="who", label="y", round="v",
    ...                          n_boot=50)
    >>> res.per_round["round"].tolist()
    [1, 2]
    """
    level = check_level(level, owner="agreement_by_round")
    coefficient = check_choice("coefficient", coefficient, COEFFICIENTS, owner="agreement_by_round")
    n_boot = check_int("n_boot", n_boot, low=0, owner="agreement_by_round")
    confidence = check_fraction("confidence", confidence, owner="agreement_by_round")
    rng = check_random_state(random_state)
    frame = long_frame(annotations, item=item, annotator=annotator, label=label, round=round)
    if frame.shape[0] == 0:
        raise InputValidationError(
            f"The label column {label!r} has no ratings (every value missing)."
        )
    if categories is None:
        _, cats, _ = encode_values(frame[label], name=f"label column {label!r}")
        categories = list(cats)
    rounds = sorted(pd.unique(frame[round]), key=lambda v: (str(type(v)), v))
    per_round, reps, pair_reps, pair_est, per_ratings = [], [], [], [], []
    for rd in rounds:
        sub = frame[frame[round] == rd]
        r = ratings_from_long(
            sub, item=item, annotator=annotator, label=label, categories=categories
        )
        r.ordered = True
        check_level_values(r, level, owner="agreement_by_round")
        if coefficient in ("scott_pi", "cohen_kappa") and len(r.coders) != 2:
            raise InputValidationError(
                f"coefficient={coefficient!r} needs exactly two annotators per round; round "
                f"{rd!r} has {len(r.coders)}. Use 'krippendorff_alpha' or 'fleiss_kappa'."
            )
        per_ratings.append(r)
        est, rep, p_est, p_rep = _round_stats(r, coefficient, level, n_boot, rng)
        reps.append(rep)
        pair_reps.append(p_rep)
        pair_est.append(p_est)
        lo, hi = _quantiles(rep, confidence)
        per_round.append(
            {
                "round": _scalar(rd),
                "n_items": int(np.sum(r.n_ratings_per_unit >= 2)),
                "n_ratings": int(np.sum(r.codes >= 0)),
                "value": est,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    changes, pairs = [], []
    a_idx, b_idx = np.triu_indices(len(categories), k=1)
    labels = [_scalar(c) for c in categories]
    for j in range(1, len(rounds)):
        diff = reps[j] - reps[j - 1]
        lo, hi = _quantiles(diff, confidence)
        changes.append(
            {
                "from_round": _scalar(rounds[j - 1]),
                "to_round": _scalar(rounds[j]),
                "change": per_round[j]["value"] - per_round[j - 1]["value"],
                "ci_low": lo,
                "ci_high": hi,
                "significant": bool(np.isfinite(lo) and (lo > 0 or hi < 0)),
            }
        )
        pdiff = pair_reps[j] - pair_reps[j - 1]
        for p in range(a_idx.size):
            r_from, r_to = pair_est[j - 1][p], pair_est[j][p]
            if r_from == 0 and r_to == 0:
                continue
            plo, phi = _quantiles(pdiff[:, p], confidence)
            status = "no clear change"
            if np.isfinite(phi) and phi < 0:
                status = "improved"
            elif np.isfinite(plo) and plo > 0:
                status = "worse"
            pairs.append(
                {
                    "from_round": _scalar(rounds[j - 1]),
                    "to_round": _scalar(rounds[j]),
                    "class_a": labels[a_idx[p]],
                    "class_b": labels[b_idx[p]],
                    "rate_from": r_from,
                    "rate_to": r_to,
                    "change": r_to - r_from,
                    "ci_low": plo,
                    "ci_high": phi,
                    "status": status,
                }
            )
    pair_cols = [
        "from_round", "to_round", "class_a", "class_b", "rate_from", "rate_to", "change",
        "ci_low", "ci_high", "status",
    ]
    pairs_frame = pd.DataFrame(pairs, columns=pair_cols)
    if len(pairs_frame):
        pairs_frame = pairs_frame.sort_values(
            ["from_round", "change"], kind="stable"
        ).reset_index(drop=True)
    return RoundsResult(
        per_round=pd.DataFrame(per_round),
        changes=pd.DataFrame(
            changes,
            columns=["from_round", "to_round", "change", "ci_low", "ci_high", "significant"],
        ),
        pairs=pairs_frame,
        coefficient=coefficient,
        level=level,
    )


def _round_stats(
    r: Ratings, coefficient: str, level: str, n_boot: int, rng: np.random.Generator
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    plan = _PLANS[coefficient](r, level=level)
    pairs = coincidence_plan(r)
    est = float(plan.value())
    pair_est = _pair_rates(pairs.value())
    reps = np.full(n_boot, np.nan)
    pair_reps = np.full((n_boot, pair_est.size), np.nan)
    if n_boot:
        sums, pair_sums = bootstrap_sums([plan, pairs], len(r.units), n_boot, rng)
        reps = _replicates(plan, sums)
        pair_reps = np.stack([_pair_rates(pairs.finish(row)) for row in pair_sums])
    return est, reps, pair_est, pair_reps


def _quantiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    ok = values[np.isfinite(values)]
    if ok.size < 2:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(ok, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v
