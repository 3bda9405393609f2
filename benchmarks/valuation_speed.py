"""KNN-Shapley speed: assay vs pyDVL 0.10 (exact), 1,000 test points, d = 32, K = 5.

pyDVL needs numpy < 2, so it runs in its own virtual environment (created on first use at
``/tmp/assay-pydvl-venv`` with ``python -m venv`` + ``pip install pydvl==0.10.0``). Both sides
read the same .npy files, each run happens in a fresh subprocess whose peak RSS is reported, and
the values are compared (max absolute difference). pyDVL's timings and values are cached in
``/tmp/assay-pydvl-cache`` (the data are deterministic); ``--fresh`` re-runs it.

After the table, a stage breakdown (wall clock, one thread, BLAS as configured) of assay's exact
path re-runs its kernels step by step: at 50k on all test points, at 1M on the first 100.
The load average is printed at the start and the end (other jobs skew shared machines).

    python benchmarks/valuation_speed.py            # 1k, 10k, 50k (both) and 1M (assay only)
    python benchmarks/valuation_speed.py --quick    # 1k, 10k
    python benchmarks/valuation_speed.py --sizes 50000 --no-stages
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

VENV = Path(os.environ.get("ASSAY_PYDVL_VENV", "/tmp/assay-pydvl-venv"))
CACHE = Path(os.environ.get("ASSAY_PYDVL_CACHE", "/tmp/assay-pydvl-cache"))
D, K, N_TEST, N_CLASSES = 32, 5, 1000, 5

OURS = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np
    from assay.valuation import knn_shapley
    d, n_jobs, truncate = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    xtr, ytr = np.load(d + "/xtr.npy"), np.load(d + "/ytr.npy")
    xte, yte = np.load(d + "/xte.npy"), np.load(d + "/yte.npy")
    t = time.perf_counter()
    v = knn_shapley(xtr, ytr, xte, yte, k=K_NEIGHBOURS, n_jobs=n_jobs,
                    truncate=None if truncate == "none" else int(truncate))
    el = time.perf_counter() - t
    np.save(d + "/ours.npy", v)
    print(json.dumps({"time": el, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""").replace("K_NEIGHBOURS", str(K))

STAGES = textwrap.dedent("""
    import json, sys, time
    from collections import defaultdict
    import numpy as np
    from assay._kernels import knn_shapley as kern
    from assay.valuation import _knn_shapley as ks
    d, n_test = sys.argv[1], int(sys.argv[2])
    xtr, ytr = np.load(d + "/xtr.npy"), np.load(d + "/ytr.npy")
    xte, yte = np.load(d + "/xte.npy")[:n_test], np.load(d + "/yte.npy")[:n_test]
    n, k = len(xtr), K_NEIGHBOURS
    stages = defaultdict(float)
    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        stages[name] += time.perf_counter() - t
        return out
    def labels(idx, hits, yq, flags):
        for i in range(len(yq)):
            np.equal(ytr, yq[i], out=flags)
            np.take(flags, idx[i], out=hits[i], mode="clip")
    t0 = time.perf_counter()
    half = 0.5 * np.einsum("ij,ij->i", xtr, xtr)
    chunk = min(n_test, max(ks._MIN_CHUNK, ks._CHUNK_ELEMENTS // n))
    rows = min(chunk, max(1, ks._ROW_ELEMENTS // n))
    buf, ws, total = np.empty((chunk, n)), kern.Workspace(rows, n), np.zeros(n)
    stages["setup"] += time.perf_counter() - t0
    for start in range(0, n_test, chunk):
        xq = xte[start:start + chunk]
        keys = buf[: len(xq)]
        timed("distances: BLAS q.x", np.matmul, xq, xtr.T, out=keys)
        for a in range(0, len(xq), rows):
            kk = keys[a:a + rows]
            s, packed = len(kk), ws.packed[: len(kk)]
            yq = yte[start + a:start + a + s]
            timed("distances: keys |x|^2/2 - q.x", np.subtract, half, kk, out=kk)
            q = timed("sort: quantise keys", kern._quantise, kk, ws)
            timed("sort: radix buckets + gather + pack", kern._bucket, q, packed, ws)
            timed("sort: block sorts", kern._block_sort, packed, n, ws.block)
            timed("sort: check + repair ties", kern._fix_quantisation_ties, packed, kk, ws)
            idx = ws.view("b", s, n)
            timed("after: unpack indices", np.bitwise_and, packed[:, :n],
                  np.uint64((1 << ws.idx_bits) - 1), out=idx.view(np.uint64))
            hits = ws.view("hits", s, n)
            timed("after: gather labels by rank", labels, idx, hits, yq, ws.flags)
            sums, tail = timed("after: recursion + bincount scatter", kern.binary_value_sums,
                               idx, hits, k, n, ws)
            total += sums - tail.sum()
    elapsed = time.perf_counter() - t0
    total /= n_test
    print(json.dumps({"time": elapsed, "stages": stages, "n_test": n_test,
                      "values": total.tolist() if n_test == len(np.load(d + "/xte.npy")) else None}))
""").replace("K_NEIGHBOURS", str(K))

PYDVL = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier
    from pydvl.valuation import Dataset, KNNShapleyValuation
    d = sys.argv[1]
    xtr, ytr = np.load(d + "/xtr.npy"), np.load(d + "/ytr.npy")
    xte, yte = np.load(d + "/xte.npy"), np.load(d + "/yte.npy")
    train, test = Dataset(xtr, ytr), Dataset(xte, yte)
    t = time.perf_counter()
    val = KNNShapleyValuation(KNeighborsClassifier(n_neighbors=K_NEIGHBOURS), test, progress=False)
    res = val.fit(train).result
    el = time.perf_counter() - t
    v = np.empty(len(ytr)); v[np.asarray(res.indices)] = np.asarray(res.values)
    np.save(d + "/pydvl.npy", v)
    print(json.dumps({"time": el, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""").replace("K_NEIGHBOURS", str(K))


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "pydvl==0.10.0"], check=True)
    return py


def make_data(n: int, folder: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(D, N_CLASSES))
    for name, m in (("tr", n), ("te", N_TEST)):
        x = rng.normal(size=(m, D))
        y = np.argmax(x @ w + rng.gumbel(size=(m, N_CLASSES)), axis=1)
        np.save(folder / f"x{name}.npy", x)
        np.save(folder / f"y{name}.npy", y)


def run(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1k and 10k only")
    ap.add_argument("--no-pydvl", action="store_true", help="skip the peer")
    ap.add_argument("--pydvl-max", type=int, default=50_000, help="largest n_train for pyDVL")
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated n_train")
    ap.add_argument("--fresh", action="store_true", help="re-run pyDVL even when cached")
    ap.add_argument("--no-stages", action="store_true", help="skip the stage breakdown")
    ap.add_argument("--repeat", type=int, default=3,
                    help="assay runs per setting up to 50k (median shown; 1 run above)")
    args = ap.parse_args()
    print(f"load average at start: {load()}", flush=True)
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else [1_000, 10_000] if args.quick else [1_000, 10_000, 50_000, 1_000_000])
    py = None if args.no_pydvl else ensure_venv()
    header = (f"{'n_train':>9} | {'assay s':>8} {'(min-max)':>11} {'MiB':>6} | {'assay 2thr s':>12} | "
              f"{'trunc=200 s':>11} {'max err':>8} (bound {1 / 201:.1e}) | {'pyDVL s':>8} "
              f"{'MiB':>6} | {'speed-up':>8} | {'max |diff|':>10}")
    print(header)
    print("-" * len(header))
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            make_data(n, Path(tmp))
            reps = args.repeat if n <= 50_000 else 1  # the machine is shared: take medians
            runs = [run([sys.executable, "-c", OURS, tmp, "1", "none"]) for _ in range(reps)]
            ours = runs[np.argsort([r["time"] for r in runs])[len(runs) // 2]]
            exact = np.load(Path(tmp) / "ours.npy")
            two = median([run([sys.executable, "-c", OURS, tmp, "2", "none"]) for _ in range(reps)])
            tr = median([run([sys.executable, "-c", OURS, tmp, "1", "200"]) for _ in range(reps)])
            tr_err = float(np.abs(np.load(Path(tmp) / "ours.npy") - exact).max())
            peer, diff = None, None
            if py is not None and n <= args.pydvl_max:
                cache = CACHE / f"{n}.json"
                if cache.exists() and not args.fresh:  # same data (seed 0): reuse the peer run
                    peer = json.loads(cache.read_text())
                    peer_values = np.load(CACHE / f"{n}.npy")
                else:
                    peer = run([str(py), "-c", PYDVL, tmp])
                    peer_values = np.load(Path(tmp) / "pydvl.npy")
                    CACHE.mkdir(parents=True, exist_ok=True)
                    cache.write_text(json.dumps(peer))
                    np.save(CACHE / f"{n}.npy", peer_values)
                diff = float(np.abs(peer_values - exact).max())
        times = [r["time"] for r in runs]
        row = {"n_train": n, "assay_s": ours["time"], "assay_runs_s": times,
               "assay_mb": ours["rss_mb"],
               "assay_2threads_s": two["time"], "truncated_s": tr["time"],
               "truncated_max_err": tr_err, "pydvl_s": peer and peer["time"],
               "pydvl_mb": peer and peer["rss_mb"], "max_abs_diff": diff}
        rows.append(row)
        ratio = f"{peer['time'] / ours['time']:8.1f}x" if peer else f"{'-':>9}"
        spread = f"{min(times):.2f}-{max(times):.2f}"
        print(f"{n:>9} | {ours['time']:8.2f} {spread:>11} {ours['rss_mb']:6.0f} | {two['time']:12.2f} | "
              f"{tr['time']:11.2f} {tr_err:8.1e}{'':16} | "
              + (f"{peer['time']:8.2f} {peer['rss_mb']:6.0f}" if peer else f"{'-':>8} {'-':>6}")
              + f" | {ratio} | " + (f"{diff:10.1e}" if diff is not None else f"{'-':>10}"),
              flush=True)
    print(json.dumps(rows))
    if not args.no_stages:
        for n, n_test in ((50_000, N_TEST), (1_000_000, 100)):
            if n in sizes:
                stage_breakdown(n, n_test)
    print(f"load average at end: {load()}", flush=True)


def median(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["time"])[len(runs) // 2]


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} cores)"


def stage_breakdown(n: int, n_test: int) -> None:
    """Time each step of the exact path (classification, one thread) on the benchmark data."""
    with tempfile.TemporaryDirectory() as tmp:
        make_data(n, Path(tmp))
        out = run([sys.executable, "-c", STAGES, tmp, str(n_test)])
        if out["values"] is not None:  # the staged pipeline is the library's: same values
            run([sys.executable, "-c", OURS, tmp, "1", "none"])
            check = float(np.abs(np.load(Path(tmp) / "ours.npy") - out["values"]).max())
            print(f"(staged values vs knn_shapley: max |diff| {check:.1e})")
    total = out["time"]
    print(f"\nstage breakdown, n_train = {n:,}, {n_test} test points: {total:.2f} s "
          f"({total / n_test * 1e3:.2f} ms per test point)")
    for name, sec in sorted(out["stages"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:38s} {sec:8.3f} s {100 * sec / total:5.1f} %")


if __name__ == "__main__":
    main()
