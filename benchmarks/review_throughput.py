"""Review app throughput: decisions per second with concurrent reviewers, on the real server.

Audits a small synthetic table into a temporary workspace, starts ``assay review`` as a
subprocess on 127.0.0.1 (the command users run), then ``--reviewers`` threads post
``--decisions`` decisions in total, each with its own idempotency key, over keep-alive
connections. Prints decisions/s and the p50/p95/max latency of one decision, and checks that the
workspace holds every decision exactly once. With ``--page`` each decision is followed by the
three reads the page makes after a decision (``/api/session``, ``/api/agreement``,
``/api/spot_check``), as a browser would.

Run: ``python benchmarks/review_throughput.py`` (20 reviewers, 400 decisions), or e.g.
``--reviewers 50 --decisions 2000 --page``. Report the machine load (``uptime``) with the figures:
the client threads share the CPUs with the server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_workspace(root: Path, n: int = 600) -> Path:
    """Audit a synthetic 3-class table with flipped labels into ``root/ws``."""
    from assay.cli.main import main

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 3.0
    names = np.array(["cat", "dog", "owl"], dtype=object)
    labels = names[y].copy()
    labels[::10] = names[(y[::10] + 1) % 3]
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(
        label=labels, uid=[f"r{i}" for i in range(n)])
    data = root / "data.csv"
    frame.to_csv(data, index=False)
    ws = root / "ws"
    code = main(["audit", str(data), "--label", "label", "--id", "uid", "-w", str(ws),
                 "--out", str(root / "out"), "--json"])
    if code != 0:
        raise SystemExit(f"the audit of the benchmark table failed (exit code {code})")
    return ws


class Server:
    """``assay review`` in a subprocess; ``port`` and ``token`` from the URL it prints."""

    def __init__(self, ws: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", "review", "-w", str(ws), "--no-browser",
             "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COLUMNS": "400"})
        seen = []
        deadline = time.time() + 120
        match = None
        while time.time() < deadline and match is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
        if match is None:
            self.proc.kill()
            raise SystemExit("the server did not start:\n" + "".join(seen))
        self.port, self.token = int(match.group(1)), match.group(2)
        for _ in range(200):
            try:
                self.request("GET", "/api/session")
                break
            except OSError:
                time.sleep(0.05)
        self.output: list[str] = []
        self._drain = threading.Thread(target=lambda: self.output.extend(self.proc.stdout),
                                       daemon=True)
        self._drain.start()

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method: str, path: str, body: dict | None = None,
                con: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
        own = con is None
        con = con or self.connection()
        payload = None if body is None else json.dumps(body).encode()
        headers = {"X-Assay-Token": self.token, "Content-Type": "application/json"}
        try:
            con.request(method, path, body=payload, headers=headers)
            res = con.getresponse()
            data = res.read()
            try:
                return res.status, json.loads(data or b"{}")
            except ValueError:
                return res.status, {"error": data[:200].decode("latin-1")}
        finally:
            if own:
                con.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._drain.join(timeout=10)


def run(reviewers: int, decisions: int, page: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp))
        server = Server(ws)
        try:
            status, queue = server.request("GET", "/api/queues/label_issues?limit=500")
            rows = [it["row_id"] for it in queue["items"]]
            bodies = [{"row_id": rows[i % len(rows)], "queue": "label_issues",
                       "action": ("keep", "drop", "skip")[i % 3], "reviewer": f"rev{i % reviewers}",
                       "client_key": f"bench-{i}"} for i in range(decisions)]
            latencies: list[float] = []
            acked: dict[str, int] = {}
            failures: list[str] = []
            lock = threading.Lock()

            def reviewer(k: int) -> None:
                con = server.connection()
                try:
                    for body in bodies[k::reviewers]:
                        t0 = time.perf_counter()
                        code, out = server.request("POST", "/api/decisions", body, con)
                        dt = time.perf_counter() - t0
                        if page:
                            for path in ("/api/session", "/api/agreement", "/api/spot_check"):
                                code_get, out_get = server.request("GET", path, con=con)
                                if code_get != 200:
                                    with lock:
                                        failures.append(f"GET {path} {code_get}: {out_get}")
                        with lock:
                            latencies.append(dt)
                            if code == 200:
                                acked[body["client_key"]] = out["decision_id"]
                            else:
                                failures.append(f"{code}: {out}")
                finally:
                    con.close()

            threads = [threading.Thread(target=reviewer, args=(k,)) for k in range(reviewers)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
        finally:
            server.stop()
        from assay.workspace import Workspace

        if failures:
            print("first failures:", *failures[:3], "server output:",
                  "".join(server.output)[-3000:], sep="\n")
        stored = Workspace.open(ws).decisions()
        lost = len(set(acked) - set(stored["client_key"]))
        doubled = int(stored["client_key"].duplicated().sum())
        lat = np.sort(np.array(latencies))
        return {"decisions": decisions, "reviewers": reviewers, "wall_s": wall,
                "decisions_per_s": decisions / wall, "p50_ms": 1000 * float(np.percentile(lat, 50)),
                "p95_ms": 1000 * float(np.percentile(lat, 95)), "max_ms": 1000 * float(lat[-1]),
                "failed": len(failures), "stored": len(stored), "lost": lost, "doubled": doubled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--decisions", type=int, default=400)
    parser.add_argument("--page", action="store_true",
                        help="after each decision, also make the page's three reads")
    args = parser.parse_args()
    res = run(args.reviewers, args.decisions, args.page)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"{res['decisions']} decisions, {res['reviewers']} concurrent reviewers"
          f"{' (with the page reads)' if args.page else ''}: {res['decisions_per_s']:.1f} "
          f"decisions/s, p50 {res['p50_ms']:.0f} ms, p95 {res['p95_ms']:.0f} ms, "
          f"max {res['max_ms']:.0f} ms")
    print(f"stored {res['stored']}, lost {res['lost']}, doubled {res['doubled']}, "
          f"refused {res['failed']}")


if __name__ == "__main__":
    main()
