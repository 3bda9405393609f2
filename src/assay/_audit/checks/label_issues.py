"""Label issues by confident learning, with suggested labels and a trust estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import QueueSpec, RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.labels import (
    OVERCONFIDENCE_GAP,
    WEAK_MODEL_ACCURACY,
    LabelIssueEstimate,
    knn_label_agreement,
    label_quality_scores,
    spot_check_size,
    suggest_labels,
)

WARN_RATE = 0.01
FAIL_RATE = 0.05
_SOURCE = ("assay default; Northcutt et al. 2021 found >= 3.3 % label errors on average in 10 "
           "benchmark test sets")


#: Seed of the spot-check queue's random order (the same for every reviewer and restart).
SPOT_CHECK_SEED = 0


def label_queues(issues: pd.DataFrame, checks: object) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The label-issue queue (lowest label score first) and the label spot check: a uniform
    random sample of the flagged rows in random order (so any prefix is a random sample too),
    ``spot_check_size`` rows, enough to measure their precision within 0.1 (95 %)."""
    flagged = issues["is_label_issue"].to_numpy(bool)
    out = {"label_issues": (flagged, issues["label_score"].to_numpy(dtype=float))}
    if flagged.any():
        n = spot_check_size(int(flagged.sum()))
        order = np.full(len(issues), np.inf)
        pos = np.flatnonzero(flagged)
        rng = np.random.default_rng(SPOT_CHECK_SEED)
        order[pos] = rng.permutation(pos.size)
        out["label_spot_check"] = (flagged & (order < n), order)
    return out


@register_check(
    "label_issues", needs=("labels", "pred_probs", "label_flags", "knn"), uses=("consensus",),
    outputs=RowOutputs(flag="is_label_issue", score="label_score", unit_score=True,
                       detail=("suggested_label", "given_label"), metric="label"),
    queue=QueueSpec(build=label_queues, names=("label_issues", "label_spot_check"),
                    position=10, positions={"label_spot_check": 70}),
)
def check_label_issues(ctx: AuditContext) -> CheckResult:
    """Rows whose given label is likely wrong (confident learning), with a suggested label."""
    y, p = ctx.labels, ctx.pred_probs
    method = ctx.config.label_method
    flags = ctx.label_flags.copy()
    n_from_annotators = 0
    if ctx.consensus is not None:
        # annotators' consensus contradicting the given label is evidence of a label error
        from assay._audit.checks.annotators import consensus_conflicts

        conflict = consensus_conflicts(ctx)
        n_from_annotators = int((conflict & ~flags).sum())
        flags |= conflict
    scores = label_quality_scores(y, p, method="self_confidence")
    est = ctx.label_estimate.for_flagged(flags)
    suggested = suggest_labels(y, p)
    agreement = knn_label_agreement(y, ctx.knn.indices)
    classes = ctx.dataset.classes
    rows = pd.DataFrame({
        "label_score": scores,
        "is_label_issue": flags,
        "suggested_label": pd.array([classes[i] for i in suggested], dtype=object),
        "label_error_probability": est.error_probability,
        "label_decided": est.decided,
        "knn_label_agreement": agreement,
    })
    rate = float(flags.mean())
    n_spot = spot_check_size(int(flags.sum()))
    # A weak or overconfident model passes its own mistakes off as label noise, and the
    # estimates run high (benchmarks/label_noise.py); est.caveat says which.
    status = "fail" if rate > FAIL_RATE else "warn" if rate > WARN_RATE else "pass"
    top = np.argsort(scores + ~flags * 2.0, kind="stable")[: min(50, int(flags.sum()))]
    return CheckResult(
        name="label_issues",
        status=status,
        summary={
            "n_flagged": int(flags.sum()),
            "rate": rate,
            "n_estimated_errors": est.n_estimated,
            "estimated_noise_rate": est.noise_rate,
            "estimated_precision": est.estimated_precision,
            "estimated_precision_low": est.precision_low,
            "estimated_precision_high": est.precision_high,
            "method": method,
            "pred_probs": "user" if ctx.user_pred_probs is not None else "out-of-fold",
            "model_accuracy": est.model_accuracy,
            "calibration_gap": est.calibration_gap,
            "temperature": est.temperature,
            "estimates_reliable": est.reliable,
            "undecided_share": est.undecided_share,
            "n_undecided_rows": int((~est.decided).sum()),
            "caveat": est.caveat,
            "unreliable_reason": est.reason,
            "spot_check_size": n_spot,
            "n_flagged_by_annotators_only": n_from_annotators,
        },
        rows=rows,
        evidence={"top_rows": top.tolist()},
        thresholds={
            "warn_rate": Threshold(WARN_RATE, _SOURCE),
            "fail_rate": Threshold(FAIL_RATE, _SOURCE),
            "method": Threshold(method, "confident learning (Northcutt et al., JAIR 2021)"),
            "weak_model_accuracy": Threshold(
                WEAK_MODEL_ACCURACY, "below it the estimated error count and precision run high "
                "(benchmarks/label_noise.py); assay default"),
            "overconfidence_gap": Threshold(
                OVERCONFIDENCE_GAP, "mean confidence minus accuracy above which the estimates run "
                "high even after recalibration (benchmarks/label_noise.py); assay default"),
        },
        message=(_message(int(flags.sum()), rate, est, n_spot)
                 if flags.any() else "No likely label errors found."),
    )


def _message(n_flagged: int, rate: float, est: LabelIssueEstimate, n_spot: int) -> str:
    """The check's message: the estimates when reliable; otherwise why not, in one sentence,
    and the spot check that measures the precision."""
    if est.reliable:
        return (f"{n_flagged} rows ({rate:.1%}) look mislabelled; about {est.n_estimated} errors "
                f"estimated in the data, and about {est.estimated_precision:.0%} of the flagged "
                f"rows are expected to be real errors (plausibly {est.precision_low:.0%} to "
                f"{est.precision_high:.0%}); the {n_spot} random rows of the label_spot_check "
                "queue in 'assay review' measure it within 0.1.")
    return (f"{n_flagged} rows ({rate:.1%}) have labels that disagree with what the features "
            f"predict; the estimates (about {est.n_estimated} errors, "
            f"{est.estimated_precision:.0%} precision) are not reliable: {_reason(est)}. Review "
            f"the {n_spot} random rows of the label_spot_check queue in 'assay review' to "
            "measure the precision (within 0.1 at 95 %).")


def _reason(est: LabelIssueEstimate) -> str:
    """One clause saying why the estimates are not reliable (by ``est.reason``)."""
    clauses = {
        "weak_model": lambda: (f"the model is weak (out-of-fold accuracy "
                               f"{est.model_accuracy:.0%}) and cannot tell its own mistakes from "
                               "label errors"),
        "overconfident": lambda: (f"the model is overconfident (confidence "
                                  f"{est.model_accuracy + est.calibration_gap:.0%} against "
                                  f"{est.model_accuracy:.0%} accuracy)"),
        "input_conflicts": lambda: ("identical inputs carry different labels at rates that "
                                    "differ from input to input, as outcomes do, not "
                                    "annotation errors"),
        "error_rate": lambda: (f"it says {est.noise_rate:.0%} of the labels are wrong, more "
                               "than annotated data usually holds: at such rates the "
                               "disagreements are mostly overlapping classes or outcome-like "
                               "labels"),
        "undecided": lambda: (f"the features do not decide the label for "
                              f"{np.mean(~est.decided):.0%} of the rows, where "
                              f"{est.undecided_share:.0%} of the estimated errors sit "
                              "(outcome-like labels or too little signal)"),
    }
    return clauses[est.reason]()
