"""Label-error detection quality: assay vs cleanlab on the same out-of-fold probabilities.

Datasets that ship offline: scikit-learn's digits, breast cancer and wine, and MNIST-1D (the
``mnist1d`` package generates it). Noise: 10 % and 30 % uniform flips to another class, and a
class-conditional noise (30 % of each class flipped to the next class, c -> c + 1). Both tools
get the same 5-fold out-of-fold probabilities (standardised logistic regression; for MNIST-1D,
where a linear model reaches only about 32 % accuracy, an MLP (``mnist1d``) or the paper's small
1-D CNN (``mnist1d-cnn``, needs torch)). Reported per row, mean over seeds: precision, recall, F1,
AUROC of the ranking, and assay's estimated precision and error count next to the actual ones,
with the share of seeds where assay called its estimates reliable.

Run: ``python benchmarks/label_noise.py`` (``--quick`` for 2 seeds on the small sets).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from assay.labels import (
    estimate_label_issues,
    find_label_issues,
    reviewed_precision,
    spot_check_size,
)
from assay.models import cross_val_pred_probs, default_estimator


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, object]:
    from sklearn import datasets

    if name.startswith("mnist1d"):
        from mnist1d.data import get_dataset_args, make_dataset
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        d = make_dataset(get_dataset_args())
        x = np.vstack([d["x"], d["x_test"]])
        y = np.concatenate([d["y"], d["y_test"]])
        if name == "mnist1d-cnn":
            from _cnn1d import CNN1D

            return x, y, CNN1D()
        model = make_pipeline(StandardScaler(), MLPClassifier((256, 256), max_iter=300,
                                                              early_stopping=True, random_state=0))
        return x, y, model
    loader = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer,
              "wine": datasets.load_wine}[name]
    x, y = loader(return_X_y=True)
    return x, y, default_estimator(0)


def inject(y: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = int(y.max()) + 1
    noisy = y.copy()
    if kind.startswith("uniform"):
        rate = float(kind.split("-")[1]) / 100
        flip = rng.random(len(y)) < rate
        noisy[flip] = (y[flip] + rng.integers(1, k, flip.sum())) % k
    else:  # class-conditional: c -> c + 1 with probability 0.3
        flip = rng.random(len(y)) < 0.3
        noisy[flip] = (y[flip] + 1) % k
    return noisy, noisy != y


def scores(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float((flags & truth).sum())
    p = tp / max(flags.sum(), 1)
    r = tp / max(truth.sum(), 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def run(datasets: list[str], noises: list[str], seeds: int) -> pd.DataFrame:
    from cleanlab.filter import find_label_issues as cl_find
    from cleanlab.rank import get_label_quality_scores as cl_scores
    from sklearn.metrics import roc_auc_score

    rows = []
    for name in datasets:
        x, y, model = load_dataset(name)
        for noise in noises:
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                noisy, truth = inject(y, noise, rng)
                if name == "mnist1d-cnn":
                    model.set_params(random_state=seed)
                probs = cross_val_pred_probs(x, noisy, estimator=model, random_state=seed,
                                             n_jobs=1 if name == "mnist1d-cnn" else None)
                t0 = time.perf_counter()
                ours = find_label_issues(noisy, probs)
                est = estimate_label_issues(noisy, probs, flagged=ours)
                t_ours = time.perf_counter() - t0
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    theirs = cl_find(noisy, probs, n_jobs=1)
                    t_theirs = time.perf_counter() - t0
                    their_rank = cl_scores(noisy, probs)
                p, r, f = scores(ours, truth)
                cp, cr, cf = scores(theirs, truth)
                # the review app's spot check, with a reviewer who knows the truth: uniform
                # random samples of spot_check_size(n_flagged) flagged rows, 200 draws per run
                flagged_rows = np.flatnonzero(ours)
                m = spot_check_size(flagged_rows.size)
                draws = np.random.default_rng(1000 + seed)
                spots = [reviewed_precision(truth[draws.choice(flagged_rows, m, replace=False)],
                                            n_flagged=flagged_rows.size) for _ in range(200)]
                spot_err = np.array([abs(sp.precision - p) for sp in spots])
                spot_cover = np.mean([sp.low <= p <= sp.high for sp in spots])
                rows.append({
                    "dataset": name, "noise": noise, "seed": seed,
                    "model_acc": float((probs.argmax(1) == noisy).mean()),
                    "assay_P": p, "assay_R": r, "assay_F1": f,
                    "assay_AUROC": roc_auc_score(truth, est.error_probability),
                    "cleanlab_P": cp, "cleanlab_R": cr, "cleanlab_F1": cf,
                    "cleanlab_AUROC": roc_auc_score(truth, -their_rank),
                    "est_precision": est.estimated_precision,
                    "est_errors": est.n_estimated, "true_errors": int(truth.sum()),
                    "est_errors_ratio": est.n_estimated / max(int(truth.sum()), 1),
                    "calibration_gap": est.calibration_gap, "reliable": float(est.reliable),
                    "est_minus_actual_seed": est.estimated_precision - p,
                    "in_interval": (float(est.precision_low <= p <= est.precision_high)
                                    if est.reliable else float("nan")),
                    "spot_n": m, "spot_err_q95": float(np.quantile(spot_err, 0.95)),
                    "spot_within_0.1": float(np.mean(spot_err <= 0.1)),
                    "spot_covers": float(spot_cover),
                    "assay_s": t_ours, "cleanlab_s": t_theirs,
                })
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", default=None,
                    help="comma-separated subset of digits,breast_cancer,wine,mnist1d,mnist1d-cnn")
    args = ap.parse_args()
    datasets = ["digits", "breast_cancer", "wine"] + ([] if args.quick else ["mnist1d", "mnist1d-cnn"])
    if args.datasets:
        datasets = args.datasets.split(",")
    seeds = 2 if args.quick else args.seeds
    df = run(datasets, ["uniform-10", "uniform-30", "class-conditional-30"], seeds)
    g = df.groupby(["dataset", "noise"], sort=False).mean(numeric_only=True)
    g["F1_ratio"] = g["assay_F1"] / g["cleanlab_F1"]
    g["est_minus_actual_P"] = g["est_precision"] - g["assay_P"]
    cols = ["model_acc", "assay_P", "assay_R", "assay_F1", "cleanlab_P", "cleanlab_R",
            "cleanlab_F1", "F1_ratio", "assay_AUROC", "cleanlab_AUROC", "est_precision",
            "est_minus_actual_P", "est_errors_ratio", "calibration_gap", "reliable", "spot_n",
            "spot_err_q95", "spot_within_0.1", "spot_covers"]
    pd.set_option("display.width", 250)
    print(g[cols].round(3).to_string())
    print()
    print(f"mean F1: assay {g['assay_F1'].mean():.3f}  cleanlab {g['cleanlab_F1'].mean():.3f}")
    print(f"rows where assay F1 >= cleanlab F1: {(g['assay_F1'] >= g['cleanlab_F1'] - 1e-12).sum()}"
          f" / {len(g)}")
    print(f"max |estimated - actual precision|: {g['est_minus_actual_P'].abs().max():.3f} (rows), "
          f"{df['est_minus_actual_seed'].abs().max():.3f} (single runs)")
    rel = df[df["reliable"] == 1.0]
    if len(rel):
        print(f"runs assay called reliable: {len(rel)} / {len(df)}; max |estimated - actual| "
              f"among them {rel['est_minus_actual_seed'].abs().max():.3f}; the stated "
              f"interval holds the actual in {int(rel['in_interval'].sum())} / {len(rel)}; "
              f"error count "
              f"estimated / true {rel['est_errors_ratio'].min():.2f}-"
              f"{rel['est_errors_ratio'].max():.2f}")
    print(f"spot check ({df['spot_n'].min()}-{df['spot_n'].max()} random flagged rows reviewed, "
          f"200 draws per run): measured within 0.1 of the actual in "
          f"{df['spot_within_0.1'].mean():.1%} of draws (worst run "
          f"{df['spot_within_0.1'].min():.1%}); the 95 % interval covers the actual in "
          f"{df['spot_covers'].mean():.1%} (worst run {df['spot_covers'].min():.1%})")
    unrel = df[df["reliable"] == 0.0]
    if len(unrel):
        print(f"runs called unreliable: {len(unrel)}; estimate - actual "
              f"{unrel['est_minus_actual_seed'].min():+.3f} to "
              f"{unrel['est_minus_actual_seed'].max():+.3f}")
    print(f"seeds: {seeds}; flagging time per run: assay {df['assay_s'].mean() * 1e3:.1f} ms, "
          f"cleanlab {df['cleanlab_s'].mean() * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
