"""Benchmark: agreement coefficients and per-class breakdown at 200,000 items x 5 annotators.

Side by side with the ``krippendorff`` package (alpha) and statsmodels (Fleiss' kappa) on the same
data, with the ratio peer time / assay time and the absolute difference of the values.

    python benchmarks/agreement.py            # 200,000 items x 5 annotators, 5 classes
    python benchmarks/agreement.py --quick    # 20,000 items
    python benchmarks/agreement.py --crowdkit # also time crowd-kit's Dawid-Skene (slow)
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def make_data(n_items: int, n_annotators: int, n_classes: int, missing: float, seed: int):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    acc = np.linspace(0.9, 0.6, n_annotators)[:, None]
    noise = rng.integers(0, n_classes, (n_annotators, n_items))
    data = np.where(rng.random((n_annotators, n_items)) < acc, truth, noise).astype(float)
    if missing:
        data[rng.random(data.shape) < missing] = np.nan
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 items instead of 200,000")
    parser.add_argument("--crowdkit", action="store_true", help="also time crowd-kit DawidSkene")
    parser.add_argument("--n-boot", type=int, default=200)
    args = parser.parse_args()

    import krippendorff
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    from assay import agreement as A
    from assay.agreement._io import as_ratings
    from assay.consensus import dawid_skene

    n_items = 20_000 if args.quick else 200_000
    n_ann, n_cls = 5, 5
    data = make_data(n_items, n_ann, n_cls, missing=0.1, seed=0)
    complete = make_data(n_items, n_ann, n_cls, missing=0.0, seed=1)
    print(f"{n_items:,} items x {n_ann} annotators, {n_cls} classes; 10% ratings missing "
          f"(a complete copy for statsmodels' Fleiss kappa, which needs equal raters per item)")

    rows: list[tuple[str, float, float | None, float | None]] = []

    def add(name: str, ours: Callable[[], Any], peer: Callable[[], Any] | None = None) -> None:
        t_ours, v_ours = timed(ours)
        t_peer = diff = None
        if peer is not None:
            t_peer, v_peer = timed(peer)
            diff = abs(float(v_ours) - float(v_peer))
        rows.append((name, t_ours, t_peer, diff))

    for level in ("nominal", "ordinal", "interval", "ratio"):
        add(
            f"krippendorff alpha, {level}",
            lambda lv=level: A.krippendorff_alpha(data, level=lv),
            lambda lv=level: krippendorff.alpha(reliability_data=data, level_of_measurement=lv),
        )
    table, _ = aggregate_raters(complete.T.astype(int), n_cat=n_cls)
    add("fleiss kappa (complete data)", lambda: A.fleiss_kappa(table), lambda: sm_fleiss(table))
    counts, _ = A.category_counts(data)
    add("fleiss kappa (missing ratings)", lambda: A.fleiss_kappa(counts))
    add("percent agreement", lambda: A.percent_agreement(data))
    add("conger kappa", lambda: A.conger_kappa(data))
    add("gwet AC1", lambda: A.gwet_ac1(data))
    add("gwet AC2 quadratic", lambda: A.gwet_ac2(data, weights="quadratic"))
    add("brennan-prediger", lambda: A.brennan_prediger(data))
    add("cohen kappa (annotators 0, 1)", lambda: A.cohen_kappa(data[0], data[1]))
    add("all coefficients, one call", lambda: len(A.agreement_coefficients(data)))
    add("per-class alpha + fleiss kappa", lambda: len(A.per_class_agreement(data)))
    add("coincidence matrix", lambda: A.coincidence_matrix(data).to_numpy().sum())
    add("confused pairs + examples", lambda: len(A.confused_pairs(data)))
    add("pairwise kappa (10 pairs)", lambda: len(A.pairwise_kappa(data)))
    add("ceiling", lambda: A.annotator_ceiling(data).bayes_error)
    add(f"bootstrap CI alpha ({args.n_boot} resamples)",
        lambda: A.bootstrap_ci(data, n_boot=args.n_boot).low)

    r = as_ratings(data)
    g, u = np.nonzero(r.codes >= 0)
    long = pd.DataFrame({"task": u, "worker": g, "label": r.codes[g, u]})
    ck = None
    if args.crowdkit:
        from crowdkit.aggregation import DawidSkene

        def ck() -> Any:  # noqa: F811
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return DawidSkene(n_iter=100).fit(long).labels_.iloc[0]

    add("dawid-skene (EM to convergence)",
        lambda: dawid_skene(long, item="task", annotator="worker", label="label").n_iter, ck)
    rows[-1] = (rows[-1][0], rows[-1][1], rows[-1][2], None)
    add(f"agree(): everything + DS consensus, n_boot={args.n_boot}",
        lambda: A.agree(long, item="task", annotator="worker", label="label",
                        n_boot=args.n_boot).n_items)

    width = max(len(r[0]) for r in rows)
    print(f"\n{'task':<{width}}  {'assay s':>8}  {'peer s':>8}  {'peer/assay':>10}  {'|diff|':>8}")
    for name, t_ours, t_peer, diff in rows:
        peer = f"{t_peer:8.3f}" if t_peer is not None else f"{'-':>8}"
        ratio = f"{t_peer / t_ours:10.1f}" if t_peer is not None else f"{'-':>10}"
        d = f"{diff:8.1e}" if diff is not None else f"{'-':>8}"
        print(f"{name:<{width}}  {t_ours:8.3f}  {peer}  {ratio}  {d}")


if __name__ == "__main__":
    main()
