"""Wrong values of a numeric target (the label check of a regression task)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.regression import (
    HETERO_ALPHA,
    INTERVAL_Z,
    MAX_ERROR_RATE,
    MIN_EXPLAINED,
    TRIM_Z,
    RegressionLabelEstimate,
    fit_noise_scale,
    regression_label_table,
)

WARN_RATE = 0.01
FAIL_RATE = 0.05
#: Flagged rows listed in the evidence and the report, worst first.
MAX_SHOWN = 200
_SOURCE = ("assay default, as for class labels; Northcutt et al. 2021 found >= 3.3 % label "
           "errors on average in 10 benchmark test sets")


def regression_section(check: dict) -> dict:
    """The report section: the estimate, the model, and the values that look wrong with their
    suggested value, its interval and what the neighbours hold."""
    s = check["summary"]
    precision = s.get("estimated_precision")
    shown = None if precision is None or precision != precision else f"{precision:.0%}"
    if shown is not None and s.get("estimates_reliable") is False:
        shown += " (not reliable)"
    stats = {
        "values flagged": s.get("n_flagged"),
        "share": f"{s.get('rate', 0):.1%}",
        "wrong values estimated": s.get("n_estimated_errors"),
        "expected precision": shown,
        "estimates reliable": s.get("estimates_reliable"),
        "model": s.get("model"),
        "variance explained (robust)": f"{s.get('explained_variance', 0):.0%}",
        "noise scale": s.get("noise_scale"),
        "noise grows with the prediction": s.get("heteroscedastic"),
    }
    return {"stats": stats,
            "tables": {"Values that look wrong, worst first": check["evidence"].get("flagged")}}


@register_check(
    "regression_labels", needs=("target", "target_predictions", "knn"),
    outputs=RowOutputs(flag="is_label_issue", score="label_score", unit_score=True,
                       detail=("suggested_label", "suggested_low", "suggested_high",
                               "given_label"), metric="label"),
    section=regression_section,
)
def check_regression_labels(ctx: AuditContext) -> CheckResult:
    """Values of a numeric target far from what the rest of the row predicts, with a suggested
    value and what the nearest rows hold."""
    y = ctx.target
    fit = ctx.target_crossfit
    pred = fit.predictions
    noise = fit_noise_scale(y - pred, pred)
    knn = ctx.knn
    rows = regression_label_table(y, pred, noise.scale, neighbor_indices=knn.indices)
    est: RegressionLabelEstimate = rows.attrs["estimate"]
    flags = rows["is_label_issue"].to_numpy(dtype=bool)
    n_flagged = int(flags.sum())
    rate = float(flags.mean())
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    summary = {
        "n_flagged": n_flagged,
        "rate": rate,
        "n_estimated_errors": est.n_estimated,
        "estimated_noise_rate": est.error_rate,
        "estimated_precision": est.estimated_precision,
        "estimates_reliable": est.reliable,
        "unreliable_reason": est.reason,
        "explained_variance": est.explained,
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0,
        "noise_scale": noise.global_scale,
        "heteroscedastic": noise.heteroscedastic,
        "heteroscedastic_p_value": noise.p_value,
        "model": fit.chosen,
        "model_mae": {k: v["mae"] for k, v in fit.candidates.items()},
        "rows_left_out_of_refit": fit.n_left_out,
        "k": int(knn.k),
    }
    return CheckResult(
        name="regression_labels",
        status="fail" if rate > FAIL_RATE else "warn" if rate > WARN_RATE else "pass",
        summary=summary,
        rows=rows.reset_index(drop=True),
        evidence={"flagged": _flagged_records(ctx, y, rows, knn.indices)},
        thresholds={
            "warn_rate": Threshold(WARN_RATE, _SOURCE),
            "fail_rate": Threshold(FAIL_RATE, _SOURCE),
            "error_probability": Threshold(0.5, "a value is flagged when the mixture of normal "
                                           "noise and unrelated values (assay.regression) "
                                           "makes it more likely wrong than right"),
            "trim_z": Threshold(TRIM_Z, "residuals beyond it are left out of the refit's "
                                "training folds; Iglewicz and Hoaglin's modified z-score "
                                "cut-off"),
            "interval_z": Threshold(INTERVAL_Z, "half-width of the suggested value's interval "
                                    "in noise scales: 95 % under normal noise"),
            "heteroscedastic_alpha": Threshold(HETERO_ALPHA, "chi-square test of equal MADs "
                                               "over the prediction's ranges; assay default"),
            "min_explained": Threshold(MIN_EXPLAINED, "below it the estimates are not "
                                       "reliable: a value copied from another row hides in the "
                                       "noise (benchmarks/regression_labels.py); assay default"),
            "max_error_rate": Threshold(MAX_ERROR_RATE, "above it the estimates are not "
                                        "reliable; assay default"),
        },
        message=_message(n_flagged, rate, est, fit.chosen),
    )


def _flagged_records(ctx: AuditContext, y: np.ndarray, rows: pd.DataFrame,
                     neighbours: np.ndarray) -> list[dict[str, Any]]:
    """The flagged rows, most likely wrong first: the given value, the suggestion with its
    interval, the neighbours' median and values."""
    flags = rows["is_label_issue"].to_numpy(dtype=bool)
    prob = rows["label_error_probability"].to_numpy(dtype=float)
    z = np.abs(rows["residual_z"].to_numpy(dtype=float))
    pos = np.flatnonzero(flags)
    pos = pos[np.lexsort((-z[pos], -prob[pos]))][:MAX_SHOWN]
    ids = ctx.dataset.ids
    out = []
    for i in pos:
        nb = y[neighbours[i]]
        out.append({
            "row": int(i), "id": str(ids[i]), "given": _round(y[i]),
            "suggested": _round(rows["suggested_label"].iat[i]),
            "interval": f"{_round(rows['suggested_low'].iat[i])} .. "
                        f"{_round(rows['suggested_high'].iat[i])}",
            "neighbours' median": _round(rows["neighbour_target"].iat[i]),
            "neighbours' values": ", ".join(_text(v) for v in nb),
            "P(wrong)": round(float(prob[i]), 3),
            "z": round(float(rows["residual_z"].iat[i]), 2),
        })
    return out


def _round(value: Any) -> float:
    """Four significant digits, for display."""
    v = float(value)
    return float(f"{v:.4g}") if np.isfinite(v) else v


def _text(value: Any) -> str:
    """Four significant digits as text, without a trailing '.0' on whole numbers."""
    v = _round(value)
    return str(int(v)) if np.isfinite(v) and v == int(v) and abs(v) < 1e15 else str(v)


def _message(n_flagged: int, rate: float, est: RegressionLabelEstimate, model: str) -> str:
    explained = f"the {model} model explains {max(est.explained, 0.0):.0%} of the target's spread"
    if not n_flagged:
        head = f"No value looks wrong ({explained})."
        return head if est.reliable else head[:-1] + f"; {_reason(est)})."
    head = f"{n_flagged} values ({rate:.1%}) look wrong"
    if est.reliable:
        return (f"{head}; about {est.n_estimated} wrong values estimated in the data, and about "
                f"{est.estimated_precision:.0%} of the flagged ones expected to be real errors "
                f"({explained}).")
    return (f"{head}, but the estimates (about {est.n_estimated} wrong values, "
            f"{est.estimated_precision:.0%} precision) are not reliable: {_reason(est)}. Check "
            "the flagged rows by hand before changing them.")


def _reason(est: RegressionLabelEstimate) -> str:
    return {
        "few_rows": "too few rows to estimate the noise",
        "weak_model": (f"the model explains only {max(est.explained, 0.0):.0%} of the target's "
                       "spread, so a wrong value drawn from the usual ones hides in the noise "
                       "and the model's own misses pass for wrong values"),
        "error_rate": (f"it says {est.error_rate:.0%} of the values are wrong, more than data "
                       "usually holds: the model more likely misses structure"),
    }.get(est.reason, est.reason)
