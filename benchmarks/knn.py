"""Approximate k-NN graph: assay's inverted file (``method="ivf"``) vs faiss's IndexIVFFlat.

Same data as ``audit_scale.py`` (100 Gaussian classes, 128-d, cosine, k = 10), the same recall
rule for both (probes widened by steps of about sqrt(2) until the recall on 256 sampled rows
reaches 0.97) and the same number of lists, so the only
difference is how the lists are searched: assay with one matrix product per list, faiss one
query at a time. Recall is then measured on 1,000 other rows against exact search.

Run: ``python benchmarks/knn.py`` (``--sizes 100000,1000000``). Needs ``faiss-cpu`` for the peer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from audit_scale import make_data  # noqa: E402

from assay._kernels.knn import blocked_topk, normalise_rows  # noqa: E402
from assay.neighbors import knn_graph  # noqa: E402


def recall(graph_idx: np.ndarray, x: np.ndarray, rows: np.ndarray, k: int) -> float:
    exact, _ = blocked_topk(x[rows], x, k=k + 1, metric="cosine", exclude_self=False)
    exact = np.array([r[r != i][:k] for r, i in zip(exact, rows, strict=True)])
    return float((graph_idx[rows][:, :, None] == exact[:, None, :]).any(axis=2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    print(f"{'N':>9} | {'method':>6} | {'s':>7} | {'recall':>6} | info")
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            emb = np.load(make_data(n, 100, 128, 0, Path(tmp))["emb"])
        x = normalise_rows(emb.astype(np.float32))
        rows = np.random.default_rng(1).choice(n, size=1000, replace=False)
        times = {}
        for method in ("ivf", "faiss"):
            t = time.perf_counter()
            g = knn_graph(emb, k=args.k, metric="cosine", method=method)
            times[method] = time.perf_counter() - t
            print(f"{n:>9,} | {method:>6} | {times[method]:>7.2f} | "
                  f"{recall(g.indices, x, rows, args.k):>6.3f} | {g.info}", flush=True)
        print(f"{'':>9}   faiss / assay time: {times['faiss'] / times['ivf']:.1f}x", flush=True)


if __name__ == "__main__":
    main()
