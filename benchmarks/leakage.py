"""Benchmark: cross-split leak detection, assay vs exact-row matching (deepchecks' method).

Known leaks are injected into three data sets, after a random 80/10/10 split:

- ``exact``: a training row copied into valid or test;
- ``near``: a perturbed copy of a training row put into valid or test (digits: Gaussian pixel
  noise, sd 0.5 grey levels of 16, a 0.95-1.05 contrast change and re-quantisation; MNIST-1D:
  Gaussian noise at 10 % of the signal's sd; text: one word edited: a typo, a synonym, or one
  word added or dropped);
- ``group``: an evaluation row given the group id of a training row (one subject in two splits).

Each evaluation row is predicted leaked of a kind when ``assay.find_leakage`` lists a pair of
that kind ending at it; precision and recall are per kind, over evaluation rows. The baseline
flags evaluation rows whose raw content equals a training row's (deepchecks' train-test
"exact match" check); its flags are scored against each kind's truth.

Data: scikit-learn's digits (bundled), MNIST-1D generated offline with the ``mnist1d`` package,
and a templated text set built here (four topics, sentences from topic vocabularies) with
TF-IDF + truncated SVD features.

Run: ``python benchmarks/leakage.py`` (``--quick`` for smaller data; ``--sweep`` to print
precision and recall of near leaks over a range of ``near_factor`` values).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd

from assay.leakage import NEAR_FACTOR, find_leakage

KINDS = ("exact", "near", "group")


# ---------------------------------------------------------------------------- data
def digits_data(n: int, rng: np.random.Generator):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    take = rng.permutation(len(y))[:n]
    return x[take].astype(np.float64), y[take]


def digits_perturb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = x * rng.uniform(0.95, 1.05) + rng.normal(0, 0.5, size=x.shape)
    return np.clip(np.round(out), 0, 16)


def mnist1d_data(n: int, rng: np.random.Generator):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = n
    args.train_split = 0.999
    args.seed = int(rng.integers(1000))
    data = make_dataset(args)
    x = np.vstack([data["x"], data["x_test"]])
    y = np.concatenate([data["y"], data["y_test"]])
    return x, y


def mnist1d_perturb(x: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    return x + rng.normal(0, 0.1 * sd, size=x.shape)


_TOPICS = {
    "sports": (
        "team coach striker goalkeeper referee league match season stadium fans trophy final "
        "captain defender midfielder tournament derby penalty transfer injury".split(),
        "won lost drew scored defended celebrated trained signed missed dominated".split(),
    ),
    "politics": (
        "minister parliament senator election campaign policy budget vote coalition mayor "
        "governor debate reform treaty law committee opposition cabinet tax speech".split(),
        "announced rejected debated approved criticised proposed vetoed passed delayed signed"
        .split(),
    ),
    "tech": (
        "startup software chip smartphone browser server database algorithm laptop network "
        "cloud robot app update processor battery sensor platform engineer code".split(),
        "launched released patched shipped upgraded hacked tested deployed redesigned built"
        .split(),
    ),
    "food": (
        "chef recipe restaurant bakery soup bread cheese dessert menu kitchen spice sauce "
        "noodle salad harvest vineyard market coffee pastry dinner".split(),
        "cooked baked served tasted seasoned grilled roasted prepared ordered shared".split(),
    ),
}
_PLACES = ("in london on monday|near the river|after a long week|at the weekend|this morning|"
           "in a small town|despite the rain|for the first time|late last night|in the capital|"
           "across the country|before the holidays|under pressure|with little warning|"
           "in front of a crowd|during the summer").split("|")
_ADJ = ("new old local famous young quiet busy bold strange careful popular tired modern rural "
        "surprising").split()
_SYNONYMS = {"new": "fresh", "old": "aged", "local": "nearby", "famous": "renowned",
             "young": "youthful", "quiet": "calm", "busy": "hectic", "bold": "daring",
             "strange": "odd", "careful": "cautious", "popular": "beloved", "tired": "weary",
             "modern": "current", "rural": "rustic", "surprising": "unexpected"}


def text_data(n: int, rng: np.random.Generator):
    topics = list(_TOPICS)
    y = rng.integers(0, len(topics), n)
    sentences = []
    for lab in y:
        nouns, verbs = _TOPICS[topics[lab]]
        a, b, c = rng.choice(nouns, 3, replace=False)
        sentences.append(
            f"the {rng.choice(_ADJ)} {a} {rng.choice(verbs)} the {b} and the {c} "
            f"{rng.choice(_PLACES)} {rng.choice(_PLACES)}"
        )
    return np.array(sentences, dtype=object), y


def text_perturb(s: str, rng: np.random.Generator) -> str:
    """One word-level edit; retried until the sentence actually changes."""
    while True:
        out = _edit(s, rng)
        if out != s:
            return out


def _edit(s: str, rng: np.random.Generator) -> str:
    words = s.split()
    kind = rng.integers(4)
    if kind == 0:  # a typo: two adjacent letters swapped in a longer word
        cand = [i for i, w in enumerate(words) if len(w) > 4]
        i = int(rng.choice(cand))
        w = words[i]
        k = int(rng.integers(1, len(w) - 2))
        words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:]
    elif kind == 1:  # a synonym for the adjective
        words = [_SYNONYMS.get(w, w) for w in words]
    elif kind == 2:  # one filler word added
        words.insert(int(rng.integers(1, len(words))), str(rng.choice(["really", "also", "then"])))
    else:  # one word dropped
        del words[int(rng.integers(1, len(words)))]
    return " ".join(words)


def text_features(sentences: np.ndarray, random_state: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    tfidf = TfidfVectorizer(sublinear_tf=True).fit_transform(sentences)
    return TruncatedSVD(64, random_state=random_state).fit_transform(tfidf)


# ---------------------------------------------------------------------------- injection
def inject(raw: np.ndarray, rng: np.random.Generator, perturb, share: float = 0.05):
    """Split at random, then add exact, near and group leaks; return everything needed."""
    n = len(raw)
    split = rng.choice(np.array(["train", "valid", "test"], dtype=object), n, p=[0.8, 0.1, 0.1])
    group = np.arange(n)
    m = max(5, int(share * n))
    train = np.flatnonzero(split == "train")
    evals = np.flatnonzero(split != "train")
    src = rng.choice(train, size=3 * m, replace=False)
    # group leaks: an evaluation row shares a training row's group
    g_src, g_dst = src[:m], rng.choice(evals, size=m, replace=False)
    group[g_dst] = group[g_src]
    new_raw = [raw[i] for i in src[m:2 * m]] + [perturb(raw[i]) for i in src[2 * m:]]
    all_raw = list(raw) + new_raw
    new_split = rng.choice(np.array(["valid", "test"], dtype=object), 2 * m)
    split = np.concatenate([split, new_split])
    group = np.concatenate([group, n + np.arange(2 * m)])
    truth = {
        "exact": set(range(n, n + m)),
        "near": set(range(n + m, n + 2 * m)),
        "group": set(g_dst.tolist()),
    }
    sources = {**{n + t: int(s) for t, s in enumerate(src[m:])}}
    return all_raw, split, group, truth, sources


def exact_row_baseline(raw_frame: pd.DataFrame, split: np.ndarray) -> set[int]:
    """deepchecks-style: evaluation rows whose raw values equal some training row's."""
    h = pd.util.hash_pandas_object(raw_frame, index=False).to_numpy()
    train_hashes = set(h[split == "train"].tolist())
    return {int(i) for i in np.flatnonzero(split != "train") if h[i] in train_hashes}


def prf(pred: set[int], truth: set[int]) -> tuple[float, float]:
    tp = len(pred & truth)
    precision = tp / len(pred) if pred else float("nan")
    recall = tp / len(truth) if truth else float("nan")
    return precision, recall


# ---------------------------------------------------------------------------- runs
def make_case(name: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    if name == "digits":
        x, _ = digits_data(n, rng)
        raw, split, group, truth, sources = inject(list(x), rng, lambda r: digits_perturb(r, rng))
        feats = np.vstack(raw)
        frame = pd.DataFrame(feats)
    elif name == "mnist1d":
        x, _ = mnist1d_data(n, rng)
        sd = float(x.std())
        raw, split, group, truth, sources = inject(
            list(x), rng, lambda r: mnist1d_perturb(r, rng, sd)
        )
        feats = np.vstack(raw)
        frame = pd.DataFrame(feats)
    else:
        s, _ = text_data(n, rng)
        raw, split, group, truth, sources = inject(list(s), rng, lambda r: text_perturb(r, rng))
        feats = text_features(np.array(raw, dtype=object), seed)
        frame = pd.DataFrame({"text": raw})
    return feats, frame, split, group, truth, sources


def run_case(name: str, n: int, seed: int, factors: list[float]):
    feats, frame, split, group, truth, sources = make_case(name, n, seed)
    raw_arg = frame["text"] if "text" in frame else None
    start = time.perf_counter()
    leaks = find_leakage(feats, split, group=group, raw=raw_arg, near_factor=max(factors))
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    base = exact_row_baseline(frame, split)
    base_seconds = time.perf_counter() - start
    median = leaks.attrs["thresholds"]["median_nn_distance"]
    base_p = len(base & set().union(*truth.values())) / len(base) if base else float("nan")
    rows = []
    for f in factors:  # near pairs at a smaller factor are those under the smaller threshold
        keep = (leaks["kind"] != "near") | (leaks["distance"] <= f * median)
        sub = leaks[keep]
        for kind in KINDS:
            pred = set(sub.loc[sub["kind"] == kind, "j"].tolist())
            p, r = prf(pred, truth[kind])
            bp, br = prf(base & truth[kind], truth[kind])
            rows.append({
                "data": name, "near_factor": f, "n_rows": len(split), "kind": kind,
                "n_injected": len(truth[kind]), "assay_precision": p, "assay_recall": r,
                "baseline_precision": base_p if kind == "exact" else (bp if br > 0 else np.nan),
                "baseline_recall": br, "assay_s": seconds, "baseline_s": base_seconds,
            })
    ratio = near_distance_ratios(feats, sources, truth, leaks)
    return rows, ratio


def near_distance_ratios(feats, sources, truth, leaks) -> np.ndarray:
    """Distance of each injected near copy to its source, over the median 1-NN distance."""
    from assay.leakage import _pair_distances

    med = leaks.attrs["thresholds"]["median_nn_distance"]
    j = np.array(sorted(truth["near"]))
    i = np.array([sources[t] for t in j])
    x = np.asarray(feats, dtype=np.float32)
    return _pair_distances(x, i, j, "cosine") / med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller data sets")
    ap.add_argument("--sweep", action="store_true", help="near recall/precision vs near_factor")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    sizes = {"digits": 1797, "mnist1d": 4000, "text": 4000}
    if args.quick:
        sizes = {"digits": 800, "mnist1d": 1000, "text": 1000}
        args.seeds = 1
    print(f"# machine: {platform.machine()}, {platform.system()}, python {platform.python_version()}")
    factors = [0.05, 0.1, 0.13, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5] if args.sweep else [NEAR_FACTOR]
    all_rows = []
    for name, n in sizes.items():
        for seed in range(args.seeds):
            rows, ratio = run_case(name, n, seed, factors)
            for r in rows:
                r["seed"] = seed
            all_rows.extend(rows)
            q = np.quantile(ratio, [0.05, 0.5, 0.95])
            print(f"{name} seed {seed}: injected near copies at {q[0]:.3f} / {q[1]:.3f} / "
                  f"{q[2]:.3f} x median 1-NN distance (5th / 50th / 95th percentile)")
    df = pd.DataFrame(all_rows)
    pd.set_option("display.width", 200)
    if args.sweep:
        tab = (df[df["kind"] == "near"].groupby(["data", "near_factor"])
               [["assay_precision", "assay_recall"]].mean().round(3))
        print(tab.to_string())
        return
    tab = (df.groupby(["data", "kind"], sort=False)
           [["n_rows", "n_injected", "assay_precision", "assay_recall", "baseline_precision",
             "baseline_recall", "assay_s", "baseline_s"]]
           .mean().round(3))
    tab["recall_ratio"] = np.where(tab["baseline_recall"] > 0,
                                   (tab["assay_recall"] / tab["baseline_recall"]).round(2),
                                   np.inf)
    print(f"near_factor = {NEAR_FACTOR}; mean over {args.seeds} seed(s)")
    print(tab.to_string())


if __name__ == "__main__":
    main()
