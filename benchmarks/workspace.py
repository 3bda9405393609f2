"""Workspace store throughput: assay (DuckDB through Arrow) vs pandas ``to_sql`` into SQLite.

The peer is what a project would otherwise write: ``DataFrame.to_sql`` into the standard
library's SQLite and ``pandas.read_sql`` back. Both store the same long findings frame (row id,
check, score, flag and two extra columns; assay packs the extras into a JSON ``details`` column,
SQLite gets them as plain columns, which favours SQLite). Also timed: reading one check's
flagged rows, counts per check, and the artifact cache (a hit vs recomputing a 1M x 16 matrix).

Run: ``python benchmarks/workspace.py`` (1M rows) or ``--quick`` (100k rows).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from assay.workspace import Workspace


def make_findings(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    checks = np.array(["label", "outlier", "near_duplicate"])
    return pd.DataFrame({
        "row_id": np.arange(n, dtype=np.int64),
        "check": checks[rng.integers(0, 3, n)],
        "score": rng.random(n),
        "flag": rng.random(n) < 0.05,
        "suggested_label": rng.integers(0, 10, n),
        "distance": rng.random(n).astype(np.float32),
    })


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench(n: int) -> list[tuple[str, float, float]]:
    frame = make_findings(n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ws")
        run_id = ws.start_run("audit")
        t_write, _ = timed(lambda: ws.record_findings(run_id, frame))
        t_read, back = timed(lambda: ws.findings(run_id, expand_details=True))
        assert len(back) == n
        t_flag, flagged = timed(lambda: ws.findings(run_id, check="label", flagged_only=True))
        t_count, counts = timed(lambda: ws.finding_counts(run_id))
        db_mb = (Path(tmp) / "ws" / "assay.duckdb").stat().st_size / 1e6

        con = sqlite3.connect(Path(tmp) / "peer.sqlite")
        s_write, _ = timed(lambda: (frame.assign(run_id=run_id).to_sql(
            "findings", con, index=False, chunksize=100_000), con.commit()))
        s_read, s_back = timed(lambda: pd.read_sql(
            "SELECT * FROM findings WHERE run_id = ?", con, params=[run_id]))
        assert len(s_back) == n
        s_flag, s_flagged = timed(lambda: pd.read_sql(
            "SELECT * FROM findings WHERE run_id = ? AND \"check\" = 'label' AND flag",
            con, params=[run_id]))
        assert len(s_flagged) == len(flagged)
        s_count, _ = timed(lambda: pd.read_sql(
            "SELECT \"check\", count(*), sum(flag), avg(score) FROM findings WHERE run_id = ? "
            "GROUP BY 1", con, params=[run_id]))
        con.close()
        sqlite_mb = (Path(tmp) / "peer.sqlite").stat().st_size / 1e6

        rows += [
            ("write findings", t_write, s_write),
            ("read all findings (typed)", t_read, s_read),
            ("read flagged rows of one check", t_flag, s_flag),
            ("counts per check", t_count, s_count),
            ("file size (MB)", db_mb, sqlite_mb),
        ]

        matrix = np.random.default_rng(1).random((n, 16), dtype=np.float32)

        def compute():
            # stands in for a featurizer: a fixed 0.5 s of work plus the matrix
            time.sleep(0.5)
            return matrix

        t_miss, _ = timed(lambda: ws.get_or_compute("features", "fp", {"d": 16}, compute))
        t_hit, _ = timed(lambda: ws.get_or_compute("features", "fp", {"d": 16}, compute))
        rows.append(("artifact: miss (0.5 s compute + store) / hit", t_miss, t_hit))
        t_open, _ = timed(lambda: Workspace.open(Path(tmp) / "ws").close())
        rows.append(("open an existing workspace", t_open, float("nan")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows instead of 1M")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    rows = bench(n)
    print(f"{n:,} findings rows")
    print(f"{'operation':<46}{'assay (s)':>12}{'sqlite (s)':>12}{'ratio':>8}")
    for name, a, b in rows:
        ratio = "" if np.isnan(b) or a == 0 else f"{b / a:7.1f}x"
        b_txt = "" if np.isnan(b) else f"{b:12.3f}"
        if name.startswith("artifact"):
            print(f"{name:<46}{a:12.3f}{b:12.3f}   (miss / hit; not vs sqlite)")
        else:
            print(f"{name:<46}{a:12.3f}{b_txt:>12}{ratio:>8}")


if __name__ == "__main__":
    main()
