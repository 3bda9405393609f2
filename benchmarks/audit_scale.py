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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(n: int, k: int, d: int, seed: int, folder: Path,
              block: int = 500_000) -> dict[str, str]:
    """Write the embeddings, probabilities and labels as ``.npy`` files, ``block`` rows at a time.

    Written block by block into memory-mapped files, so sizes beyond memory can be made (10M
    rows x 128 dimensions x 100 classes is 5 GB of embeddings and 8 GB of probabilities).
    """
    from numpy.lib.format import open_memmap

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    paths = {"emb": folder / "emb.npy", "probs": folder / "probs.npy", "labels": folder / "y.npy"}
    emb = open_memmap(paths["emb"], mode="w+", dtype=np.float32, shape=(n, d))
    probs = open_memmap(paths["probs"], mode="w+", dtype=np.float64, shape=(n, k))
    noisy = np.empty(n, dtype=np.int64)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        m = hi - lo
        y = rng.integers(0, k, m)
        emb[lo:hi] = centres[y] + rng.normal(scale=0.9, size=(m, d)).astype(np.float32)
        logits = rng.normal(scale=1.0, size=(m, k)).astype(np.float32)
        logits[np.arange(m), y] += 3.0
        p = np.exp(logits - logits.max(1, keepdims=True))
        probs[lo:hi] = p / p.sum(1, keepdims=True)
        flip = rng.random(m) < 0.1
        y[flip] = (y[flip] + rng.integers(1, k, flip.sum())) % k
        noisy[lo:hi] = y
    n_dup = min(300, n // 100)
    src = rng.choice(n, size=2 * n_dup, replace=False)
    emb[src[n_dup:]] = emb[src[:n_dup]]  # exact copies
    emb[src[:n_dup // 2]] += rng.normal(scale=1e-3, size=(n_dup // 2, d)).astype(np.float32)
    emb.flush()
    probs.flush()
    del emb, probs
    np.save(paths["labels"], noisy)
    return {k_: str(v) for k_, v in paths.items()}


# Both tools import their modules before the clock starts (importing cleanlab's Datalab loads
# pandas, scikit-learn and scipy.stats; assay loads its checks lazily, so they are loaded here).
ASSAY_CODE = """
import json, resource, sys, threading, time
import numpy as np, pandas as pd, scipy.stats, sklearn.linear_model
import assay, assay._audit.checks
p = json.loads(sys.argv[1])
anon = [0.0]  # the process's own (anonymous) memory, sampled: ru_maxrss adds mapped file pages
def sample():
    while True:
        with open("/proc/self/status") as f:
            kb = next(int(l.split()[1]) for l in f if l.startswith("RssAnon"))
        anon[0] = max(anon[0], kb / 2**20)
        time.sleep(0.2)
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
# as a user with data on disk passes it: the embeddings file by path, the probabilities mapped
# (their pages count in the resident memory measured below as they are read)
probs, y = np.load(p["probs"], mmap_mode="r"), np.load(p["labels"])
res = assay.audit(pd.DataFrame({"y": y}), label="y", embeddings=p["emb"], pred_probs=probs)
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "anon_gb": anon[0], "n_label": int(res.issues.is_label_issue.sum()),
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


def memory_cgroup(limit_gb: float) -> Path | None:
    """A fresh memory cgroup (v1 or v2) capped at ``limit_gb``, or None where none can be made.

    A process in it cannot hold more than the cap: the kernel reclaims page cache and mapped
    file pages at the cap and kills the process when its own memory does not fit. Running the
    audit in one is what running it on a machine with that much memory means.
    """
    limit = str(int(limit_gb * 2**30))
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, rel = line.split(":", 2)
        if controllers == "memory":  # cgroup v1
            root, files = Path("/sys/fs/cgroup/memory") / rel.lstrip("/"), ("memory.limit_in_bytes",)
        elif controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            root, files = Path("/sys/fs/cgroup") / rel.lstrip("/"), ("memory.max",)
        else:
            continue
        group = root / f"assay-bench-{os.getpid()}"
        try:
            group.mkdir(exist_ok=True)
            (group / files[0]).write_text(limit)
            return group
        except OSError:
            continue
    return None


def run_child(code: str, paths: dict[str, str], timeout: float,
              cgroup: Path | None = None) -> dict:
    def enter() -> None:
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    try:
        out = subprocess.run([sys.executable, "-c", code, json.dumps(paths)], capture_output=True,
                             text=True, timeout=timeout, preexec_fn=enter)
    except subprocess.TimeoutExpired:
        return {"wall": float("nan"), "rss_gb": float("nan"), "note": f"> {timeout:.0f} s"}
    if out.returncode != 0:
        why = "killed (out of memory?)" if out.returncode == -9 else out.stderr.strip()[-300:]
        return {"wall": float("nan"), "rss_gb": float("nan"), "note": why}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--datalab-max", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--memory-limit-gb", type=float, default=None,
                    help="run assay inside a memory cgroup capped at this many GiB (needs a "
                         "writable cgroup, e.g. root in a container)")
    ap.add_argument("--keep-data", default=None,
                    help="write the data to this folder (reused when it holds it) instead of a "
                         "temporary one")
    args = ap.parse_args()
    cgroup = memory_cgroup(args.memory_limit_gb) if args.memory_limit_gb else None
    if args.memory_limit_gb:
        print(f"assay runs in a memory cgroup capped at {args.memory_limit_gb:g} GiB: {cgroup}"
              if cgroup else "no memory cgroup could be made: assay runs without a cap")
    print(f"{'N':>9} | {'assay s':>8} {'GiB':>5} | {'Datalab s':>9} {'GiB':>5} | {'speed-up':>8} | assay k-NN")
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.keep_data) / str(n) if args.keep_data else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            if (folder / "y.npy").exists():
                paths = {k: str(folder / f) for k, f in
                         (("emb", "emb.npy"), ("probs", "probs.npy"), ("labels", "y.npy"))}
            else:
                paths = make_data(n, args.classes, args.dims, 0, folder)
            gen = time.perf_counter() - t
            ours = run_child(ASSAY_CODE, paths, args.timeout, cgroup)
            theirs = (run_child(DATALAB_CODE, paths, args.timeout) if n <= args.datalab_max
                      else {"wall": float("nan"), "rss_gb": float("nan"), "note": "not run"})
        ratio = theirs["wall"] / ours["wall"] if ours.get("wall") else float("nan")
        knn = ours.get("knn", {})
        print(f"{n:>9,} | {ours['wall']:>8.1f} {ours['rss_gb']:>5.2f} | {theirs['wall']:>9.1f} "
              f"{theirs['rss_gb']:>5.2f} | {ratio:>7.1f}x | {knn.get('method')} "
              f"nprobe {knn.get('nprobe', '-')} recall~{knn.get('sample_recall', 1.0):.3f} "
              f"served~{knn.get('sample_served', 1.0):.3f} {theirs.get('note', '')}", flush=True)
        print(f"          assay steps (s): {ours.get('timings')}; own (anonymous) memory peak "
              f"{ours.get('anon_gb', float('nan')):.2f} GiB; data generation {gen:.1f} s",
              flush=True)
        if "note" in ours:
            print("          assay failed:", ours["note"])
    if cgroup is not None:
        cgroup.rmdir()  # empty once the child has exited


if __name__ == "__main__":
    main()
