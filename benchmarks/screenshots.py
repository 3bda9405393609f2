"""Screenshots of the demo report, the diff page and the review app, for docs/images/.

Steps, all through the real command line in a temporary folder:

1. ``assay demo --out DEMO``: scikit-learn's digits with injected label noise and duplicates,
   audited and recorded in ``DEMO/.assay`` (as the README's demo command runs it);
2. the labels the audit flagged replaced by its suggestions (what relabelling them all in the
   review app would do), re-audited into the same workspace, and ``assay diff RUN_A RUN_B
   --html`` between the two runs;
3. ``assay review -w DEMO/.assay --run RUN_A --no-browser --port 0`` started as ``tests/test_app_browser.py``
   starts it (a subprocess on 127.0.0.1, the address with its token read from its output).

Playwright drives Debian's ``/usr/bin/chromium`` (never a downloaded browser); every request
outside the page's own origin is aborted. Writes ``report.png``, ``report-gallery.png``,
``diff.png`` and ``review.png`` into ``--out`` (default ``docs/images``).

Run: ``python benchmarks/screenshots.py`` (about a minute; ``--keep DIR`` keeps the demo).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 860}


def assay(*args: str, cwd: Path) -> str:
    """Run ``assay ARGS`` in ``cwd``; its standard output (raises when it fails)."""
    out = subprocess.run([sys.executable, "-m", "assay.cli.main", *args], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "120"}, cwd=cwd)
    if out.returncode != 0:
        raise RuntimeError(f"assay {' '.join(args)} failed ({out.returncode}):\n"
                           f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


def make_runs(demo: Path) -> tuple[Path, str, str]:
    """The demo audit and a re-audit with its flagged labels replaced; (workspace, ids).

    The commands run beside ``demo`` with relative paths, so the pages show
    ``assay-demo/digits_noisy.csv`` rather than a temporary folder.
    """
    import pandas as pd

    from assay.workspace import Workspace

    here, name = demo.parent, demo.name
    here.mkdir(parents=True, exist_ok=True)
    assay("demo", "--out", name, cwd=here)
    ws = demo / ".assay"
    first = str(Workspace.open(ws).runs(command="audit")["run_id"].iloc[0])
    data = pd.read_csv(demo / "digits_noisy.csv")
    issues = pd.read_parquet(demo / "issues.parquet")
    flagged = issues["is_label_issue"].to_numpy(dtype=bool)
    data.loc[flagged, "label"] = issues.loc[flagged, "suggested_label"].astype(
        data["label"].dtype).to_numpy()
    data.to_csv(demo / "digits_relabelled.csv", index=False)
    assay("audit", f"{name}/digits_relabelled.csv", "--label", "label", "--id", "id",
          "-w", f"{name}/.assay", "--out", f"{name}/relabelled", "--json", cwd=here)
    runs = Workspace.open(ws).runs(command="audit")["run_id"].astype(str).tolist()
    second = next(r for r in runs if r != first)
    assay("diff", first, second, "-w", f"{name}/.assay", "--html", f"{name}/diff.html",
          "--json", cwd=here)
    return ws, first, second


class Review:
    """``assay review`` in a subprocess; ``url`` is the address it printed (with its token)."""

    def __init__(self, ws: Path, run: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", "review", "-w", str(ws), "--run", run,
             "--no-browser", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COLUMNS": "400"})
        assert self.proc.stdout is not None
        deadline, lines, self.url = time.time() + 60, [], ""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise RuntimeError("assay review did not start:\n" + "".join(lines))
        self.base = self.url.split("/?")[0]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def offline_page(browser: Any, origin: str = "file:") -> Any:
    """A new page whose requests outside ``origin`` are aborted."""
    page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)

    def route(r: Any) -> None:
        if r.request.url.startswith(origin):
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    return page


def shoot(demo: Path, ws: Path, run: str, out: Path) -> list[Path]:
    """The four screenshots (the review app on the demo's run ``run``); their paths."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True)
        page = offline_page(browser)
        page.goto((demo / "report.html").resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(out / "report.png"))
        written.append(out / "report.png")
        # the gallery of suspected label errors, the sticky header out of the way
        page.evaluate("document.querySelector('header.top').style.position = 'static'")
        box = page.locator("#label-issues").bounding_box()
        if box is not None:
            page.screenshot(path=str(out / "report-gallery.png"), full_page=True, clip={
                "x": box["x"], "y": box["y"], "width": box["width"],
                "height": min(box["height"], 760)})
            written.append(out / "report-gallery.png")
        page.close()

        page = offline_page(browser)
        page.goto((demo / "diff.html").resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(out / "diff.png"))
        written.append(out / "diff.png")
        page.close()

        server = Review(ws, run)
        try:
            page = offline_page(browser, origin=server.base)
            page.goto(server.url)
            page.wait_for_selector("#item[data-row-id]")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "review.png"))
            written.append(out / "review.png")
            page.close()
        finally:
            server.stop()
        browser.close()
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs"
                    / "images", help="Folder for the PNG files (default: docs/images).")
    ap.add_argument("--keep", type=Path, default=None,
                    help="Build the demo in this folder and keep it (default: a temporary one).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        demo = args.keep or Path(tmp) / "assay-demo"
        t = time.perf_counter()
        ws, first, second = make_runs(demo)
        print(f"demo audit {first}, relabelled re-audit {second} ({time.perf_counter() - t:.0f} s)")
        for path in shoot(demo, ws, first, args.out):
            print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
