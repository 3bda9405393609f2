"""``render_report``: a pure function from an :class:`~assay.AuditResult` (and the data) to HTML.

The HTML is one self-contained file: the CSS and JavaScript of ``static/`` are inlined, images are
``data:`` URIs, nothing is fetched from the network. Every string that comes from the data goes
through Jinja2 autoescaping; the one block of data handed to JavaScript is JSON with ``<``,
``>``, ``&``, U+2028 and U+2029 escaped, so no label can close the ``<script>`` element.

Large audits stay fast: the renderer never loops over all rows in Python; it selects the rows to
show (at most ``max_rows`` per section) with numpy first and reads only those from the data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay._audit import SCHEMA_VERSION
from assay._audit import jsonable as _jsonable
from assay._validation import check_int, finite_or_none
from assay.exceptions import InputValidationError
from assay.report._plots import data_map, score_histogram
from assay.slices import slice_name

__all__ = ["format_p_value", "render_report", "write_report", "safe_json"]

#: Classes drawn as separate bars in the class-profile chart; above this, a step line.
MAX_BARS = 240
#: Classes shown in the confusion matrix.
MAX_CONFUSION = 30
#: Members of one duplicate set shown side by side.
MAX_SET_MEMBERS = 6
#: Duplicate sets shown.
MAX_SETS = 100
#: Rows of evidence tables (pairs, columns, slices) shown.
MAX_TABLE = 200
#: Leaked pairs shown side by side (exact first, then near by distance, then group).
MAX_LEAK_PAIRS = 30

_STATUS_RANK = {"pass": 0, "warn": 1, "fail": 2, "error": 3}
_STATUS_WORD = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR", "skip": "SKIP"}
# Sections in display order: (anchor id, title, check that feeds it).
_SECTIONS = [
    ("class-profile", "Class profile", "class_profile"),
    ("data-map", "Data map", None),
    ("label-issues", "Suspected label errors", "label_issues"),
    ("duplicates", "Duplicate sets", "duplicates"),
    ("outliers", "Outliers", "outliers"),
    ("ambiguous-pairs", "Ambiguous class pairs", "ambiguous_pairs"),
    ("confusion", "Confusion matrix", None),
    ("leakage", "Leakage across splits", "leakage"),
    ("target-leakage", "Target leakage", "target_leakage"),
    ("slices", "Weak slices", "slices"),
    ("evaluation-size", "Evaluation set size", "evaluation_size"),
    ("split-shift", "Split shift", "split_shift"),
]
_KNOWN = {check for _, _, check in _SECTIONS if check}


def render_report(
    result: Any,
    dataset: Any = None,
    *,
    issues_href: str | None = None,
    max_rows: int = 200,
    title: str | None = None,
    image_shape: Any = None,
) -> str:
    """Render an audit as one self-contained, offline, printable HTML page.

    Parameters
    ----------
    result : AuditResult
        What :func:`assay.audit` returned (or :meth:`AuditResult.from_json` read back).
    dataset : Dataset, optional
        The audited data, aligned with ``result.issues``. When given, the galleries show each
        row itself: an image thumbnail, a text excerpt or a few table cells. Without it they
        show what the per-row issues table holds.
    issues_href : str, optional
        Link to the full per-row table (e.g. ``"issues.parquet"``), shown under each capped
        gallery.
    max_rows : int, default=200
        Most rows shown per gallery (label errors, outliers); the page paginates them.
    title : str, optional
        Page title. Default: "assay audit" and the data source's file name.
    image_shape : (int, int) or str, optional
        The rows of a table dataset are grey images of this (height, width), stored pixel by
        pixel in the feature columns (``"28x28"`` works too; ``"none"``: draw them as table
        cells). Default: what the audit recorded (``assay audit --image-shape``), else pixel
        columns found from their names (``pixel_0`` ... ``pixel_63``, see
        :func:`assay.data.pixel_layout`). Such rows show as thumbnails.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay import AuditResult, CheckResult
    >>> res = AuditResult({"outliers": CheckResult("outliers", "pass", message="No outliers.")},
    ...                   pd.DataFrame({"row": [0, 1]}), {"n_rows": 2, "n_classes": 1})
    >>> html = render_report(res)
    >>> html.startswith("<!DOCTYPE html>"), "No outliers." in html
    (True, True)
    """
    ctx = build_context(result, dataset, issues_href=issues_href, max_rows=max_rows, title=title,
                        image_shape=image_shape)
    return _environment().get_template("report.html.j2").render(**ctx)


def write_report(
    result: Any,
    path: str | Path,
    *,
    dataset: Any = None,
    issues_href: str | None = None,
    max_rows: int = 200,
    image_shape: Any = None,
) -> Path:
    """Render the report and write it to ``path`` (a folder gets ``report.html`` inside).

    The file is written to a temporary name first and renamed, so a reader never sees half a
    report. When ``issues_href`` is not given and ``result.summary["issues_file"]`` names a file
    beside the report, the report links to it.

    Parameters
    ----------
    result : AuditResult
    path : str or Path
        The HTML file to write, or an existing folder.
    dataset : Dataset, optional
        See :func:`render_report`.
    issues_href : str, optional
        See :func:`render_report`.
    max_rows : int, default=200
    image_shape : (int, int) or str, optional
        See :func:`render_report`.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from assay import AuditResult
    >>> res = AuditResult({}, pd.DataFrame(), {"n_rows": 0, "n_classes": 0})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_report(res, d).name
    'report.html'
    """
    target = Path(path)
    if target.is_dir():
        target = target / "report.html"
    if not target.parent.exists():
        raise InputValidationError(
            f"Cannot write the report to '{target}': the folder '{target.parent}' does not exist. "
            "Create it first or pick another path."
        )
    if issues_href is None:
        name = result.summary.get("issues_file") if isinstance(result.summary, dict) else None
        if name and (target.parent / str(name)).exists():
            issues_href = str(name)
    html = render_report(result, dataset, issues_href=issues_href, max_rows=max_rows,
                         image_shape=image_shape)
    from assay.data import atomic_path

    with atomic_path(target) as tmp:  # a crash leaves the old report or the new, never half
        tmp.write_text(html, encoding="utf-8")
    return target


def safe_json(obj: Any) -> str:
    """JSON text that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026``; U+2028 and U+2029
    (line breaks in older JavaScript) are escaped too. ``JSON.parse`` reads the same value back.

    Examples
    --------
    >>> safe_json({"label": "</script>"})
    '{"label": "\\\\u003c/script\\\\u003e"}'
    """
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str)
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                     ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, esc)
    return text


# --------------------------------------------------------------------------------------------
# Context: plain dicts and lists, everything the template shows
# --------------------------------------------------------------------------------------------
def build_context(
    result: Any,
    dataset: Any = None,
    *,
    issues_href: str | None = None,
    max_rows: int = 200,
    title: str | None = None,
    image_shape: Any = None,
) -> dict[str, Any]:
    """Everything the template needs, as JSON-able values (the report's view model)."""
    from assay._audit import AuditResult

    if not isinstance(result, AuditResult):
        raise InputValidationError(
            f"render_report needs an assay.AuditResult; got {type(result).__name__}. Pass what "
            "assay.audit() returned or AuditResult.from_json('audit.json')."
        )
    max_rows = check_int("max_rows", max_rows, low=1, high=10_000, owner="render_report")
    if issues_href is not None and not isinstance(issues_href, str):
        raise InputValidationError(
            f"issues_href must be a string (a link such as 'issues.parquet'); got "
            f"{type(issues_href).__name__}."
        )
    issues = result.issues if isinstance(result.issues, pd.DataFrame) else pd.DataFrame()
    layout = None
    if dataset is not None:
        _check_dataset(dataset, issues)
        from assay.report._samples import sample_layout

        if image_shape is None:  # what the audit was told (assay audit --image-shape)
            image_shape = (result.summary or {}).get("image_shape")
        layout = sample_layout(dataset, image_shape)
    # The same figures as result.to_dict(), without converting large evidence (a K x K
    # confusion matrix) to Python lists: the builders read arrays and frames directly.
    summary = _jsonable(result.summary)
    checks = {c.name: _check_view(c) for c in result.checks.values()}
    specs = _specs()
    outputs = dict(result.outputs) or {n: s.outputs for n, s in specs.items()
                                       if s.outputs is not None and n in checks}
    sel = _Selector(issues, max_rows, outputs)
    if dataset is not None:
        sel.classes, sel.codes = list(dataset.classes), np.asarray(dataset.labels)

    sections: list[dict[str, Any]] = []
    for anchor, heading, name in _SECTIONS:
        check = checks.get(name) if name else None
        if name and check is None:
            continue
        if check is not None and check["status"] == "error":
            continue  # shown under "Checks that errored"
        builder = _BUILDERS[anchor]
        body = builder(check, checks, sel, summary)
        if body is None:
            continue
        sections.append({"id": anchor, "title": heading, "check": check, "kind": anchor, **body})
    for name, check in checks.items():
        if name not in _KNOWN and check["status"] != "error":
            spec = specs.get(name)
            custom = spec.section(check) if spec is not None and spec.section else None
            body = _custom(custom) if custom is not None else _generic(check)
            sections.append({"id": f"check-{_slug(name)}", "title": name, "check": check,
                             "kind": "generic", **body})
    for sec in sections:
        name = sec["check"]["name"] if sec["check"] else None
        out = outputs.get(name) if name else None
        sec["hist"] = score_histogram(sec["check"], out, issues) if out is not None else None
        sec["open"] = _is_open(sec)
    errored = [c for c in checks.values() if c["status"] == "error"]
    next_steps = [s.to_dict() for s in result.next_steps()]

    samples: dict[int, dict[str, Any]] = {}
    if dataset is not None and sel.wanted:
        from assay.report._samples import build_samples

        samples = build_samples(dataset, np.fromiter(sel.wanted, dtype=np.int64,
                                                     count=len(sel.wanted)), layout)
    for sec in sections:
        for item in sec.get("items", []):
            item["sample"] = samples.get(item["row"])
        for dup in sec.get("sets", []):
            for member in dup["members"]:
                member["sample"] = samples.get(member["row"])
        for pair in sec.get("pairs", []):
            for member in pair["members"]:
                member["sample"] = samples.get(member["row"])
    if layout is not None and layout.kind == "fields":
        _pair_cells(sections, dataset)
    if layout is not None and layout.kind == "text":
        _mark_words(sections, dataset)

    rows_table = [
        {"name": name, "status": c["status"], "word": _STATUS_WORD[c["status"]],
         "message": c["message"], "duration_s": c.get("duration_s", 0.0),
         "thresholds": [{"name": k, "value": _fmt_value(t.get("value")), "source": t.get("source", "")}
                        for k, t in c.get("thresholds", {}).items()],
         "anchor": next((s["id"] for s in sections if s.get("check") is c),
                        "errors" if c["status"] == "error" else None)}
        for name, c in checks.items()
    ]
    skipped = [{"name": str(k), "why": str(v)} for k, v in (summary.get("skipped") or {}).items()]
    counts = {s: sum(c["status"] == s for c in checks.values()) for s in _STATUS_RANK}
    status = result.status
    source = summary.get("source")
    page_title = title or ("assay audit" + (f" · {Path(str(source)).name}" if source else ""))
    data_block = {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "statuses": {n: c["status"] for n, c in checks.items()},
        "counts": {s["id"]: s.get("count") for s in sections if s.get("count") is not None},
        "shown": {s["id"]: s.get("shown") for s in sections if s.get("shown") is not None},
        "n_rows": summary.get("n_rows"),
        "n_classes": summary.get("n_classes"),
        "fingerprint": summary.get("fingerprint"),
        "next_steps": [{"kind": s["kind"], "check": s["check"], "rows": s["rows"]}
                       for s in next_steps],
        "leaked_pairs": [{"kind": p["kind"], "distance": p["distance"],
                          "rows": [m["row"] for m in p["members"]],
                          "ids": [m["id"] for m in p["members"]],
                          "splits": [m["split"] for m in p["members"]]}
                         for s in sections for p in s.get("pairs", [])],
    }
    return {
        "title": page_title,
        "status": status,
        "status_word": _STATUS_WORD.get(status, status.upper()),
        "run_id": summary.get("run_id"),
        "facts": _facts(summary),
        "checks": rows_table,
        "skipped": skipped,
        "next_steps": next_steps,
        "status_counts": counts,
        "sections": sections,
        "errored": errored,
        "issues_href": issues_href,
        "has_samples": dataset is not None,
        "sample_kind": layout.gallery if layout is not None else None,
        "pixel_shape": list(layout.pixels.shape) if layout and layout.pixels else None,
        "max_rows": max_rows,
        "data_json": safe_json(data_block),
        "version": _version(),
        "css": _static("report.css"),
        "js": _static("report.js"),
        "script_hash": _script_hash(_static("report.js")),
    }


def _check_view(check: Any) -> dict[str, Any]:
    """A check as in ``CheckResult.to_dict``, with the evidence left as it is."""
    return {
        "name": check.name, "status": check.status, "message": check.message,
        "summary": _jsonable(check.summary), "evidence": dict(check.evidence),
        "thresholds": {k: t.to_dict() for k, t in check.thresholds.items()},
        "error": check.error, "duration_s": check.duration_s,
    }


def _check_dataset(dataset: Any, issues: pd.DataFrame) -> None:
    from assay.data import Dataset

    if not isinstance(dataset, Dataset):
        raise InputValidationError(
            f"dataset must be an assay.Dataset (from assay.load); got {type(dataset).__name__}. "
            "Load the audited data with assay.load(path, label=...)."
        )
    if len(issues) and dataset.n_rows != len(issues):
        raise InputValidationError(
            f"The dataset has {dataset.n_rows:,} rows but the audit has {len(issues):,}: they "
            "are not the same data. Pass the dataset that was audited (same file, same rows)."
        )


class _Selector:
    """Picks the rows to show from the per-row frame with numpy, and remembers them."""

    def __init__(self, issues: pd.DataFrame, max_rows: int, outputs: dict[str, Any]) -> None:
        self.issues = issues
        self.max_rows = max_rows
        self.outputs = outputs  # each check's per-row columns (RowOutputs)
        self.wanted: dict[int, None] = {}  # rows to show, in priority (section) order
        self.n = len(issues)
        self.classes: list[Any] | None = None  # the dataset's classes and codes, when given
        self.codes: np.ndarray | None = None

    def _column(self, name: str) -> np.ndarray | None:
        return self.issues[name].to_numpy() if name in self.issues.columns else None

    def flagged(self, flag: str, score: str) -> tuple[int, np.ndarray]:
        """(number flagged, positions of the ``max_rows`` lowest-scored flagged rows)."""
        mask = self._column(flag)
        if mask is None:
            return 0, np.empty(0, np.int64)
        pos = np.flatnonzero(np.asarray(mask, dtype=bool))
        scores = self._column(score)
        if scores is not None and pos.size:
            s = np.asarray(pd.to_numeric(pd.Series(scores[pos]), errors="coerce"), dtype=float)
            s = np.where(np.isnan(s), np.inf, s)
            if pos.size > self.max_rows:
                part = np.argpartition(s, self.max_rows - 1)[: self.max_rows]
                pos, s = pos[part], s[part]
            pos = pos[np.argsort(s, kind="stable")]
        return int(np.asarray(mask, dtype=bool).sum()), pos[: self.max_rows]

    def records(self, pos: np.ndarray, fields: tuple[str, ...]) -> list[dict[str, Any]]:
        """Display values (id and the named per-row columns) of the rows at ``pos``."""
        pos = np.asarray(pos, dtype=np.int64)
        self.wanted.update(dict.fromkeys(pos.tolist()))
        part = self.issues.iloc[pos]
        cols = {f: [_plain(v) for v in part[f].tolist()] if f in part.columns else [None] * len(pos)
                for f in ("id", *fields)}
        return [{"row": int(r), **{f: cols[f][i] for f in cols}} for i, r in enumerate(pos)]

    def id_of(self, row: int) -> Any:
        if "id" in self.issues.columns and 0 <= row < self.n:
            return _plain(self.issues["id"].iat[row])
        return row

    def label_of(self, row: int) -> Any:
        """The row's given label: the per-row table's, else the dataset's, else None."""
        if "given_label" in self.issues.columns and 0 <= row < self.n:
            return _plain(self.issues["given_label"].iat[row])
        if self.classes is not None and self.codes is not None and 0 <= row < len(self.codes):
            code = int(self.codes[row])
            return _plain(self.classes[code]) if 0 <= code < len(self.classes) else None
        return None


# --------------------------------------------------------------------------------------------
# Section builders: (check, all checks, selector, summary) -> body dict or None to leave out
# --------------------------------------------------------------------------------------------
def _class_profile(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    classes = _records(check["evidence"].get("classes"))
    classes.sort(key=lambda r: -_num(r.get("count")))
    s = check["summary"]
    many = s.get("many_threshold", check["thresholds"].get("many", {}).get("value", 100))
    few = s.get("few_threshold", check["thresholds"].get("few", {}).get("value", 20))
    table = [{"class": _plain(r.get("class")), "count": _int(r.get("count")),
              "share": r.get("share"), "group": r.get("group") or "",
              "n_issues": r.get("n_issues"), "issue_rate": r.get("issue_rate"),
              "low": r.get("issue_rate_low"), "high": r.get("issue_rate_high"),
              "trusted": r.get("rate_trusted")} for r in classes]
    return {
        "count": len(table),
        "stats": [("classes", s.get("n_classes", len(table))),
                  ("imbalance ratio", _fmt_value(s.get("imbalance_ratio"))),
                  (f"many (> {many})", s.get("n_many")),
                  ("medium", s.get("n_medium")),
                  (f"few (< {few})", s.get("n_few")),
                  ("Gini", _fmt_value(s.get("gini")))],
        "chart": _class_chart(table, many=_num(many), few=_num(few)),
        "rows": table[: max(sel.max_rows, 50)],
        "n_total": len(table),
    }


def _class_chart(table: list[dict], *, many: float, few: float) -> dict[str, Any]:
    """Geometry of the log-scale bar chart (drawn as SVG by the template)."""
    width, height, left, top, bottom = 960, 260, 52, 12, 28
    plot_w, plot_h = width - left - 12, height - top - bottom
    counts = np.array([max(r["count"] or 0, 0) for r in table], dtype=float)
    k = len(counts)
    top_count = max(float(counts.max()) if k else 1.0, 1.0)
    decades = max(1, math.ceil(math.log10(top_count + 1)))
    ymax = 10.0 ** decades

    def y(v: float) -> float:
        return top + plot_h * (1 - math.log10(max(v, 1.0)) / math.log10(ymax))

    ticks = [{"y": round(y(10.0 ** d), 1), "label": f"{10 ** d:,}"} for d in range(decades + 1)]
    lines = [{"y": round(y(v), 1), "label": name, "value": v}
             for v, name in ((many, "many"), (few, "few")) if 1 <= v <= ymax]
    bars: list[dict[str, Any]] = []
    path = ""
    if 0 < k <= MAX_BARS:
        step = min(plot_w / k, 72.0)
        gap = min(step * 0.15, 2.0)
        for i, r in enumerate(table):
            yv = y(counts[i]) if counts[i] > 0 else top + plot_h
            bars.append({"x": round(left + i * step + gap / 2, 2), "y": round(yv, 2),
                         "w": round(max(step - gap, 0.5), 2), "h": round(top + plot_h - yv, 2),
                         "group": r["group"], "name": r["class"], "count": r["count"]})
    elif k:
        xs = left + plot_w * np.arange(k + 1) / k
        ys = np.array([y(c) if c > 0 else top + plot_h for c in counts])
        pts = [f"M{left:.1f},{top + plot_h:.1f}"]
        for i in range(k):
            pts.append(f"L{xs[i]:.1f},{ys[i]:.1f}L{xs[i + 1]:.1f},{ys[i]:.1f}")
        pts.append(f"L{xs[k]:.1f},{top + plot_h:.1f}Z")
        path = "".join(pts) if k <= 20_000 else ""
    labels = [{"x": round(b["x"] + b["w"] / 2, 1), "name": b["name"]} for b in bars] if k <= 40 else []
    return {"width": width, "height": height, "left": left, "top": top, "plot_w": plot_w,
            "plot_h": plot_h, "ticks": ticks, "lines": lines, "bars": bars, "path": path,
            "labels": labels, "k": k, "bottom_y": top + plot_h}


_LABEL_FIELDS = ("given_label", "suggested_label", "label_score", "label_error_probability",
                 "knn_label_agreement")


def _data_map(check: Any, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    plot = data_map(summary, sel.issues, sel.outputs)
    if plot is None:
        return None
    return {"map": plot, "shown": plot["n_points"]}


def _is_open(sec: dict[str, Any]) -> bool:
    """Sections start open when they have something to act on: a check that warns or fails,
    or (no check of their own) something found; passing and empty ones start collapsed."""
    check = sec.get("check")
    if check is not None:
        return check["status"] in ("warn", "fail")
    return sec.get("count") is None or sec["count"] > 0


def _label_issues(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    n, pos = sel.flagged("is_label_issue", "label_score")
    s = check["summary"]
    precision = _fmt_pct(s.get("estimated_precision"))
    bounds = [s.get("estimated_precision_low"), s.get("estimated_precision_high")]
    if precision is not None and s.get("estimates_reliable") is False:
        precision += " (an upper bound: the model is weak or overconfident)"
    elif precision is not None and all(finite_or_none(b) is not None for b in bounds):
        precision += f" (plausibly {_fmt_pct(bounds[0])} to {_fmt_pct(bounds[1])})"
    return {
        "count": int(s.get("n_flagged", n)),
        "shown": int(pos.size),
        "items": sel.records(pos, _LABEL_FIELDS),
        "stats": [("flagged", s.get("n_flagged", n)), ("share", _fmt_pct(s.get("rate"))),
                  ("errors estimated", s.get("n_estimated_errors")),
                  ("expected precision", precision),
                  ("model accuracy", _fmt_pct(s.get("model_accuracy"))),
                  ("rows to spot-check", s.get("spot_check_size")),
                  ("method", s.get("method"))],
    }


def _duplicates(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    raw = _records(check["evidence"].get("sets"))
    sets = []
    for d in raw[:MAX_SETS]:
        rows = [int(r) for r in d.get("rows", [])]
        labels = list(d.get("labels") or [None] * len(rows))
        ids = list(d.get("ids") or [sel.id_of(r) for r in rows])
        members = []
        for r, lab, ident in list(zip(rows, labels, ids, strict=False))[:MAX_SET_MEMBERS]:
            sel.wanted[r] = None
            members.append({"row": r, "id": _plain(ident), "label": _plain(lab)})
        size = int(d.get("size", len(rows)))
        sets.append({"size": size, "members": members, "more": max(size - len(members), 0),
                     "conflict": len({str(x) for x in labels}) > 1})
    s = check["summary"]
    return {
        "count": int(s.get("n_sets", len(raw))),
        "shown": len(sets),
        "sets": sets,
        "stats": [("sets", s.get("n_sets")), ("rows with an exact copy", s.get("n_exact")),
                  ("rows with a near copy", s.get("n_near")),
                  ("redundant rows", s.get("n_redundant_rows")),
                  ("sets with conflicting labels", s.get("n_sets_with_conflicting_labels"))],
    }


def _outliers(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    n, pos = sel.flagged("is_outlier", "outlier_score")
    s = check["summary"]
    return {
        "count": int(s.get("n_outliers", n)),
        "shown": int(pos.size),
        "items": sel.records(pos, ("given_label", "outlier_score")),
        "stats": [("outliers", s.get("n_outliers", n)), ("share", _fmt_pct(s.get("share")))],
    }


def _ambiguous(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    pairs = _records(check["evidence"].get("pairs"))
    warn = _num(check["thresholds"].get("warn_rate", {}).get("value"), default=math.inf)
    rows = [{"a": _plain(p.get("name_a", p.get("class_a"))),
             "b": _plain(p.get("name_b", p.get("class_b"))),
             "a_as_b": p.get("a_as_b"), "b_as_a": p.get("b_as_a"), "n": p.get("n_confused"),
             "rate": p.get("rate"), "over": _num(p.get("rate")) > warn,
             "examples": [sel.id_of(int(r)) for r in (p.get("examples") or [])[:5]]}
            for p in pairs[:MAX_TABLE]]
    return {"count": len(pairs), "shown": len(rows), "rows": rows}


def _confusion(check: Any, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    conf = next((c["evidence"]["confusion"] for c in checks.values()
                 if c["status"] != "error" and isinstance(c["evidence"].get("confusion"), dict)),
                None)
    if conf is None or conf.get("matrix") is None:
        return None
    names = [str(x) for x in conf.get("classes", [])]
    m = np.asarray(conf["matrix"], dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.size == 0:
        return None
    k = m.shape[0]
    names = (names + [str(i) for i in range(len(names), k)])[:k]
    keep = np.arange(k)
    if k > MAX_CONFUSION:  # keep the classes with the most confusion
        off = m.sum(axis=1) - np.diag(m)
        keep = np.sort(np.argsort(-off, kind="stable")[:MAX_CONFUSION])
    sub = np.nan_to_num(m[np.ix_(keep, keep)])
    cells = [[{"v": float(sub[i, j]), "diag": i == j,
               "alpha": round(min(max(float(sub[i, j]), 0.0), 1.0) ** 0.5 * 0.85, 3)}
              for j in range(len(keep))] for i in range(len(keep))]
    return {"names": [names[i] for i in keep], "cells": cells, "k": k, "shown": len(keep)}


def _leakage(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    ev = check["evidence"]
    s = check["summary"]
    pairs = _records(ev.get("pairs"))
    total = _int(ev.get("n_pairs", len(pairs)))
    return {
        "count": int(s.get("n_leaked_rows", 0)),
        "stats": [("leaked rows", s.get("n_leaked_rows")), ("exact", s.get("n_exact")),
                  ("near", s.get("n_near")), ("group", s.get("n_group")),
                  ("worst split pair leaked", _fmt_pct(s.get("worst_share_leaked")))],
        "pairs": _leak_pairs(pairs, sel),
        "n_pairs": total,
        "tables": [_table("Split pairs", _records(ev.get("split_pairs"))),
                   _table("Leaked pairs", pairs, total=total, collapsed=True)],
    }


_LEAK_RANK = {"exact": 0, "near": 1, "group": 2}


def _leak_pairs(pairs: list[dict], sel: _Selector) -> list[dict[str, Any]]:
    """The ``MAX_LEAK_PAIRS`` most certain leaks (exact, then near by distance, then group),
    each as its two rows with split, id and label."""
    ranked = sorted(pairs, key=lambda p: (_LEAK_RANK.get(str(p.get("kind")), 3),
                                          _num(p.get("distance"), default=math.inf)))
    out: list[dict[str, Any]] = []
    for p in ranked:
        if len(out) == MAX_LEAK_PAIRS:
            break
        try:
            i, j = int(p["i"]), int(p["j"])
        except (KeyError, TypeError, ValueError):
            continue  # not a pair of row positions (hand-made evidence): the table shows it
        members = []
        for row, side in ((i, "i"), (j, "j")):
            sel.wanted[row] = None
            ident = p.get(f"id_{side}")
            members.append({"row": row, "id": _plain(ident) if ident is not None
                            else sel.id_of(row), "split": _plain(p.get(f"split_{side}")),
                            "label": sel.label_of(row)})
        dist = _plain(p.get("distance"))
        out.append({"kind": str(p.get("kind", "")), "members": members,
                    "distance": float(dist) if isinstance(dist, int | float) else None,
                    "conflict": str(members[0]["label"]) != str(members[1]["label"])})
    return out


def _pair_cells(sections: list[dict[str, Any]], dataset: Any) -> None:
    """Table rows of each leaked pair as the same cells, the columns that differ first."""
    from assay.report._samples import pair_field_samples

    pairs = [p for sec in sections for p in sec.get("pairs", [])]
    got = pair_field_samples(dataset, [(p["members"][0]["row"], p["members"][1]["row"])
                                       for p in pairs])
    for p, (a, b) in zip(pairs, got, strict=True):
        p["members"][0]["sample"], p["members"][1]["sample"] = a, b


def _mark_words(sections: list[dict[str, Any]], dataset: Any) -> None:
    """Mark, in each label-error excerpt, the words that point to the suggested label."""
    from assay.report._words import WordRatios, mark_excerpt, tokenize

    sec = next((s for s in sections if s["id"] == "label-issues"), None)
    if sec is None or not sec.get("items"):
        return
    code = {str(c): i for i, c in enumerate(dataset.classes)}
    todo = [it for it in sec["items"] if it.get("sample") and it["sample"]["kind"] == "text"
            and str(it.get("given_label")) in code and str(it.get("suggested_label")) in code
            and str(it.get("given_label")) != str(it.get("suggested_label"))]
    if not todo:
        return
    texts = dataset.table[dataset.roles.text].fillna("").astype(str).tolist()
    words = WordRatios(texts, dataset.labels)
    for it in todo:
        text = it["sample"]["text"]
        ratios = words.ratios(tokenize(text), code[str(it["given_label"])],
                              code[str(it["suggested_label"])])
        # a copy: the same row may show unmarked in another gallery
        it["sample"] = {**it["sample"], "marks": mark_excerpt(text, ratios)}
    sec["marked"] = True


def _target_leakage(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    cols = _records(check["evidence"].get("columns"))
    cols.sort(key=lambda r: (not r.get("flagged"), -_num(r.get("score"))))
    s = check["summary"]
    return {"count": int(s.get("n_flagged", 0)),
            "stats": [("columns screened", s.get("n_columns")), ("flagged", s.get("n_flagged"))],
            "tables": [_table("Columns, most suspicious first", cols[:50], total=len(cols))]}


def _slices(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    s = check["summary"]
    ev = check["evidence"]
    nb = _no_break
    rows = [{"slice": nb(r.get("name") or slice_name(r.get("source"), r.get("kind"),
                                                      r.get("slice"))),
             "flagged": bool(r.get("flagged")),
             "described by": r.get("described_by") or "",
             "rule (rows; precision, recall)": r.get("rule") or "",
             "rows": _int(r.get("size")),
             "error rate": _fmt_pct(r.get("error_rate")) or "—",
             "95 % interval": nb(_fmt_interval(r.get("low"), r.get("high"))),
             "rest": _fmt_pct(r.get("rest_error_rate")) or "—",
             "p": nb(format_p_value(r.get("p_value"))),
             "q": nb(format_p_value(r.get("q_value")))}
            for r in _records(ev.get("slices"))]
    described = [{"name": str(d.get("name", "")), "size": _int(d.get("size")),
                  "text": str(d.get("text", "")), "short": str(d.get("short", "")),
                  "rule": d.get("rule") if isinstance(d.get("rule"), dict) else None}
                 for d in _records(ev.get("descriptions"))]
    return {"count": int(s.get("n_slices_flagged", 0)),
            "stats": [("slices tested", s.get("n_slices_tested")),
                      ("flagged", s.get("n_slices_flagged")),
                      ("overall error rate", _fmt_pct(s.get("error_rate"))),
                      ("rows in flagged slices", s.get("rows_in_flagged_slices")),
                      ("described by", s.get("described_by"))],
            "described": described,
            "tables": [_table("Slices, by significance", rows),
                       _table("Hardest examples per class", _records(ev.get("hardest")))]}


def _evaluation_size(check: dict, checks: dict, sel: _Selector, summary: dict) -> dict | None:
    ev = check["evidence"]
    return {"stats": _flat_stats(check["summary"]),
            "tables": [_table("Classes whose interval is too wide", _records(ev.get("classes_too_wide"))),
                       _table("Intervals", _records(ev.get("intervals")))]}


def _specs() -> dict[str, Any]:
    from assay.checks import registered_checks

    return registered_checks()


def _custom(body: dict[str, Any]) -> dict[str, Any]:
    """A check's own section (``register_check(section=...)``): ``stats`` (label -> value) and
    ``tables`` (title -> list of record dicts), shown as the generic section shows them."""
    stats = [(str(k), _fmt_value(v)) for k, v in dict(body.get("stats") or {}).items()]
    tables = [_table(str(title), _records(records))
              for title, records in dict(body.get("tables") or {}).items()]
    return {"stats": stats, "tables": tables}


def _generic(check: dict, *_: Any) -> dict[str, Any]:
    tables = [_table(str(k), _records(v)) for k, v in check["evidence"].items()
              if isinstance(v, list) and v and all(isinstance(x, dict) for x in v[:5])]
    return {"stats": _flat_stats(check["summary"]), "tables": tables}


_BUILDERS: dict[str, Callable[..., dict[str, Any] | None]] = {
    "class-profile": _class_profile,
    "data-map": _data_map,
    "label-issues": _label_issues,
    "duplicates": _duplicates,
    "outliers": _outliers,
    "ambiguous-pairs": _ambiguous,
    "confusion": _confusion,
    "leakage": _leakage,
    "target-leakage": _target_leakage,
    "slices": _slices,
    "evaluation-size": _evaluation_size,
    "split-shift": _generic,
}


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------
def _table(title: str, records: list[dict], *, total: int | None = None,
           collapsed: bool = False) -> dict[str, Any]:
    shown = records[:MAX_TABLE]
    columns: list[str] = []
    for r in shown:
        for c in r:
            if c not in columns and not isinstance(r[c], dict | list | tuple | np.ndarray):
                columns.append(str(c))
    rows = [[_fmt_value(r.get(c)) for c in columns] for r in shown]
    return {"title": title, "columns": columns, "rows": rows, "collapsed": collapsed,
            "total": int(total if total is not None else len(records))}


def _flat_stats(summary: dict) -> list[tuple[str, Any]]:
    return [(str(k), _fmt_value(v)) for k, v in summary.items() if not isinstance(v, dict)]


def _records(obj: Any) -> list[dict]:
    if obj is None:
        return []
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict(orient="records")
    if isinstance(obj, list):
        return [dict(r) for r in obj if isinstance(r, dict)]
    return []


def model_line(model: Any) -> str | None:
    """One line on the audit's model: its name and, for ``auto``, every candidate's
    cross-validated log-loss (``summary["model"]``; older audits stored a plain string)."""
    if not isinstance(model, dict):
        return None if model is None else str(model)
    name = model.get("name")
    if name is None:
        return None
    sel = model.get("selection") or {}
    cands = sel.get("candidates") or {}
    scored = [f"{n} {c['log_loss']:.3f}" for n, c in cands.items() if "log_loss" in c]
    if not scored:
        return str(name)
    return (f"{name} (chosen by cross-validated log-loss in each fold: " + ", ".join(scored)
            + f"; {sel.get('selection_seconds', 0):.1f} s)")


def _facts(summary: dict) -> list[tuple[str, Any]]:
    knn = summary.get("knn") or {}
    total = (summary.get("timings_s") or {}).get("total")
    facts = [
        ("rows", _fmt_value(summary.get("n_rows"))),
        ("classes", _fmt_value(summary.get("n_classes"))),
        ("source", summary.get("source")),
        ("fingerprint", summary.get("fingerprint")),
        ("features", " · ".join(str(x) for x in (summary.get("featurizer"),
                                                 summary.get("feature_dims") and
                                                 f"{summary.get('feature_dims')} dims") if x)),
        ("probabilities", " · ".join(str(x) for x in (summary.get("pred_probs"),
                                                      model_line(summary.get("model"))) if x)),
        ("distance", " · ".join(str(x) for x in ((summary.get("distance") or {}).get("metric"),
                                                 (summary.get("distance") or {}).get("reason"))
                                if x)),
        ("k-NN", " · ".join(f"{k}={v}" for k, v in knn.items()) if isinstance(knn, dict) else knn),
        ("random state", summary.get("random_state")),
        ("audit time", f"{total:.1f} s" if isinstance(total, int | float) else None),
    ]
    return [(k, v) for k, v in facts if v not in (None, "")]


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _num(v: Any, default: float = 0.0) -> float:
    try:
        out = float(v)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def _int(v: Any) -> int:
    return int(_num(v))


def _fmt_pct(v: Any) -> str | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return f"{float(v):.1%}"
    except (TypeError, ValueError):
        return str(v)


def format_p_value(v: Any) -> str:
    """A p-value or q-value for a reader: three significant digits, or ``< 0.001``.

    Parameters
    ----------
    v : float or None

    Returns
    -------
    str
        ``"—"`` for a missing or non-finite value.

    Examples
    --------
    >>> [format_p_value(p) for p in (0.009564, 0.0000312, 1.0, None)]
    ['0.00956', '< 0.001', '1', '—']
    """
    v = _plain(v)
    if v is None or isinstance(v, bool | str):
        return "—" if v is None else str(v)
    f = _num(v, default=math.nan)
    if math.isnan(f):
        return "—"
    return "< 0.001" if f < 0.001 else f"{f:.3g}"


def _no_break(text: str) -> str:
    """Spaces made non-breaking: ``< 0.001`` or ``cluster 14`` never wrap in a narrow cell."""
    return str(text).replace(" ", "\u00a0")


def _fmt_interval(low: Any, high: Any) -> str:
    lo, hi = _fmt_pct(_plain(low)), _fmt_pct(_plain(high))
    return f"{lo} – {hi}" if lo is not None and hi is not None else "—"


def _fmt_value(v: Any) -> Any:
    """Numbers to short text (ints with separators, floats to 4 significant digits)."""
    v = _plain(v)
    if isinstance(v, bool) or v is None:
        return "—" if v is None else ("yes" if v else "no")
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(str(_fmt_value(x)) for x in v[:20]) + (" …" if len(v) > 20 else "")
    return str(v)


def _fmt_score(v: Any) -> str:
    """Scores in [0, 1]: three decimals, or two significant digits when tiny."""
    v = _plain(v)
    if v is None or isinstance(v, bool | str):
        return "—" if v is None else str(v)
    f = _num(v)
    return f"{f:.1e}" if 0 < abs(f) < 0.001 else f"{f:.3f}"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(name).lower()).strip("-") or "check"


def _version() -> str:
    from assay import __version__

    return __version__


def _script_hash(js: str) -> str:
    """CSP source allowing exactly our inline script (an injected one would not run)."""
    import base64
    import hashlib

    return "sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()


def _static(name: str) -> str:
    return _static_cached(name)


@lru_cache(maxsize=8)
def _static_cached(name: str) -> str:
    text = (resources.files("assay.report") / "static" / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():  # would end the element early
        raise RuntimeError(f"static/{name} must not contain a closing </script> or </style> tag")
    return text


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("assay.report", "templates"),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _fmt_value
    env.filters["pct"] = lambda v: _fmt_pct(v) or "—"
    env.filters["score"] = _fmt_score
    return env
