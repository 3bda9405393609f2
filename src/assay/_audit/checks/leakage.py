"""Split-aware checks: cross-split leaks, target leakage, evaluation-set size, split shift."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import QueueSpec, RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.evaluation import compare_splits, evaluation_intervals
from assay.leakage import NEAR_FACTOR, find_leakage, find_target_leakage, leakage_summary

#: Share of an evaluation split leaked from an earlier split above which the check fails.
FAIL_SHARE = 0.01
#: Widest acceptable 95 % interval of an evaluation metric.
MAX_WIDTH = 0.1
#: Domain-classifier AUC above which (with p < 0.05) two evaluation splits are said to differ.
SHIFT_AUC = 0.6
MAX_PAIRS = 500
MAX_TARGET_COLUMNS = 200
MAX_TARGET_ROWS = 20_000


def _content(ctx: AuditContext) -> pd.DataFrame | None:
    return ctx.row_content  # raw columns; image files by the hash of their bytes


@register_check(
    "leakage", needs=("features", "row_content", "knn", "split"),
    outputs=RowOutputs(flag="is_leaked", detail=("leak_kind", "leak_partner"), metric="leaked"),
    queue=QueueSpec(order="row", position=40),
)
def check_leakage(ctx: AuditContext) -> CheckResult:
    """Exact, near-duplicate and group leaks between every pair of splits."""
    ds = ctx.dataset
    roles = ds.roles
    split = ds.table[roles.split].to_numpy()
    group = ds.table[roles.group].to_numpy() if roles.group is not None else None
    leaks = find_leakage(ctx.features.matrix, split, group=group, raw=_content(ctx), knn=ctx.knn)
    summ = leakage_summary(leaks, split)
    n = ds.n_rows
    is_leaked = np.zeros(n, dtype=bool)
    kind = np.full(n, "", dtype=object)
    partner = np.full(n, -1, dtype=np.int64)
    first = leaks.drop_duplicates("j")  # exact before near before group, per row
    is_leaked[first["j"].to_numpy()] = True
    kind[first["j"].to_numpy()] = first["kind"].to_numpy()
    partner[first["j"].to_numpy()] = first["i"].to_numpy()
    worst = float(summ["share_leaked"].max()) if len(summ) else 0.0
    status = "fail" if worst > FAIL_SHARE else "warn" if is_leaked.any() else "pass"
    ids = ds.ids
    shown = leaks.head(MAX_PAIRS)
    th = leaks.attrs["thresholds"]
    counts = {k: int(leaks.loc[leaks["kind"] == k, "j"].nunique()) for k in ("exact", "near",
                                                                               "group")}
    return CheckResult(
        name="leakage",
        status=status,
        summary={
            "n_leaked_rows": int(is_leaked.sum()),
            "n_exact": counts["exact"], "n_near": counts["near"], "n_group": counts["group"],
            "worst_share_leaked": worst,
            "splits": list(leaks.attrs["splits"]),
        },
        rows=pd.DataFrame({"is_leaked": is_leaked, "leak_kind": kind, "leak_partner": partner}),
        evidence={
            "split_pairs": summ,
            "pairs": [
                {"i": int(r.i), "j": int(r.j), "id_i": str(ids[r.i]), "id_j": str(ids[r.j]),
                 "split_i": r.split_i, "split_j": r.split_j, "kind": r.kind,
                 "distance": float(r.distance)}
                for r in shown.itertuples(index=False)
            ],
            "n_pairs": int(len(leaks)),
        },
        thresholds={
            "near_factor": Threshold(NEAR_FACTOR, "multiple of the median nearest-neighbour "
                                     "distance; cleanlab's rule (0.13 there), factor chosen on "
                                     "benchmarks/leakage.py"),
            "near_distance": Threshold(th.get("near_threshold"), th.get("source", "")),
            "fail_share": Threshold(FAIL_SHARE, "assay default: more than 1 % of an evaluation "
                                    "split leaked"),
        },
        message=(f"{int(is_leaked.sum())} rows leak across splits ({counts['exact']} exact, "
                 f"{counts['near']} near, {counts['group']} group); worst split pair "
                 f"{worst:.1%} leaked." if is_leaked.any() else "No leaks across splits."),
    )


@register_check("target_leakage", needs=("labels",))
def check_target_leakage(ctx: AuditContext) -> CheckResult:
    """Columns that give the label away: far beyond the others alone, ids sorted by label, text."""
    ds = ctx.dataset
    roles = ds.roles
    skip = {roles.label, roles.split, roles.embedding_column}
    cols = [c for c in ds.table.columns if c not in skip][:MAX_TARGET_COLUMNS]
    if not cols:
        return CheckResult(name="target_leakage", status="pass",
                           summary={"n_columns": 0, "n_flagged": 0},
                           message="No columns besides the label to screen.")
    labels = np.asarray(ds.classes, dtype=object)[ds.labels]
    table = ds.table[cols]
    if ds.n_rows > MAX_TARGET_ROWS:  # the screens are per column; a sample is plenty
        rng = np.random.default_rng(ctx.config.random_state)
        keep = np.sort(rng.choice(ds.n_rows, size=MAX_TARGET_ROWS, replace=False))
        table, labels = table.iloc[keep].reset_index(drop=True), labels[keep]
    res = find_target_leakage(table, labels, random_state=ctx.config.random_state)
    flagged = res[res["flagged"]]
    th = res.attrs["thresholds"]
    cand = res.attrs["candidates"]
    reasons = [_leak_reason(r, cand) for r in flagged.itertuples(index=False)]
    return CheckResult(
        name="target_leakage",
        status="warn" if len(flagged) else "pass",
        summary={"n_columns": len(cols), "n_flagged": int(len(flagged)),
                 "flagged_columns": sorted(set(flagged["column"].astype(str))),
                 "n_candidates": int(len(cand))},
        evidence={"columns": res, "candidates": cand},
        thresholds={
            "min_accuracy": Threshold(th["min_accuracy"], "single-column balanced accuracy at "
                                      "which a column is judged against the others: between "
                                      "an honest column at 0.90 and a leak at 0.95"),
            "max_error_ratio": Threshold(th["max_error_ratio"], "a candidate's balanced error "
                                         "over the best other column's; chosen on "
                                         "benchmarks/real_data.py --part leakage"),
            "max_error_auc": Threshold(th["max_error_auc"], "AUC of the other columns' doubt "
                                       "(out-of-fold model) at finding the candidate's "
                                       "mistakes; chosen on benchmarks/real_data.py --part "
                                       "leakage"),
            "order_p_value": Threshold(th["order_p_value"], "runs test on identifier order; "
                                       "assay default"),
            "text_rate": Threshold(th["text_rate"], "share of rows naming their own label (and "
                                   "3x the rate of naming another); assay default"),
        },
        message=("Columns that may give the label away: " + "; ".join(reasons) + "."
                 if len(flagged) else "No column gives the label away."),
    )


def _leak_reason(row: Any, candidates: pd.DataFrame) -> str:
    """Why one flagged column may give the label away, in one clause."""
    name = f"{row.column!s}"
    if row.check == "identifier_order":
        return f"'{name}' is ordered by the label ({row.detail})"
    if row.check == "label_in_text":
        return f"'{name}' names the row's label in {row.score:.0%} of rows"
    ev = candidates[candidates["column"] == row.column]
    if str(row.detail).startswith("a one-to-one recoding") and not (
            len(ev) and ev["flagged"].iloc[0]):
        return f"'{name}' is a one-to-one recoding of the label"
    if not len(ev):
        return f"'{name}' alone reaches {row.score:.2f} balanced accuracy"
    e = ev.iloc[0]
    return (f"'{name}' alone reaches {e['balanced_accuracy']:.2f} balanced accuracy, the best "
            f"other column {e['best_other_accuracy']:.2f} and all other columns together "
            f"{e['rest_accuracy']:.2f}, and its mistakes do not fall where they are unsure "
            f"(AUC {e['error_auc']:.2f}): it knows the label from elsewhere")


@register_check("evaluation_size", needs=("pred_probs", "split"))
def check_evaluation_size(ctx: AuditContext) -> CheckResult:
    """Confidence intervals of accuracy, macro metrics and per-class recall per evaluation split."""
    ds = ctx.dataset
    split = ds.table[ds.roles.split].astype(str).to_numpy()
    res = evaluation_intervals(
        ds.labels, ctx.pred_probs, split=split, classes=ds.class_names(), max_width=MAX_WIDTH,
        n_bootstrap=500, random_state=ctx.config.random_state,
    )
    wide = res[res["too_wide"] & (res["metric"] == "recall")]
    acc_wide = res[res["too_wide"] & (res["metric"] == "accuracy")]
    status = "warn" if len(wide) or len(acc_wide) else "pass"
    return CheckResult(
        name="evaluation_size",
        status=status,
        summary={
            "splits": sorted(set(res["split"])),
            "n_classes_too_wide": int(len(wide)),
            "accuracy_too_wide": bool(len(acc_wide)),
            "max_recall_width": float(res.loc[res["metric"] == "recall", "width"].max())
            if (res["metric"] == "recall").any() else 0.0,
        },
        evidence={"intervals": res,
                  "classes_too_wide": [
                      {"split": r["split"], "class": str(r["class"]), "n": int(r["n"]),
                       "n_needed": int(r["n_needed"]), "n_more": int(r["n_more"])}
                      for _, r in wide.head(200).iterrows()
                  ]},
        thresholds={
            "max_width": Threshold(MAX_WIDTH, "widest 95 % interval that supports a decision; "
                                   "assay default"),
            "confidence": Threshold(0.95, "Wilson for proportions, percentile bootstrap (500) "
                                    "for macro metrics"),
        },
        message=(f"{len(wide)} class recall(s) have 95 % intervals wider than {MAX_WIDTH:g}; "
                 "collect the rows in n_more to narrow them." if len(wide)
                 else "Evaluation splits are large enough for every class."),
    )


@register_check("split_shift", needs=("features", "split"))
def check_split_shift(ctx: AuditContext) -> CheckResult:
    """Do two evaluation splits (valid and test) come from one distribution?"""
    ds = ctx.dataset
    split = ds.table[ds.roles.split].astype(str).to_numpy()
    regression = ctx.task == "regression"  # a numeric target: Kolmogorov-Smirnov, not counts
    res = compare_splits(ctx.features.matrix, split, labels=None if regression else ds.labels,
                         n_permutations=100, random_state=ctx.config.random_state)
    summary = res.to_dict()
    if regression:
        from scipy.stats import ks_2samp

        y = ds.table[ds.roles.label].to_numpy(dtype=np.float64)
        ks = ks_2samp(y[split == res.split_a], y[split == res.split_b])
        summary.update(label_statistic=float(ks.statistic), label_p_value=float(ks.pvalue))
    shifted = res.auc > SHIFT_AUC and res.auc_p_value < 0.05
    label_shift = bool(summary["label_p_value"] < 0.01)
    return CheckResult(
        name="split_shift",
        status="warn" if shifted or label_shift else "pass",
        summary={**summary, "feature_shift": bool(shifted), "label_shift": label_shift},
        thresholds={
            "shift_auc": Threshold(SHIFT_AUC, "domain-classifier AUC; assay default"),
            "auc_p_value": Threshold(0.05, "permutation test, 100 permutations"),
            "label_p_value": Threshold(0.01, "two-sample Kolmogorov-Smirnov test of the target"
                                       if regression else "chi-square test of homogeneity"),
        },
        message=(f"{res.split_a} vs {res.split_b}: domain AUC {res.auc:.2f} "
                 f"(p = {res.auc_p_value:.3f}), label shift p = "
                 f"{summary['label_p_value']:.3g}."),
    )
