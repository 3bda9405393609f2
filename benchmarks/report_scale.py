"""How big is the HTML report of a million-row audit, and how fast does Chromium open it?

Issue 18's goal: a 1M-row report of at most 10 MB that opens and becomes interactive in at most
2 s in Chromium, with the full per-row table in Parquet beside it.

The audit is the one of ``benchmarks/audit_scale.py`` (100 classes, 128-d Gaussian-blob
embeddings, probabilities from noisy logits, 10 % label flips, a few hundred duplicates), run in
this process with the probabilities given, plus an ``id`` column so the galleries show ids. The
report is written as ``assay audit`` writes it: ``issues.parquet`` and ``audit.json``
(:func:`assay.pipelines.save_audit_result`), then ``report.html`` with the dataset, linking the
Parquet file (:func:`assay.report.write_report`). The audit and its folder are kept under
``--folder`` so a re-run only re-renders (``--reuse``).

Load time: Playwright drives Debian's ``/usr/bin/chromium`` (never a downloaded browser), one
fresh page per repeat, every non-``file:`` request aborted. Per repeat:

- ``dcl``: navigation start to the end of ``DOMContentLoaded`` (Navigation Timing);
- ``load``: navigation start to the end of the ``load`` event;
- ``interactive``: navigation start to the frame painted after two interactions made as soon
  as the page accepts them: a click that opens a collapsed section (``<details>``) and a click
  on the label-error gallery's "Next" button (which exists only once ``report.js`` has run and
  paginated the gallery). Measured inside the page with ``performance.now()``, so it includes
  Playwright's round trips: an upper bound.

The median of ``--repeats`` repeats is printed beside the goal.

Run: ``python benchmarks/report_scale.py`` (``--rows 1000000``, the default; ``--rows 100000``
for a quick run). Needs ``pip install playwright`` (the Python package only) and Debian's
chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_scale import make_data  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
GOAL_MB = 10.0
GOAL_S = 2.0


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def build_audit(n: int, folder: Path, *, reuse: bool) -> tuple[Any, Any, dict[str, float]]:
    """The audit of ``n`` rows and its dataset; read back from ``folder`` when ``reuse``."""
    import pandas as pd

    import assay
    from assay import AuditResult
    from assay.pipelines import save_audit_result

    folder.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    paths = make_data(n, 100, 128, 0, folder)
    y = np.load(paths["labels"])
    table = pd.DataFrame({"id": [f"r{i:07d}" for i in range(n)], "y": y})
    ds = assay.load(table, label="y", id="id", embeddings=np.load(paths["emb"]))
    audit_json = folder / "audit.json"
    if reuse and audit_json.exists():
        t = time.perf_counter()
        res = AuditResult.from_json(audit_json)  # reads issues.parquet beside it
        times["read back"] = time.perf_counter() - t
        return res, ds, times
    t = time.perf_counter()
    res = assay.audit(ds, pred_probs=np.load(paths["probs"]), random_state=0)
    times["audit"] = time.perf_counter() - t
    t = time.perf_counter()
    save_audit_result(res, folder)
    times["issues.parquet + audit.json"] = time.perf_counter() - t
    return res, ds, times


def write(res: Any, ds: Any, folder: Path) -> tuple[Path, float]:
    """Write ``report.html`` beside ``issues.parquet``; return its path and the seconds taken."""
    from assay.report import write_report

    t = time.perf_counter()
    path = write_report(res, folder / "report.html", dataset=ds, issues_href="issues.parquet")
    return path, time.perf_counter() - t


INTERACT_JS = """
async () => {
  const closed = document.querySelector("details.sec:not([open]) > summary");
  if (closed) { closed.click(); }
  const opened = closed ? closed.parentElement.open : null;
  const next = document.querySelector("#label-issues .pager button[aria-label='next page']");
  let before = null, after = null;
  if (next) {
    before = next.parentElement.querySelector(".pager-info").textContent;
    next.click();
    after = next.parentElement.querySelector(".pager-info").textContent;
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const nav = performance.getEntriesByType("navigation")[0];
  return {t: performance.now(), dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          opened: opened, paged: before !== null && before !== after, before: before,
          after: after, n_nodes: document.getElementsByTagName("*").length};
}
"""


def measure(path: Path, repeats: int) -> list[dict[str, Any]]:
    """Open ``path`` ``repeats`` times in Chromium; the timings of each repeat (milliseconds)."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True)
        for _ in range(repeats):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            blocked: list[str] = []

            def route(r: Any, blocked: list[str] = blocked) -> None:
                if r.request.url.startswith("file:"):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(path.resolve().as_uri(), wait_until="domcontentloaded")
            # report.js runs at the end of <body>, before DOMContentLoaded: the page is
            # interactive now; interact at once and time the painted result
            got = page.evaluate(INTERACT_JS)
            page.wait_for_load_state("load")
            nav = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                                " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; }")
            got.update(nav)
            got["blocked"] = blocked
            out.append(got)
            context.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folder", type=Path, default=None,
                    help="Where the audit and report go (default: /tmp/assay-report-scale-N).")
    ap.add_argument("--reuse", action="store_true",
                    help="Read the audit back from --folder instead of re-running it.")
    ap.add_argument("--json", action="store_true", help="Also print the figures as JSON.")
    args = ap.parse_args()
    folder = args.folder or Path(f"/tmp/assay-report-scale-{args.rows}")
    loads = [load_average()]
    res, ds, times = build_audit(args.rows, folder, reuse=args.reuse)
    loads.append(load_average())
    path, render_s = write(res, ds, folder)
    times["report.html"] = render_s
    size_mb = path.stat().st_size / 1e6
    parquet_mb = (folder / "issues.parquet").stat().st_size / 1e6
    loads.append(load_average())
    runs = measure(path, args.repeats)
    loads.append(load_average())
    med = {k: statistics.median(r[k] for r in runs) / 1e3 for k in ("dcl", "load", "t")}
    ok_size = size_mb <= GOAL_MB
    ok_time = med["t"] <= GOAL_S
    print(f"rows {args.rows:,} | report.html {size_mb:.2f} MB (goal <= {GOAL_MB:g}: "
          f"{'met' if ok_size else 'NOT met'}) | issues.parquet {parquet_mb:.1f} MB beside | "
          f"DOMContentLoaded {med['dcl']:.2f} s | load {med['load']:.2f} s | interactive "
          f"{med['t']:.2f} s (goal <= {GOAL_S:g}: {'met' if ok_time else 'NOT met'}) | "
          f"median of {len(runs)}")
    print("  steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    print("  per repeat (s): " + "; ".join(
        f"dcl {r['dcl'] / 1e3:.2f} load {r['load'] / 1e3:.2f} interactive {r['t'] / 1e3:.2f}"
        for r in runs))
    last = runs[-1]
    print(f"  interactions: section opened {last['opened']}, gallery paged {last['paged']} "
          f"({last['before']!r} -> {last['after']!r}); DOM elements {last['n_nodes']:,}; "
          f"requests blocked {sum(len(r['blocked']) for r in runs)}")
    print(f"  load average (1/5/15 min) before audit, after audit, after render, after "
          f"browser: {' | '.join(loads)}")
    if args.json:
        print(json.dumps({"rows": args.rows, "size_mb": size_mb, "parquet_mb": parquet_mb,
                          "median_s": med, "times_s": times, "runs": runs, "load": loads}))


if __name__ == "__main__":
    main()
