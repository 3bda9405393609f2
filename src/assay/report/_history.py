"""``render_history``: the runs of a workspace as one offline page (``assay runs --html``).

A line chart per headline audit metric across the audits, oldest first, a sparkline per check
figure, and the run table. The charts are inline SVG drawn from numbers in the runs' summaries;
the page has the audit report's look (its CSS is inlined), escapes every value, fetches nothing
and runs no script (the Content-Security-Policy allows none).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay._validation import finite_or_none
from assay.exceptions import InputValidationError
from assay.report._plots import _short
from assay.report._render import _environment, _fmt_value, _static, _version

__all__ = ["metric_series", "render_history", "write_history"]

#: Geometry of a metric's line chart and of a check figure's sparkline (SVG user units).
_CHART = {"width": 360, "height": 130, "left": 44, "right": 12, "top": 12, "bottom": 26}
_SPARK = {"width": 140, "height": 28, "left": 3, "right": 3, "top": 4, "bottom": 4}


def metric_series(runs: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]],
                                                                dict[str, list[float | None]]]:
    """The audits to chart, oldest first, and each metric's value in every one of them.

    An audit counts when it finished ``ok`` and its summary holds ``metrics`` (what ``assay
    audit`` records in the workspace). A metric an audit did not compute is ``None`` there.

    Parameters
    ----------
    runs : sequence of mapping
        Runs as ``Workspace.runs()`` records, each with the run's ``summary`` added.

    Returns
    -------
    audits : list of mapping
        The audit runs, oldest first.
    series : dict of str to list
        Metric name -> one value (float or None) per audit, names sorted.

    Examples
    --------
    >>> audits, series = metric_series([
    ...     {"run_id": "b", "command": "audit", "status": "ok", "started": "2025-01-02",
    ...      "summary": {"metrics": {"label": 0.1}}},
    ...     {"run_id": "a", "command": "audit", "status": "ok", "started": "2025-01-01",
    ...      "summary": {"metrics": {"label": 0.3, "outlier": 0.02}}}])
    >>> [a["run_id"] for a in audits], series
    (['a', 'b'], {'label': [0.3, 0.1], 'outlier': [0.02, None]})
    """
    audits = [r for r in runs if r.get("command") == "audit" and r.get("status") == "ok"
              and isinstance((r.get("summary") or {}).get("metrics"), Mapping)]
    audits.sort(key=lambda r: (str(r.get("started") or ""), str(r.get("run_id"))))
    names = sorted({str(k) for r in audits for k in r["summary"]["metrics"]})
    series = {name: [finite_or_none(r["summary"]["metrics"].get(name)) for r in audits]
              for name in names}
    return audits, series


def _geometry(values: Sequence[float | None], spec: Mapping[str, int],
              audits: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any]:
    """Points, line segments (broken where a value is missing) and the y range of one series."""
    w, h = spec["width"], spec["height"]
    left, right, top, bottom = spec["left"], spec["right"], spec["top"], spec["bottom"]
    plot_w, plot_h = w - left - right, h - top - bottom
    known = [v for v in values if v is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    if hi <= lo:  # a flat series: 0 .. twice its value (the line in the middle; 0 on the axis)
        lo, hi = (0.0, 2 * hi or 1.0) if lo >= 0 else (2 * lo, 0.0)
    n = len(values)

    def x(i: int) -> float:
        return round(left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 2)

    def y(v: float) -> float:
        return round(top + plot_h * (hi - v) / (hi - lo), 2)

    points: list[dict[str, Any]] = []
    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                segments.append(current)
            current = []
            continue
        run = audits[i]
        points.append({"x": x(i), "y": y(v), "value": v, "label": _fmt_value(v),
                       "run": str(run.get("run_id")), "dataset": str(run.get("fingerprint") or "")})
        current.append((x(i), y(v)))
    if current:
        segments.append(current)
    paths = [("M" + " L".join(f"{px} {py}" for px, py in seg)) for seg in segments if len(seg) > 1]
    # a dashed line where the dataset version changes between two audits
    changes = [round((x(i - 1) + x(i)) / 2, 2) for i in range(1, n)
               if audits[i].get("fingerprint") != audits[i - 1].get("fingerprint")]
    latest = next((v for v in reversed(values) if v is not None), None)
    earlier = [v for v in values if v is not None][:-1]
    change = None if latest is None or not earlier else latest - earlier[-1]
    return {"name": name, "width": w, "height": h, "left": left, "top": top,
            "plot_w": plot_w, "plot_h": plot_h, "bottom_y": top + plot_h,
            "points": points, "paths": paths, "changes": changes,
            "y_hi": _short(hi), "y_lo": _short(lo), "n": len(known),
            "latest": _fmt_value(latest), "latest_value": latest,
            "change": "—" if change is None else ("0" if change == 0 else f"{change:+.4g}"),
            "first": _fmt_value(known[0]) if known else "—"}


def render_history(
    runs: Sequence[Mapping[str, Any]],
    *,
    workspace: str | None = None,
    title: str | None = None,
) -> str:
    """Render a workspace's runs as one HTML page: metric trends and the run table.

    Parameters
    ----------
    runs : sequence of mapping
        Runs as ``assay runs --json`` prints them (``run_id``, ``command``, ``status``,
        ``started``, ``duration_s``, ``fingerprint``, ``n_findings``), newest first, each audit
        with its ``summary`` (``Workspace.run(run_id)["summary"]``) added.
    workspace : str, optional
        Where the runs are, for the heading.
    title : str, optional
        Page title; default "assay run history".

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = render_history([
    ...     {"run_id": "r2", "command": "audit", "status": "ok", "started": "2025-01-02T10:00:00Z",
    ...      "duration_s": 2.0, "fingerprint": "f2", "n_findings": 90,
    ...      "summary": {"status": "warn", "metrics": {"label": 0.1}}},
    ...     {"run_id": "r1", "command": "audit", "status": "ok", "started": "2025-01-01T10:00:00Z",
    ...      "duration_s": 2.5, "fingerprint": "f1", "n_findings": 90,
    ...      "summary": {"status": "fail", "metrics": {"label": 0.3}}}])
    >>> page.startswith("<!DOCTYPE html>"), page.count('class="chart trend"')
    (True, 1)
    """
    if isinstance(runs, Mapping) or not isinstance(runs, Sequence):
        raise InputValidationError(
            "runs must be a list of run records (dicts), as 'assay runs --json' prints them; got "
            f"{type(runs).__name__}."
        )
    for i, r in enumerate(runs):
        if not isinstance(r, Mapping) or "run_id" not in r:
            raise InputValidationError(
                f"Run record {i} is not a dict with a 'run_id'; pass the records 'assay runs "
                "--json' prints."
            )
    audits, series = metric_series(runs)
    headline = [_geometry(v, _CHART, audits, k) for k, v in series.items() if "." not in k]
    figures = [_geometry(v, _SPARK, audits, k) for k, v in series.items() if "." in k]
    table = [{
        "run_id": str(r["run_id"]), "command": str(r.get("command") or ""),
        "status": str(r.get("status") or ""), "started": _when(r.get("started")),
        "duration": _duration(r.get("duration_s")),
        "dataset": str(r.get("fingerprint") or "—")[:12],
        "findings": _fmt_value(r.get("n_findings")),
        "verdict": (r.get("summary") or {}).get("status") if r.get("command") == "audit" else None,
    } for r in runs]
    facts = [("workspace", workspace or "—"), ("runs", _fmt_value(len(runs))),
             ("audits charted", _fmt_value(len(audits))),
             ("dataset versions", _fmt_value(len({a.get("fingerprint") for a in audits})))]
    if audits:
        facts.append(("audits from", f"{_when(audits[0].get('started'))} to "
                                     f"{_when(audits[-1].get('started'))}"))
    return _environment().get_template("history.html.j2").render(
        title=title or "assay run history", version=_version(), css=_static("report.css"),
        facts=facts, charts=headline, figures=figures, runs=table,
        audits=[str(a.get("run_id")) for a in audits],
    )


def _when(v: Any) -> str:
    return "—" if not v else str(v).replace("T", " ").rstrip("Z")[:19]


def _duration(seconds: Any) -> str:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "—"
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def write_history(
    runs: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    workspace: str | None = None,
    title: str | None = None,
) -> Path:
    """Write :func:`render_history`'s page to ``path`` (atomically); return the path."""
    from assay.data import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(render_history(runs, workspace=workspace, title=title), encoding="utf-8")
    return path
