"""Extrapolating learning curves: fit on up to 25 % of the data, predict the score at 100 %.

For each dataset and model, one learning curve is measured (geometric sizes from about 2 % to
100 % of the training pool, several seeds, a fixed evaluation split). Every family, the
automatic choice, and the peer (scipy ``curve_fit`` of ``acc = c - a n^-b`` on the mean curve
in linear space, the usual naive recipe) are fitted on the sizes up to 25 % and asked for the
score at 100 %. ``samples_for`` is asked for the size that reaches the score measured at 50 %
and at 100 %, and compared with the smallest measured size that truly reached it.

The issue's goals are judged on the first four curves (digits and MNIST-1D with logistic
regression, MNIST-1D with an MLP, a long-tailed synthetic set); three more (MNIST-1D with a 1-D
CNN and a random forest, digits with an MLP) are reported beside them as a wider check
(``--no-extra`` to skip; the CNN needs torch).

Run ``python benchmarks/curve_extrapolation.py`` (``--quick`` for a small version).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from assay.curves import FAMILIES, fit_learning_curve, learning_curve


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    return Xtr, ytr, Xte, yte


def _mnist1d():
    import mnist1d.data as md

    args = md.get_dataset_args()
    data = md.make_dataset(args)  # generated offline from templates (seed 42)
    return data["x"], data["y"], data["x_test"], data["y_test"]


def _longtail(n=6_000, k=10, zipf=1.2):
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    w = 1.0 / np.arange(1, k + 1) ** zipf
    X, y = make_classification(n_samples=n, n_features=20, n_informative=12, n_classes=k,
                               n_clusters_per_class=1, weights=list(w / w.sum()),
                               class_sep=1.2, flip_y=0.0, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    return Xtr, ytr, Xte, yte


def _models(quick: bool):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from assay.models import default_estimator

    mlp = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(128, 128), max_iter=150 if quick else 400, early_stopping=False,
        alpha=1e-3, random_state=0))
    return {"logreg": default_estimator(), "mlp": mlp}


def _extra_models():
    from sklearn.ensemble import RandomForestClassifier

    models = {"forest": RandomForestClassifier(200, random_state=0, n_jobs=1)}
    try:
        from _cnn1d import CNN1D
    except ImportError:  # no torch
        return models
    models["cnn"] = CNN1D()
    return models


def _peer_predict(n, acc, n_target):
    """Naive peer: least squares of ``c - a n^-b`` on the mean accuracy, linear space."""
    f = lambda x, a, b, c: c - a * np.power(x, -b)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p, _ = curve_fit(f, n, acc, p0=(1.0, 0.5, float(acc.max())), maxfev=20_000)
        except RuntimeError:
            return math.nan, (1.0, 0.5, float(acc.max()))
    return float(f(n_target, *p)), p


def _peer_samples(p, target):
    a, b, c = p
    gap = c - target
    if gap <= 0 or a <= 0 or b <= 0:
        return math.inf
    return float((gap / a) ** (-1.0 / b))


def evaluate(name: str, curve: pd.DataFrame, metric: str = "accuracy") -> list[dict]:
    n_pool = int(curve["n_train"].max())
    mean = curve.groupby("n_train")[metric].mean()
    truth = float(mean.iloc[-1])
    fit_rows = curve[curve["n_train"] <= 0.25 * n_pool + 1]
    n, s = fit_rows["n_train"].to_numpy(float), fit_rows[metric].to_numpy(float)
    rows = []
    targets = {"50%": float(mean[mean.index <= 0.5 * n_pool + 1].iloc[-1]), "100%": truth}
    needed = {k: float(mean.index[np.argmax(mean.to_numpy() >= t - 1e-12)])
              for k, t in targets.items()}
    fits = {}
    t0 = time.perf_counter()
    fits["auto"] = fit_learning_curve(n, s, n_bootstrap=200, random_state=0)
    auto_seconds = time.perf_counter() - t0
    for fam in FAMILIES:
        fits[fam] = fit_learning_curve(n, s, family=fam, n_bootstrap=200, random_state=0)
    for label, fit in fits.items():
        rec = {"dataset": name, "method": label if label != "auto" else f"auto ({fit.family})",
               "pred_100": float(fit.predict(n_pool)), "true_100": truth,
               "abs_err_pts": 100 * abs(float(fit.predict(n_pool)) - truth)}
        for k, t in targets.items():
            req = fit.samples_for(t)
            rec[f"ratio_{k}"] = req.n / needed[k]
            rec[f"capped_{k}"] = req.capped
            rec[f"ratio_uncapped_{k}"] = fit.samples_for(t, max_growth=math.inf).n / needed[k]
            rec[f"ratio_point_{k}"] = req.n_point / needed[k]
        if label == "auto":
            rec["fit_seconds"] = auto_seconds
            rec["power_law_region"] = fit.quality.power_law
        rows.append(rec)
    agg = fit_rows.groupby("n_train")[metric].mean()
    pred, p = _peer_predict(agg.index.to_numpy(float), agg.to_numpy(), n_pool)
    rec = {"dataset": name, "method": "peer: curve_fit pow3", "pred_100": pred,
           "true_100": truth, "abs_err_pts": 100 * abs(pred - truth)}
    for k, t in targets.items():
        rec[f"ratio_{k}"] = rec[f"ratio_point_{k}"] = _peer_samples(p, t) / needed[k]
        rec[f"ratio_uncapped_{k}"] = rec[f"ratio_{k}"]
    rows.append(rec)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes and seeds, no MLP")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--no-extra", action="store_true",
                    help="only the four curves the goals are judged on")
    ap.add_argument("--cache", default=None,
                    help="folder to keep the measured curves in (parquet) and reuse on a rerun")
    args = ap.parse_args()
    seeds = 2 if args.quick else 3
    sizes = np.geomspace(0.02, 1.0, 8 if args.quick else 11)
    models = _models(args.quick)
    jobs = [("digits / logreg", _digits, "logreg"),
            ("mnist1d / logreg", _mnist1d, "logreg"),
            ("mnist1d / mlp", _mnist1d, "mlp"),
            ("longtail / logreg", _longtail, "logreg")]
    if args.quick:
        jobs = [j for j in jobs if j[2] != "mlp"]
    goal_set = {j[0] for j in jobs}
    if not (args.quick or args.no_extra):
        extra = _extra_models()
        models.update(extra)
        jobs += [j for j in [("mnist1d / cnn", _mnist1d, "cnn"),
                             ("mnist1d / forest", _mnist1d, "forest"),
                             ("digits / mlp", _digits, "mlp")] if j[2] in models]
    rows = []
    for name, loader, model in jobs:
        cached = None
        if args.cache:
            cached = Path(args.cache) / (name.replace(" / ", "-") + f"-{len(sizes)}x{seeds}.parquet")
        t0 = time.perf_counter()
        if cached is not None and cached.exists():
            curve = pd.read_parquet(cached)
        else:
            Xtr, ytr, Xte, yte = loader()
            curve = learning_curve(Xtr, ytr, estimator=models[model], sizes=sizes,
                                   n_seeds=seeds, eval_set=(Xte, yte), random_state=0,
                                   n_jobs=args.n_jobs)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                curve.to_parquet(cached)
        print(f"{name}: curve of {len(curve)} fits in {time.perf_counter() - t0:.1f}s; "
              f"accuracy at 100 % = {curve.groupby('n_train')['accuracy'].mean().iloc[-1]:.4f}",
              flush=True)
        rows += evaluate(name, curve)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    cols = ["dataset", "method", "pred_100", "true_100", "abs_err_pts", "ratio_50%",
            "ratio_100%", "ratio_uncapped_50%", "ratio_uncapped_100%", "ratio_point_50%",
            "ratio_point_100%"]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    auto = df[df["method"].str.startswith("auto")]
    peer = df[df["method"].str.startswith("peer")]
    summary = pd.DataFrame({
        "dataset": auto["dataset"].to_numpy(),
        "auto_err_pts": auto["abs_err_pts"].to_numpy(),
        "peer_err_pts": peer["abs_err_pts"].to_numpy(),
    })
    summary["ratio (auto/peer)"] = summary["auto_err_pts"] / summary["peer_err_pts"]
    print("\nSide by side (absolute error of the predicted accuracy at 100 %, points):")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    named = df.assign(m=df["method"].str.replace(r"auto \(.*\)", "auto", regex=True))
    goal = named[named["dataset"].isin(goal_set)]
    print("\nMedian absolute error (points) per method over the goal's curves:")
    print(goal.groupby("m")["abs_err_pts"].median().to_string(float_format=lambda v: f"{v:.3f}"))
    if len(goal) < len(named):
        print("\n... and over all curves, the extra ones included:")
        print(named.groupby("m")["abs_err_pts"].median().to_string(
            float_format=lambda v: f"{v:.3f}"))
    worst = auto[["ratio_50%", "ratio_100%"]].to_numpy()
    print(f"\nauto samples_for (conservative, default): max ratio to the truly needed size = "
          f"{np.nanmax(worst):.3f}; without the one-round cap "
          f"{np.nanmax(auto[['ratio_uncapped_50%', 'ratio_uncapped_100%']].to_numpy()):.3f}; "
          f"point estimate max = "
          f"{np.nanmax(auto[['ratio_point_50%', 'ratio_point_100%']].to_numpy()):.3f}")
    print("fitted sizes in their power-law region (quality.power_law): " + ", ".join(
        f"{d} {p}" for d, p in auto[["dataset", "power_law_region"]].itertuples(index=False)))
    print("capped recommendations (target: 50 % / 100 %): " + ", ".join(
        f"{d} {c50}/{c100}" for d, c50, c100 in auto[["dataset", "capped_50%", "capped_100%"]]
        .itertuples(index=False)))


if __name__ == "__main__":
    main()
