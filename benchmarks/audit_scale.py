"""Full-audit wall time and peak memory at scale: assay vs cleanlab Datalab on the same inputs.

Synthetic data: 100 classes, 128-d Gaussian-blob embeddings, predicted probabilities from noisy
logits, 10 % uniform label flips, a few hundred exact and near duplicates. Each tool runs in
its own subprocess so the peak resident memory (ru_maxrss) is its own. assay is given the data
as a user with files on disk gives it (the embeddings' ``.npy`` path, the probabilities
memory-mapped; its clock includes reading them); Datalab the arrays in memory (its clock starts
after loading). Datalab runs its default
``find_issues(features=..., pred_probs=...)``; it is skipped above ``--datalab-max`` rows
(it needs about 172 s at 100k rows and grows quadratically; see references/audit.md).

Run: ``python benchmarks/audit_scale.py`` (``--sizes 10000,100000,1000000``).
Needs ``pip install "cleanlab[datalab]"`` for the peer column.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(n: int, k: int, d: int, seed: int, folder: Path) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    emb = centres[y] + rng.normal(scale=0.9, size=(n, d)).astype(np.float32)
    n_dup = min(300, n // 100)
    src = rng.choice(n, size=2 * n_dup, replace=False)
    emb[src[n_dup:]] = emb[src[:n_dup]]  # exact copies
    emb[src[:n_dup // 2]] += rng.normal(scale=1e-3, size=(n_dup // 2, d)).astype(np.float32)
    logits = rng.normal(scale=1.0, size=(n, k)).astype(np.float32)
    logits[np.arange(n), y] += 3.0
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    noisy = y.copy()
    flip = rng.random(n) < 0.1
    noisy[flip] = (y[flip] + rng.integers(1, k, flip.sum())) % k
    paths = {"emb": folder / "emb.npy", "probs": folder / "probs.npy", "labels": folder / "y.npy"}
    np.save(paths["emb"], emb)
    np.save(paths["probs"], probs.astype(np.float64))
    np.save(paths["labels"], noisy)
    return {k_: str(v) for k_, v in paths.items()}


# Both tools import their modules before the clock starts (importing cleanlab's Datalab loads
# pandas, scikit-learn and scipy.stats; assay loads its checks lazily, so they are loaded here).
ASSAY_CODE = """
import json, resource, sys, time
import numpy as np, pandas as pd, scipy.stats, sklearn.linear_model
import assay, assay._audit.checks
p = json.loads(sys.argv[1])
t = time.perf_counter()
# as a user with data on disk passes it: the embeddings file by path, the probabilities mapped
# (their pages count in the resident memory measured below as they are read)
probs, y = np.load(p["probs"], mmap_mode="r"), np.load(p["labels"])
res = assay.audit(pd.DataFrame({"y": y}), label="y", embeddings=p["emb"], pred_probs=probs)
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "n_label": int(res.issues.is_label_issue.sum()),
                  "n_dup_sets": res.checks["duplicates"].summary["n_sets"],
                  "n_outliers": int(res.issues.is_outlier.sum()),
                  "knn": res.summary["knn"], "timings": res.summary["timings_s"]}))
"""

DATALAB_CODE = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from cleanlab import Datalab
p = json.loads(sys.argv[1])
emb, probs, y = np.load(p["emb"]), np.load(p["probs"]), np.load(p["labels"])
t = time.perf_counter()
lab = Datalab(data={"y": y}, label_name="y", verbosity=0)
lab.find_issues(features=emb, pred_probs=probs)
wall = time.perf_counter() - t
iss = lab.get_issues()
print(json.dumps({"wall": wall, "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "n_label": int(iss["is_label_issue"].sum())}))
"""


def run_child(code: str, paths: dict[str, str], timeout: float) -> dict:
    try:
        out = subprocess.run([sys.executable, "-c", code, json.dumps(paths)], capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"wall": float("nan"), "rss_gb": float("nan"), "note": f"> {timeout:.0f} s"}
    if out.returncode != 0:
        return {"wall": float("nan"), "rss_gb": float("nan"), "note": out.stderr.strip()[-300:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--datalab-max", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    print(f"{'N':>9} | {'assay s':>8} {'GiB':>5} | {'Datalab s':>9} {'GiB':>5} | {'speed-up':>8} | assay k-NN")
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            paths = make_data(n, args.classes, args.dims, 0, Path(tmp))
            gen = time.perf_counter() - t
            ours = run_child(ASSAY_CODE, paths, args.timeout)
            theirs = (run_child(DATALAB_CODE, paths, args.timeout) if n <= args.datalab_max
                      else {"wall": float("nan"), "rss_gb": float("nan"), "note": "not run"})
        ratio = theirs["wall"] / ours["wall"] if ours.get("wall") else float("nan")
        knn = ours.get("knn", {})
        print(f"{n:>9,} | {ours['wall']:>8.1f} {ours['rss_gb']:>5.2f} | {theirs['wall']:>9.1f} "
              f"{theirs['rss_gb']:>5.2f} | {ratio:>7.1f}x | {knn.get('method')} "
              f"nprobe {knn.get('nprobe', '-')} recall~{knn.get('sample_recall', 1.0):.3f} "
              f"served~{knn.get('sample_served', 1.0):.3f} {theirs.get('note', '')}", flush=True)
        print(f"          assay steps (s): {ours.get('timings')}; data generation {gen:.1f} s",
              flush=True)
        if "note" in ours:
            print("          assay failed:", ours["note"])


if __name__ == "__main__":
    main()
