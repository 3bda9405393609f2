"""Do values find corrupted labels? The Data-OOB authors' protocol on offline datasets.

For each dataset and seed: sample train / valid / test sets, flip 10 % of the *training*
labels only (validation and test labels stay clean), value the training points, and score the
values as a detector of the flipped points: F1 of the k-means (k = 2) low cluster and recall
among the |flipped| lowest (plus AUROC). Mean and standard error over seeds. Then point-removal
curves: retrain after removing the lowest- / highest-valued points first vs random removal.

Methods: KNN-Shapley (K = 5, scored on the validation set), Data-OOB (200 trees), and the Monte
Carlo semivalues with a logistic-regression utility on the validation set: Banzhaf (MSR), TMC
Shapley and Beta(16, 1) Shapley (``beta-shapley``; budgeted: the Monte Carlo methods run on the smaller
``--mc-train`` training size).

    python benchmarks/valuation_quality.py --quick
    python benchmarks/valuation_quality.py --seeds 10
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from assay.valuation import (
    ModelUtility,
    banzhaf,
    beta_shapley,
    data_oob,
    flip_labels,
    knn_shapley,
    noisy_detection,
    removal_curve,
    tmc_shapley,
)


def load(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
    elif name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        x, y = load_breast_cancer(return_X_y=True)
    elif name == "mnist1d":
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples, args.seed = 4000, 0
        data = make_dataset(args)
        x, y = data["x"], data["y"]
    else:  # synthetic
        from sklearn.datasets import make_classification

        x, y = make_classification(n_samples=3000, n_features=20, n_informative=8,
                                   n_classes=2, random_state=0)
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0), np.asarray(y)


def split(x, y, n_train, n_valid, n_test, seed):
    n_train = min(n_train, int(0.6 * len(y)))  # small datasets (breast cancer: 569 rows)
    idx = np.random.default_rng(seed).permutation(len(y))
    a, b = n_train, n_train + n_valid
    c = min(b + n_test, len(y))
    return (x[idx[:a]], y[idx[:a]]), (x[idx[a:b]], y[idx[a:b]]), (x[idx[b:c]], y[idx[b:c]])


def logreg():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=200)


def value_all(method, xtr, ytr, xva, yva, seed, mc_samples):
    if method == "knn-shapley":
        return knn_shapley(xtr, ytr, xva, yva, k=5)
    if method == "data-oob":
        return data_oob(xtr, ytr, n_estimators=200, random_state=seed)
    util = ModelUtility(logreg(), xtr, ytr, xva, yva)
    fn = {"banzhaf": banzhaf, "tmc-shapley": tmc_shapley, "beta-shapley": beta_shapley}[method]
    kw = {"truncation_rtol": 0.01} if method == "tmc-shapley" else {}
    return fn(util, max_samples=mc_samples, rtol=None, random_state=seed, **kw).values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--datasets", default="digits,breast_cancer,mnist1d,synthetic")
    ap.add_argument("--methods", default="knn-shapley,data-oob,banzhaf,tmc-shapley,beta-shapley")
    ap.add_argument("--n-train", type=int, default=500)
    ap.add_argument("--mc-train", type=int, default=100, help="training size for MC methods")
    ap.add_argument("--mc-samples", type=int, default=200)
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.n_train, args.mc_train, args.mc_samples = 3, 300, 60, 60
    methods = args.methods.split(",")
    results = []
    print(f"{'dataset':>14} {'method':>12} | {'F1 (k-means)':>14} {'recall@noisy':>14} "
          f"{'AUROC':>14} | {'seconds':>7}")
    for ds in args.datasets.split(","):
        x, y = load(ds, 0)
        for method in methods:
            n_train = args.mc_train if method in ("banzhaf", "tmc-shapley", "beta-shapley") \
                else args.n_train
            scores, curves, secs = [], [], []
            for seed in range(args.seeds):
                (xtr, ytr), (xva, yva), (xte, yte) = split(x, y, n_train, 100, 500, seed)
                noisy, flipped = flip_labels(ytr, 0.1, random_state=seed)
                t = time.perf_counter()
                v = value_all(method, xtr, noisy, xva, yva, seed, args.mc_samples)
                secs.append(time.perf_counter() - t)
                r = noisy_detection(v, flipped, random_state=seed)
                scores.append((r.f1_kmeans, r.recall_at_noisy, r.auroc))
                if seed == 0:
                    fr = [0.0, 0.1, 0.2, 0.3]
                    curves.append({o: removal_curve(v, xtr, noisy, xte, yte, order=o,
                                                    fractions=fr, estimator=logreg(),
                                                    random_state=seed)["score"].round(4).tolist()
                                   for o in ("low", "high", "random")})
            s = np.array(scores)
            mean, se = s.mean(0), s.std(0, ddof=1) / np.sqrt(len(s)) if len(s) > 1 else 0 * s[0]
            cells = " ".join(f"{m:6.3f}±{e:5.3f}  " for m, e in zip(mean, se, strict=True))
            print(f"{ds:>14} {method:>12} | {cells}| {np.mean(secs):7.2f}", flush=True)
            results.append({"dataset": ds, "method": method, "n_train": len(ytr),
                            "seeds": args.seeds, "f1": mean[0], "f1_se": se[0],
                            "recall": mean[1], "recall_se": se[1], "auroc": mean[2],
                            "auroc_se": se[2], "seconds": float(np.mean(secs)),
                            "removal_seed0_fractions_0_.1_.2_.3": curves[0]})
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
