"""Long-tail recipes on fixed features: digits-LT and MNIST-1D-LT (CIFAR-LT profile, IR 100 / 10).

For each dataset, imbalance ratio and seed: a balanced test set and a small balanced validation
set are held out per class; the training pool is subsampled with the CIFAR-LT exponential
profile (``assay.longtail.make_long_tailed``). Features are fixed (no backbone training):
standardised pixels for digits, a frozen seeded random ReLU projection (40 -> 512) for MNIST-1D.
A linear head is trained with each recipe (``assay.torch.fit_head``, defaults: 30 epochs, Adam
lr 0.05, batch 128). Post-hoc rows adjust the CE head's logits by ``-tau log pi`` with tau = 1
or tau chosen on the validation rows. The peer is scikit-learn's LogisticRegression (plain and
``class_weight="balanced"``) on the same features. Reported: many / medium / few / overall
(balanced test, so overall = mean class accuracy), mean and standard deviation over seeds, the
ratio of each method's overall accuracy to CE's, and the prior-shift curve.

Run: ``python benchmarks/longtail.py`` (about 3-6 minutes on 2 CPU cores) or ``--quick``.
``--lrs 0.05,auto`` trains every head once per learning-rate setting on the same splits (fixed
0.05 with cosine decay, and ``lr="auto"``: range test + one-cycle) and ends each block with a
side-by-side table of balanced and few-shot accuracy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y.astype(np.int64)


def _mnist1d() -> tuple[np.ndarray, np.ndarray]:
    import mnist1d.data as m1d

    args = m1d.get_dataset_args()
    args.num_samples = 6000
    data = m1d.make_dataset(args)  # generated locally from templates, no download
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    proj = np.random.default_rng(0).normal(scale=1 / np.sqrt(40), size=(40, 512))
    return np.maximum(x @ proj, 0).astype(np.float32), y  # frozen random "backbone"


def _split(y: np.ndarray, n_test: int, n_val: int, ir: float, seed: int):
    from assay.longtail import make_long_tailed

    rng = np.random.default_rng(seed)
    test, val, pool = [], [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        test.append(rows[:n_test])
        val.append(rows[n_test:n_test + n_val])
        pool.append(rows[n_test + n_val:])
    pool_idx = np.concatenate(pool)
    n_max = min(len(p) for p in pool)
    keep = make_long_tailed(y[pool_idx], imbalance_ratio=ir, random_state=seed, n_max=n_max)
    return pool_idx[keep], np.concatenate(val), np.concatenate(test)


def _one(x, y, tr, va, te, seed, epochs, few, lr=0.05):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from assay.longtail import (
        adjust_logits,
        group_accuracy,
        prior_from_counts,
        prior_shift_curve,
        select_posthoc_tau,
    )
    from assay.torch import fit_head

    counts = np.bincount(y[tr], minlength=int(y.max()) + 1)
    prior = prior_from_counts(counts)
    preds: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    fits = {}
    for recipe in ("ce", "cb", "focal", "ldam-drw", "logit-adjusted", "balanced-softmax",
                   "crt"):
        fit = fit_head(x[tr], y[tr], recipe=recipe, epochs=epochs, random_state=seed, lr=lr)
        fits[recipe] = fit
        preds[recipe] = fit.predict(x[te])
        seconds[recipe] = fit.train_seconds
    ce_logits = fits["ce"].logits(x[te])
    preds["ce + post-hoc tau=1"] = adjust_logits(ce_logits, prior, tau=1.0).argmax(1)
    tau, _ = select_posthoc_tau(fits["ce"].logits(x[va]), y[va], prior)
    preds["ce + post-hoc tau=val"] = adjust_logits(ce_logits, prior, tau=tau).argmax(1)
    seconds["ce + post-hoc tau=1"] = seconds["ce + post-hoc tau=val"] = seconds["ce"]
    for name, cw in (("sklearn LR (peer)", None), ("sklearn LR balanced (peer)", "balanced")):
        t0 = time.perf_counter()
        lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight=cw))
        lr.fit(x[tr], y[tr])
        seconds[name] = time.perf_counter() - t0
        preds[name] = lr.predict(x[te])
    rows, curves = [], []
    for name, p in preds.items():
        g = group_accuracy(y[te], p, counts, many=100, few=few)
        rows.append({"method": name, **g.as_dict(), "seconds": seconds[name]})
        if name in ("ce", "logit-adjusted", "balanced-softmax", "ce + post-hoc tau=1",
                    "sklearn LR balanced (peer)"):
            c = prior_shift_curve(y[te], p, counts)
            curves.append(c.assign(method=name))
    return pd.DataFrame(rows), pd.concat(curves), tau


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="digits only, IR 100, one seed")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--datasets", default=None, help="subset: digits-LT,MNIST-1D-LT")
    ap.add_argument("--ratios", default=None, help="imbalance ratios, e.g. 10 (default 100,10)")
    ap.add_argument("--lrs", default="0.05",
                    help="fit_head lr settings to compare on the same splits, e.g. 0.05,auto")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    datasets = {"digits-LT": (_digits, 30, 10)}
    if not args.quick:
        datasets["MNIST-1D-LT"] = (_mnist1d, 150, 30)
    if args.datasets:
        datasets["MNIST-1D-LT"] = (_mnist1d, 150, 30)
        datasets = {k: v for k, v in datasets.items() if k in args.datasets.split(",")}
    ratios = [100] if args.quick else [100, 10]
    if args.ratios:
        ratios = [int(r) for r in args.ratios.split(",")]
    seeds = range(1 if args.quick else args.seeds)
    lrs = [v if v == "auto" else float(v) for v in args.lrs.split(",")]
    start = time.perf_counter()
    for dname, (loader, n_test, n_val) in datasets.items():
        x, y = loader()
        for ir in ratios:
            by_lr = {}
            for lr in lrs:
                frames, curves, taus = [], [], []
                for seed in seeds:
                    tr, va, te = _split(y, n_test, n_val, ir, seed)
                    # few-shot threshold 20 as in the protocol; digits' head has ~130 samples
                    f, c, tau = _one(x, y, tr, va, te, seed, args.epochs, few=20, lr=lr)
                    frames.append(f.assign(seed=seed))
                    curves.append(c.assign(seed=seed))
                    taus.append(tau)
                counts = np.bincount(y[tr])
                label = f"{dname} (lr={lr})" if len(lrs) > 1 else dname
                _report(label, ir, counts, pd.concat(frames), pd.concat(curves), taus)
                by_lr[lr] = pd.concat(frames)
            if len(lrs) > 1:
                _compare_lrs(dname, ir, by_lr)
    print(f"\ntotal {time.perf_counter() - start:.0f}s")  # noqa: T201


def _compare_lrs(dname, ir, by_lr) -> None:
    """Balanced and few-shot accuracy per method, one column pair per lr setting."""
    names = [f"lr={lr}" for lr in by_lr]
    print(f"\n### {dname}, imbalance ratio {ir}: lr settings side by side "  # noqa: T201
          "(mean ± sd over seeds, %)\n")
    head = " | ".join(f"balanced {n}" for n in names) + " | " + " | ".join(
        f"few {n}" for n in names)
    print(f"| method | {head} |")  # noqa: T201
    print("|---|" + "---|" * (2 * len(names)))  # noqa: T201
    aggs = {lr: f.drop(columns="seed").groupby("method", sort=False).agg(["mean", "std"])
            for lr, f in by_lr.items()}
    first = next(iter(aggs.values()))
    for m in first.index:
        cells = []
        for k in ("overall", "few"):
            for agg in aggs.values():
                mu, sd = agg.loc[m, (k, "mean")], agg.loc[m, (k, "std")]
                cells.append("-" if np.isnan(mu) else
                             f"{100 * mu:.1f} ± {100 * np.nan_to_num(sd):.1f}")
        print(f"| {m} | " + " | ".join(cells) + " |")  # noqa: T201


def _report(dname, ir, counts, frame, curves, taus) -> None:
    from assay.longtail import shot_groups

    groups = shot_groups(counts)
    n_g = {g: int((groups == g).sum()) for g in ("many", "medium", "few")}
    print(f"\n### {dname}, imbalance ratio {ir} (train counts of the last seed: "  # noqa: T201
          f"{counts.tolist()}; many/medium/few classes {n_g['many']}/{n_g['medium']}/"
          f"{n_g['few']}; {frame['seed'].nunique()} seed(s); post-hoc tau chosen on "
          f"validation: {', '.join(f'{t:.1f}' for t in taus)})\n")
    order = list(dict.fromkeys(frame["method"]))
    agg = frame.groupby("method").agg(["mean", "std"]).reindex(order)
    ce = agg.loc["ce", ("overall", "mean")]
    lines = ["| method | many | medium | few | overall (balanced) | ratio vs CE | train s |",
             "|---|---|---|---|---|---|---|"]
    for m in order:
        cells = []
        for k in ("many", "medium", "few", "overall"):
            mu, sd = agg.loc[m, (k, "mean")], agg.loc[m, (k, "std")]
            cells.append("-" if np.isnan(mu) else f"{100 * mu:.1f} ± {100 * np.nan_to_num(sd):.1f}")
        ratio = agg.loc[m, ("overall", "mean")] / ce
        cells += [f"{ratio:.3f}", f"{agg.loc[m, ('seconds', 'mean')]:.2f}"]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    print("\n".join(lines))  # noqa: T201
    piv = curves.groupby(["method", "profile"], sort=False)["accuracy"].mean().unstack()
    cols = list(dict.fromkeys(curves["profile"]))
    piv = piv[cols].reindex(list(dict.fromkeys(curves["method"])))
    print("\nAccuracy (%) under shifted test priors (mean over seeds):\n")  # noqa: T201
    print("| method | " + " | ".join(cols) + " |")  # noqa: T201
    print("|---|" + "---|" * len(cols))  # noqa: T201
    for m, row in piv.iterrows():
        print(f"| {m} | " + " | ".join(f"{100 * v:.1f}" for v in row) + " |")  # noqa: T201


if __name__ == "__main__":
    main()
