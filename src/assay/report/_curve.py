"""``render_curve_report``: the learning-curve plan of ``assay curve`` as one offline HTML page.

The page has the audit report's look (its CSS is inlined) and its rules: every value is
autoescaped, the plot is a ``data:`` URI, nothing is fetched, and no script runs (the
Content-Security-Policy allows none). It is rendered from the same JSON payload as ``fits.json``,
so the page and the machine interface cannot disagree.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

from assay.exceptions import InputValidationError
from assay.report._render import _environment, _fmt_value, _static, _version

__all__ = ["render_curve_report", "write_curve_report"]

_MIME = {"png": "image/png", "svg": "image/svg+xml"}


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "unbounded" if v > 0 else "—"
        return f"{v:.{digits}f}"
    return _fmt_value(v)


def _n(v: Any) -> str:
    if v is None:
        return "unbounded"
    return f"{float(v):,.0f}" if math.isfinite(float(v)) else "unbounded"


def render_curve_report(
    payload: dict[str, Any],
    *,
    plot: bytes | None = None,
    plot_format: str = "png",
    title: str | None = None,
) -> str:
    """Render the plan of ``assay curve`` (its ``fits.json`` payload) as one HTML page.

    Parameters
    ----------
    payload : dict
        What ``fits.json`` holds: ``metric``, ``n_rows``, ``n_train``, ``fit``, ``forecast`` and,
        when computed, ``requirement``, ``per_class``, ``allocation`` and ``clean``.
    plot : bytes, optional
        The log-log plot (PNG or SVG bytes), embedded as a ``data:`` URI.
    plot_format : {"png", "svg"}, default="png"
    title : str, optional
        Page title; default "assay learning curve".

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = render_curve_report({
    ...     "metric": "accuracy", "n_rows": 100, "n_train": 80,
    ...     "fit": {"family": "pow3", "formula": "a * n^-b + c", "ceiling": 0.95,
    ...             "params": {"a": 1.0, "b": 0.5, "c": 0.05}, "well_behaved": True,
    ...             "quality_issues": []},
    ...     "forecast": [{"n": 80, "predicted": 0.84, "low": 0.83, "high": 0.85}]})
    >>> page.startswith("<!DOCTYPE html>"), "a * n^-b + c" in page
    (True, True)
    """
    for key in ("metric", "n_rows", "n_train", "fit", "forecast"):
        if key not in payload:
            raise InputValidationError(
                f"The curve payload has no {key!r}; pass what 'assay curve' writes to fits.json."
            )
    if plot_format not in _MIME:
        raise InputValidationError(f"plot_format must be 'png' or 'svg'; got {plot_format!r}.")
    fit = payload["fit"]
    metric = str(payload["metric"])
    facts = [("rows", _fmt_value(payload["n_rows"])),
             ("largest training size", _fmt_value(payload["n_train"])),
             ("metric", metric), ("family", f"{fit.get('family')} ({fit.get('formula')})"),
             ("ceiling", _num(fit.get("ceiling"))),
             ("parameters", ", ".join(f"{k} = {_num(v)}" for k, v in
                                      (fit.get("params") or {}).items()))]
    forecast = [[_n(r["n"]), _num(r["predicted"]), f"{_num(r['low'])} - {_num(r['high'])}"]
                for r in payload["forecast"]]
    req = payload.get("requirement")
    requirement = None
    if req is not None:
        requirement = {"message": req.get("message", ""), "capped": bool(req.get("capped")),
                       "stats": [("target", _num(req.get("target"))),
                                 ("recommended n", _n(req.get("n"))),
                                 ("extrapolated n", _n(req.get("n_point"))),
                                 ("interval", f"{_n(req.get('n_low'))} - {_n(req.get('n_high'))}"),
                                 ("reachable", "yes" if req.get("reachable") else "no")]}
    per_class = [[str(r.get("class")), _n(r.get("n_train")), _num(r.get("recall_now"), 3),
                  _num(r.get("recall_ceiling"), 3), str(r.get("family"))]
                 for r in payload.get("per_class") or []]
    alloc = payload.get("allocation")
    allocation = None
    if alloc is not None:
        allocation = {
            "title": (f"Collection budget ({alloc.get('objective')}: "
                      f"{_num(alloc.get('predicted_before'))} -> "
                      f"{_num(alloc.get('predicted_after'))})"),
            "rows": [[str(r.get("class")), _n(r.get("collect")), _n(r.get("total")),
                      _num(r.get("recall_now"), 3), _num(r.get("recall_after"), 3),
                      "" if r.get("eval_rows") is None else _n(r.get("eval_rows")),
                      str(r.get("note") or "")]
                     for r in alloc.get("classes") or []],
            "notes": [str(n) for n in alloc.get("notes") or []]}
    clean = payload.get("clean")
    plot_uri = None
    if plot is not None:
        plot_uri = f"data:{_MIME[plot_format]};base64,{base64.b64encode(plot).decode('ascii')}"
    return _environment().get_template("curve.html.j2").render(
        title=title or "assay learning curve", version=_version(), css=_static("report.css"),
        facts=facts, issues=list(fit.get("quality_issues") or []),
        well_behaved=bool(fit.get("well_behaved", True)), metric=metric, forecast=forecast,
        requirement=requirement, plot_uri=plot_uri, per_class=per_class,
        allocation=allocation, clean=clean,
        warnings=[str(w) for w in payload.get("warnings") or []],
    )


def write_curve_report(
    payload: dict[str, Any], path: str | Path, *, plot_path: str | Path | None = None,
    title: str | None = None,
) -> Path:
    """Write :func:`render_curve_report`'s page to ``path`` (the plot read from ``plot_path``)."""
    plot = None
    fmt = "png"
    if plot_path is not None:
        plot_path = Path(plot_path)
        plot = plot_path.read_bytes()
        fmt = plot_path.suffix.lstrip(".").lower()
    from assay.data import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(render_curve_report(payload, plot=plot, plot_format=fmt, title=title),
                       encoding="utf-8")
    return path
