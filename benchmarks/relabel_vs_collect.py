"""Relabel or collect: what is cleaning 20 % label noise worth, in data?

Inject 20 % uniform label noise into the training pool, then measure three learning curves on the
same evaluation split (true labels): the noisy labels as they are; the noisy labels cleaned by
the audit (rows flagged by ``assay.labels.find_label_issues`` on out-of-fold probabilities
removed); and the true labels. The effective data multiplier is how many times more noisy rows
give the score the other curve reaches with all its rows (``assay.curves.data_multiplier``).
The peer cleans with cleanlab's ``find_label_issues`` on the same probabilities.

Run ``python benchmarks/relabel_vs_collect.py`` (``--quick`` for a small version).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from assay.curves import data_multiplier, fit_learning_curve, learning_curve


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def _mnist1d():
    import mnist1d.data as md

    d = md.make_dataset(md.get_dataset_args())  # generated offline
    return d["x"], d["x_test"], d["y"], d["y_test"]


def _synthetic():
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=5_000, n_features=20, n_informative=12, n_classes=5,
                               class_sep=1.0, random_state=0)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def _noisy(y: np.ndarray, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = int(y.max()) + 1
    flip = rng.random(y.size) < rate
    out = y.copy()
    out[flip] = (y[flip] + rng.integers(1, k, flip.sum())) % k  # always a different class
    return out, flip


def _interp_multiplier(reference: pd.DataFrame, improved: pd.DataFrame) -> float:
    """Fit-free check: rows of ``improved`` (log-linear interpolation of its measured mean
    curve) that reach the reference's measured full-size score; nan when below the smallest
    measured size or never reached."""
    ref = reference.groupby("n_train")["accuracy"].mean()
    imp = improved.groupby("n_train")["accuracy"].mean()
    target = float(ref.iloc[-1])
    acc = np.maximum.accumulate(imp.to_numpy())
    n = imp.index.to_numpy(float)
    if target < acc[0] or target > acc[-1]:
        return math.nan
    i = int(np.argmax(acc >= target))
    if i == 0:
        return float(ref.index[-1] / n[0])
    frac = (target - acc[i - 1]) / max(acc[i] - acc[i - 1], 1e-12)
    need = math.exp(math.log(n[i - 1]) + frac * (math.log(n[i]) - math.log(n[i - 1])))
    return float(ref.index[-1] / need)


def run(name, loader, *, rate, sizes, seeds, n_jobs):
    import cleanlab.filter

    from assay.labels import find_label_issues
    from assay.models import cross_val_pred_probs

    Xtr, Xte, ytr, yte = loader()
    rng = np.random.default_rng(0)
    noisy, flip = _noisy(ytr, rate, rng)
    probs = cross_val_pred_probs(Xtr, noisy, random_state=0, n_jobs=n_jobs)
    masks = {
        "assay": find_label_issues(noisy, probs),
        "cleanlab": cleanlab.filter.find_label_issues(noisy, probs),
    }
    common = dict(sizes=sizes, n_seeds=seeds, eval_set=(Xte, yte), random_state=0, n_jobs=n_jobs)
    t0 = time.perf_counter()
    curves = {"as is": learning_curve(Xtr, noisy, **common),
              "true labels": learning_curve(Xtr, ytr, **common)}
    for who, m in masks.items():
        curves[f"cleaned ({who})"] = learning_curve(Xtr[~m], noisy[~m], **common)
    seconds = time.perf_counter() - t0
    fits = {k: fit_learning_curve(c["n_train"], c["accuracy"], n_bootstrap=0)
            for k, c in curves.items()}
    n_raw = int(curves["as is"]["n_train"].max())
    rows = []
    for k, c in curves.items():
        full = c.groupby("n_train")["accuracy"].mean()
        m = masks.get(k.split("(")[-1].rstrip(")")) if "cleaned" in k else None
        rec = {"dataset": name, "curve": k, "n_train": int(full.index[-1]),
               "acc_100": float(full.iloc[-1]), "family": fits[k].family,
               "multiplier": data_multiplier(fits["as is"], fits[k], n_raw),
               "multiplier_interp": _interp_multiplier(curves["as is"], c)}
        if m is not None:
            tp = int(np.sum(m & flip))
            rec["flagged"] = int(m.sum())
            rec["precision"] = tp / max(int(m.sum()), 1)
            rec["recall"] = tp / max(int(flip.sum()), 1)
            # Collect-vs-clean: extra noisy rows to match the cleaned curve's full score,
            # per flagged row reviewed.
            need = fits["as is"].samples_for(min(rec["acc_100"], 1.0), conservative=False).n_point
            rec["break_even_cost_ratio"] = (max(need - n_raw, 0) / rec["flagged"]
                                            if math.isfinite(need) else math.inf)
        rows.append(rec)
    print(f"{name}: 4 curves in {seconds:.1f}s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rate", type=float, default=0.2)
    ap.add_argument("--n-jobs", type=int, default=1)
    args = ap.parse_args()
    sizes = np.geomspace(0.05, 1.0, 6 if args.quick else 8)
    seeds = 2 if args.quick else 3
    jobs = [("digits", _digits), ("synthetic-5", _synthetic)]
    if not args.quick:
        jobs.append(("mnist1d", _mnist1d))
    rows = []
    for name, loader in jobs:
        rows += run(name, loader, rate=args.rate, sizes=sizes, seeds=seeds, n_jobs=args.n_jobs)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    a = df[df["curve"] == "cleaned (assay)"].reset_index(drop=True)
    c = df[df["curve"] == "cleaned (cleanlab)"].reset_index(drop=True)
    side = pd.DataFrame({"dataset": a["dataset"], "assay multiplier": a["multiplier"],
                         "cleanlab multiplier": c["multiplier"],
                         "ratio": a["multiplier"] / c["multiplier"],
                         "assay (interp)": a["multiplier_interp"],
                         "cleanlab (interp)": c["multiplier_interp"]})
    print("\nSide by side (effective data multiplier of cleaning, labelled 20 % noise):")
    print(side.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
