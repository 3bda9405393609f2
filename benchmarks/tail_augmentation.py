"""Feature-space tail augmentation: does it lift the few-shot classes, against SMOTE?

Long-tailed training sets (the CIFAR-LT exponential profile, ``assay.longtail.make_long_tailed``)
from digits (8x8 pixels, standardised) and MNIST-1D (40 steps, standardised), a balanced test
set, a logistic-regression head. Methods on the same rows in the same run: no augmentation;
random oversampling of the tail rows; SMOTE (imbalanced-learn, the peer a competent user
reaches for; ``k_neighbors`` capped by the tail size); class-balanced weights
(``class_weight="balanced"``); ``assay.longtail.augment_tail`` (distribution calibration). Every
augmenting method brings the tail classes (fewer than ``few`` rows) to the same target count.
Reported: balanced accuracy and the few-shot classes' accuracy, mean over seeds.

Run ``python benchmarks/tail_augmentation.py`` (``--quick``: 2 seeds).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from assay.longtail import augment_tail, make_long_tailed

FEW = 20


def _digits():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def _mnist1d():
    import mnist1d.data as md

    d = md.make_dataset(md.get_dataset_args())
    return np.vstack([d["x"], d["x_test"]]), np.concatenate([d["y"], d["y_test"]])


DATASETS = {"digits": (_digits, 50, 120), "MNIST-1D": (_mnist1d, 100, 300)}


def _fit_score(x, y, xt, yt, few_classes, weights=None):
    m = LogisticRegression(max_iter=2000, C=1.0, class_weight=weights)
    m.fit(x, y)
    pred = m.predict(xt)
    recall = np.array([np.mean(pred[yt == c] == c) for c in np.unique(yt)])
    return float(recall.mean()), float(recall[few_classes].mean())


def run(seeds: int) -> pd.DataFrame:
    from imblearn.over_sampling import SMOTE

    rows = []
    for name, (load, ratio, n_max) in DATASETS.items():
        x_all, y_all = load()
        x_all = x_all.astype(float)
        for seed in range(seeds):
            pool, test = train_test_split(np.arange(y_all.size), test_size=0.3,
                                          stratify=y_all, random_state=seed)
            keep = pool[make_long_tailed(y_all[pool], imbalance_ratio=ratio, n_max=n_max,
                                         random_state=seed)]
            scaler = StandardScaler().fit(x_all[keep])
            x, y = scaler.transform(x_all[keep]), y_all[keep]
            xt, yt = scaler.transform(x_all[test]), y_all[test]
            counts = np.bincount(y)
            few = np.flatnonzero(counts < FEW)
            target = int(np.median(counts[counts >= FEW]))
            t0 = time.perf_counter()
            aug = augment_tail(x, y, target=target, few=FEW, random_state=seed)
            t_assay = time.perf_counter() - t0
            reps = []
            for c in few:  # random oversampling to the same target
                idx = np.flatnonzero(y == c)
                reps.append(np.random.default_rng(seed).choice(idx, target - idx.size))
            over = np.concatenate(reps) if reps else np.empty(0, dtype=int)
            k_smote = max(1, min(5, int(counts[few].min()) - 1))
            strategy = {int(c): target for c in few}
            t0 = time.perf_counter()
            xs, ys = SMOTE(sampling_strategy=strategy, k_neighbors=k_smote,
                           random_state=seed).fit_resample(x, y)
            t_smote = time.perf_counter() - t0
            variants = {
                "none": (x, y, None),
                "oversample": (np.vstack([x, x[over]]), np.concatenate([y, y[over]]), None),
                "class-balanced weights": (x, y, "balanced"),
                "SMOTE": (xs, ys, None),
                "assay augment_tail": (np.vstack([x, aug.features]),
                                       np.concatenate([y, aug.labels]), None),
            }
            for method, (xa, ya, w) in variants.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    bal, fs = _fit_score(xa, ya, xt, yt, few, w)
                rows.append({"data": name, "seed": seed, "method": method,
                             "balanced_accuracy": bal, "few_shot_accuracy": fs,
                             "n_train": int(ya.size), "n_few_classes": int(few.size),
                             "seconds": t_assay if method.startswith("assay") else
                             (t_smote if method == "SMOTE" else float("nan"))})
            print(f"{name} seed {seed} done", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    seeds = 2 if args.quick else args.seeds
    print(f"load average {os.getloadavg()[0]:.1f}; {seeds} seeds; tail = classes under {FEW} "
          "rows")
    res = run(seeds)
    table = res.groupby(["data", "method"], sort=False)[
        ["balanced_accuracy", "few_shot_accuracy", "n_train", "seconds"]].mean()
    with pd.option_context("display.width", 160):
        print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    base = res[res.method == "SMOTE"].set_index(["data", "seed"])
    ours = res[res.method == "assay augment_tail"].set_index(["data", "seed"])
    diff = (ours["few_shot_accuracy"] - base["few_shot_accuracy"]).groupby("data")
    print("\nfew-shot accuracy, assay - SMOTE, per seed:")
    for data, d in diff:
        print(f"  {data}: mean {d.mean():+.3f}, better on {int((d > 0).sum())} of {d.size} seeds "
              f"({' '.join(f'{v:+.3f}' for v in d)})")


if __name__ == "__main__":
    main()
