"""Approximate k-NN graph: assay's inverted file (``method="ivf"``) vs faiss's IndexIVFFlat.

Same data as ``audit_scale.py`` (100 Gaussian classes, 128-d, cosine, k = 10), the same quality
rule for both (probes widened by steps of about sqrt(2) until, on 256 sampled rows, the recall
or the share of rows whose every distance is within 5 % of the exact one reaches 0.97) and the
same number of lists, so the only difference is how the lists are searched: assay with one
matrix product per list, faiss one query at a time. Both measures are then taken on 1,000 other
rows against exact search.

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

from assay._kernels.ivf import drop_self, served  # noqa: E402
from assay._kernels.knn import blocked_topk, normalise_rows  # noqa: E402
from assay.neighbors import KnnGraph, knn_graph  # noqa: E402


def quality(graph: KnnGraph, x: np.ndarray, rows: np.ndarray, k: int) -> tuple[float, float]:
    """(recall, share served within 1 + 0.05) of the graph on ``rows`` against exact search."""
    exact, exact_dist = blocked_topk(x[rows], x, k=k + 1, metric="cosine", exclude_self=False)
    exact, exact_dist = drop_self(exact, exact_dist, rows, k)
    hits = (graph.indices[rows][:, :, None] == exact[:, None, :]).any(axis=2).mean()
    return float(hits), served(graph.distances[rows], exact_dist, metric="cosine", eps=0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    print(f"{'N':>9} | {'method':>6} | {'s':>7} | {'recall':>6} | {'served':>6} | info")
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
            rec, srv = quality(g, x, rows, args.k)
            print(f"{n:>9,} | {method:>6} | {times[method]:>7.2f} | {rec:>6.3f} | {srv:>6.3f} | "
                  f"{g.info}", flush=True)
        print(f"{'':>9}   faiss / assay time: {times['faiss'] / times['ivf']:.1f}x", flush=True)


if __name__ == "__main__":
    main()
