"""Near-duplicate search throughput on given embeddings, per core, beside fastdup's published rate.

fastdup (visual-layer) published its ImageNet-21k run: 11.6M images in 11,561 s on 32 cores, about
31 images per second per core, image decoding and feature extraction included. With the
embeddings given, the part assay does is the search: ``assay.find_duplicates`` (k-NN graph by
the inverted file above 20,000 rows, then exact copies by hash and near copies by the ratio
test). fastdup is not run here (it needs the images); its figure is the published one, and the
comparison is only for the step both do once the embeddings exist.

Data: as ``audit_scale.make_data`` (100 Gaussian classes, 128-d, float32, cosine), with 0.5 % of the
rows replaced by exact copies of other rows and 1 % by near copies (the copied row plus noise of
2 % of its norm). Each size runs in a fresh subprocess whose peak RSS is reported. Recall is over
the injected pairs (a pair counts when both rows land in one duplicate set); "rows in sets" beside
the injected rows shows how many more the search put in sets (natural near copies, or false
ones).

Run: ``python benchmarks/dedup_throughput.py`` (``--sizes 200000,1000000``).
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

FASTDUP_PER_CORE = 11_600_000 / 11_561 / 32  # images per second per core, published

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np
    from assay.duplicates import find_duplicates
    n = int(sys.argv[1])
    rng = np.random.default_rng(0)  # as audit_scale.make_data: 100 classes, 128-d
    centres = rng.normal(size=(100, 128)).astype(np.float32)
    x = centres[rng.integers(0, 100, n)] + rng.normal(scale=0.9, size=(n, 128)).astype(np.float32)
    rows = rng.permutation(n)
    n_exact, n_near = n // 200, n // 100
    src = rows[: n_exact + n_near]
    dst = rows[n_exact + n_near: 2 * (n_exact + n_near)]
    x[dst[:n_exact]] = x[src[:n_exact]]
    noise = rng.normal(size=(n_near, x.shape[1])).astype(np.float32)
    norms = np.linalg.norm(x[src[n_exact:]], axis=1, keepdims=True)
    noise *= 0.02 * norms / np.linalg.norm(noise, axis=1, keepdims=True)
    x[dst[n_exact:]] = x[src[n_exact:]] + noise
    t = time.perf_counter()
    res = find_duplicates(x, metric="cosine")
    el = time.perf_counter() - t
    sets = np.asarray(res.duplicate_set)
    same = (sets[src] >= 0) & (sets[src] == sets[dst])
    flagged = int((sets >= 0).sum())
    print(json.dumps({
        "n": n, "seconds": el, "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "recall_exact": float(same[:n_exact].mean()), "recall_near": float(same[n_exact:].mean()),
        "rows_in_sets": flagged, "injected_rows": int(2 * (n_exact + n_near)),
    }))
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000,1000000")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"load average at start: {os.getloadavg()[0]:.2f}; cores: {cores}")
    print("| rows | seconds | rows/s | rows/s per core | x fastdup's 31/s per core | peak GiB "
          "| recall exact | recall near | rows in sets / injected |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        for n in (int(s) for s in args.sizes.split(",")):
            out = subprocess.run([sys.executable, str(script), str(n)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rate = r["n"] / r["seconds"]
            print(f"| {r['n']:,} | {r['seconds']:.1f} | {rate:,.0f} | {rate / cores:,.0f} | "
                  f"{rate / cores / FASTDUP_PER_CORE:,.0f}x | {r['rss_gib']:.2f} | "
                  f"{r['recall_exact']:.3f} | {r['recall_near']:.3f} | "
                  f"{r['rows_in_sets']:,} / {r['injected_rows']:,} |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
