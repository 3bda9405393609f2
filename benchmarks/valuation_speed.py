"""KNN-Shapley speed: assay vs pyDVL 0.10 (exact), 1,000 test points, d = 32, K = 5.

pyDVL needs numpy < 2, so it runs in its own virtual environment (created on first use at
``/tmp/assay-pydvl-venv`` with ``python -m venv`` + ``pip install pydvl==0.10.0``). Both sides
read the same .npy files, each run happens in a fresh subprocess whose peak RSS is reported, and
the values are compared (max absolute difference). pyDVL's timings and values are cached in
``/tmp/assay-pydvl-cache`` (the data are deterministic); ``--fresh`` re-runs it.

    python benchmarks/valuation_speed.py            # 1k, 10k, 50k (both) and 1M (assay only)
    python benchmarks/valuation_speed.py --quick    # 1k, 10k
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
    args = ap.parse_args()
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else [1_000, 10_000] if args.quick else [1_000, 10_000, 50_000, 1_000_000])
    py = None if args.no_pydvl else ensure_venv()
    header = (f"{'n_train':>9} | {'assay s':>8} {'MiB':>6} | {'assay 2thr s':>12} | "
              f"{'trunc=200 s':>11} {'max err':>8} | {'pyDVL s':>8} {'MiB':>6} | "
              f"{'speed-up':>8} | {'max |diff|':>10}")
    print(header)
    print("-" * len(header))
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            make_data(n, Path(tmp))
            ours = run([sys.executable, "-c", OURS, tmp, "1", "none"])
            exact = np.load(Path(tmp) / "ours.npy")
            two = run([sys.executable, "-c", OURS, tmp, "2", "none"])
            tr = run([sys.executable, "-c", OURS, tmp, "1", "200"])
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
        row = {"n_train": n, "assay_s": ours["time"], "assay_mb": ours["rss_mb"],
               "assay_2threads_s": two["time"], "truncated_s": tr["time"],
               "truncated_max_err": tr_err, "pydvl_s": peer and peer["time"],
               "pydvl_mb": peer and peer["rss_mb"], "max_abs_diff": diff}
        rows.append(row)
        ratio = f"{peer['time'] / ours['time']:8.1f}x" if peer else f"{'-':>9}"
        print(f"{n:>9} | {ours['time']:8.2f} {ours['rss_mb']:6.0f} | {two['time']:12.2f} | "
              f"{tr['time']:11.2f} {tr_err:8.1e} | "
              + (f"{peer['time']:8.2f} {peer['rss_mb']:6.0f}" if peer else f"{'-':>8} {'-':>6}")
              + f" | {ratio} | " + (f"{diff:10.1e}" if diff is not None else f"{'-':>10}"),
              flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
