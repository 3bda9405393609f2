"""Streaming dedup for curation: a deduplicated version of a large dataset, run as a user runs it.

The curation funnel starts from deduplicated data. This benchmark runs the two documented
commands on a table of N rows (an id and a label per row, Parquet) with given 128-d embeddings
(``.npy``), each in its own process, and reports the wall time, the peak RSS and the peak own
(anonymous) memory of each:

1. ``assay audit data.parquet --label label --id uid --embeddings emb.npy --checks duplicates -w
   WS`` - the exact (hash) and near (k-NN ratio test) duplicate sets, stored in the workspace;
2. ``assay export -w WS -o v2 --dedup`` - the curated version: a duplicate is dropped only as
   a copy of a row that stays; the table and the embeddings are written, the embeddings block
   by block.

Data: as ``dedup_throughput.py`` (100 Gaussian classes, 128-d, cosine; 0.5 % of the rows exact
copies of other rows and 1 % near copies, the copied row plus noise of 2 % of its norm). The
check: of each injected (source, copy) pair exactly one row is left (both left: a copy kept;
both dropped: each dropped as a copy of some other kept row, through a near link the audit
found), and how many rows outside the injected pairs the export dropped (rows whose near link
to a kept row is not an injected copy: the ratio test's false links, or natural near copies).
No peer runs here: fastdup needs the images, and its published rate (about 31 images per
second per core for ImageNet-21k, feature extraction included) is printed for scale only.
The own memory is what must fit in a machine; the RSS also counts the mapped pages of the
embeddings, which the kernel drops when memory is short.

Run: ``python benchmarks/curate_dedup.py`` (``--sizes 200000,1000000``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_throughput import FASTDUP_PER_CORE  # noqa: E402 - published, images/s per core

#: Runs one CLI command in this process and prints its peak RSS and its peak own (anonymous)
#: memory, sampled every 0.2 s, in GiB as the last line. RSS counts the mapped file pages read
#: (the embeddings), which the kernel can drop at will; the own memory is what must fit.
RUNNER = textwrap.dedent("""
    import resource, sys, threading, time
    from assay.cli.main import main
    peak = [0.0]
    def sample():
        while True:
            for line in open("/proc/self/status"):
                if line.startswith("RssAnon"):
                    peak[0] = max(peak[0], int(line.split()[1]) / 2**20)
            time.sleep(0.2)
    threading.Thread(target=sample, daemon=True).start()
    rc = main(sys.argv[1:])
    print("PEAK_GIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, peak[0])
    sys.exit(rc)
""")


def make_data(n: int, folder: Path, block: int = 500_000) -> tuple[np.ndarray, np.ndarray]:
    """Write ``data.parquet`` and ``emb.npy``; return the injected (source, copy) rows."""
    from numpy.lib.format import open_memmap

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, 128)).astype(np.float32)
    emb = open_memmap(folder / "emb.npy", mode="w+", dtype=np.float32, shape=(n, 128))
    labels = np.empty(n, dtype=np.int64)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        y = rng.integers(0, 100, hi - lo)
        emb[lo:hi] = centres[y] + rng.normal(scale=0.9, size=(hi - lo, 128)).astype(np.float32)
        labels[lo:hi] = y
    rows = rng.permutation(n)
    n_exact, n_near = n // 200, n // 100
    src = np.sort(rows[: n_exact + n_near])
    dst = rows[n_exact + n_near: 2 * (n_exact + n_near)]
    emb[dst[:n_exact]] = emb[src[:n_exact]]
    noise = rng.normal(size=(n_near, 128)).astype(np.float32)
    base = np.asarray(emb[src[n_exact:]])
    noise *= 0.02 * np.linalg.norm(base, axis=1, keepdims=True) / np.linalg.norm(
        noise, axis=1, keepdims=True)
    emb[dst[n_exact:]] = base + noise
    emb.flush()
    del emb
    pd.DataFrame({"uid": np.char.add("r", np.arange(n).astype(str)),
                  "label": np.char.add("c", labels.astype(str))}).to_parquet(
        folder / "data.parquet", index=False)
    return src, dst


def _run(runner: Path, args: list[str]) -> tuple[float, float, float]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, str(runner), *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"assay {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    _, rss, own = out.stdout.strip().splitlines()[-1].split()
    return wall, float(rss), float(own)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000,1000000")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"load average at start: {os.getloadavg()[0]:.2f}; cores: {cores}")
    print("| rows | audit s | audit GiB (own) | export s | export GiB (own) | rows left | "
          "one left per injected pair | pairs both left | pairs both dropped | "
          "dropped outside pairs | "
          "rows/s per core (both) | x fastdup's 31/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            runner = folder / "runner.py"
            runner.write_text(RUNNER)
            src, dst = make_data(n, folder)
            ws = str(folder / "ws")
            t_audit, m_audit, o_audit = _run(runner, [
                "audit", str(folder / "data.parquet"), "--label", "label", "--id", "uid",
                "--embeddings", str(folder / "emb.npy"), "--checks", "duplicates", "-w", ws])
            t_export, m_export, o_export = _run(
                runner, ["export", "-w", ws, "-o", str(folder / "v2"), "--dedup"])
            left = pd.read_parquet(folder / "v2" / "data.parquet", columns=["uid"])["uid"]
            kept = np.zeros(n, dtype=bool)
            kept[np.char.lstrip(left.to_numpy().astype(str), "r").astype(np.int64)] = True
            one_left = float(np.mean(kept[src] ^ kept[dst]))
            both_left = int((kept[src] & kept[dst]).sum())
            both_dropped = int((~kept[src] & ~kept[dst]).sum())
            in_pairs = np.zeros(n, dtype=bool)
            in_pairs[src] = in_pairs[dst] = True
            outside = int((~kept & ~in_pairs).sum())
            emb_left = np.load(folder / "v2" / "emb.npy", mmap_mode="r").shape[0]
            assert emb_left == kept.sum(), (emb_left, kept.sum())
            rate = n / (t_audit + t_export) / cores
            print(f"| {n:,} | {t_audit:.1f} | {m_audit:.2f} ({o_audit:.2f}) | {t_export:.1f} | "
                  f"{m_export:.2f} ({o_export:.2f}) | "
                  f"{int(kept.sum()):,} | {one_left:.4f} | {both_left} | {both_dropped} | "
                  f"{outside:,} | {rate:,.0f} | "
                  f"{rate / FASTDUP_PER_CORE:,.0f}x |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
