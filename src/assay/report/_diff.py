"""``render_diff_report``: what changed between two audits (``assay diff``) as one offline page.

The page has the audit report's look (its CSS is inlined) and the curve page's rules: every
value is autoescaped, nothing is fetched, and no script runs (the Content-Security-Policy
allows none). It is rendered from the same payload as ``assay diff --json``
(:meth:`assay.workspace.RunDiff.to_dict`), so the page and the machine interface cannot
disagree, plus the top rows of each category, which :func:`diff_rows` picks from the two runs'
findings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_int
from assay.exceptions import InputValidationError
from assay.report._render import _environment, _fmt_score, _fmt_value, _slug, _static, _version

__all__ = ["CATEGORIES", "diff_rows", "render_diff_report", "write_diff_report"]

#: The categories of ``assay diff``, in the order shown: key, title, what it means.
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("fixed", "fixed (reviewed)", "a reviewer relabelled, removed or marked the row a "
     "duplicate, and the later run no longer flags it or no longer has it"),
    ("kept", "kept (reviewed)", "a reviewer kept the row: the flag was wrong"),
    ("cleared", "cleared (not reviewed)", "nobody decided the row, yet the later run does not "
     "flag it: the model or the data changed, which is churn, not a fix"),
    ("removed", "removed", "gone from the later run without a decision to drop it"),
    ("new", "new", "flagged by the later run only"),
    ("persisting", "persisting", "flagged by both runs"),
)
_COUNT_KEYS = ("flagged_a", "flagged_b", *(key for key, _, _ in CATEGORIES))
_BASE = ("row_id", "check", "score", "flag")


def diff_rows(
    payload: Mapping[str, Any],
    findings_a: pd.DataFrame,
    findings_b: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
    *,
    top: int = 20,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The top rows of each category of each check, ready for :func:`render_diff_report`.

    The categories follow :func:`assay.workspace.diff_runs`: of the rows run a flags, *fixed*
    (a decision in force relabelled, removed or marked it a duplicate, and run b no longer
    flags it), *kept* (a reviewer kept it), *cleared* (no decision, still present in b, no
    longer flagged), *removed* (no decision, absent from b) and *persisting* (flagged in both);
    and *new* (flagged in b only). Rows are matched by id. Within a category the most severe
    rows come first: the lowest score of the run that flags them (run a; run b for *new*),
    then the id.

    Parameters
    ----------
    payload : mapping
        ``RunDiff.to_dict()`` (for the checks to show).
    findings_a, findings_b : pandas.DataFrame
        ``Workspace.findings(run, expand_details=True)`` of the earlier and the later run.
    decisions : pandas.DataFrame, optional
        The decisions in force on run a's dataset version (``resolve_decisions``): ``row_id``,
        ``action`` and ``new_label``.
    top : int, default 20
        Rows kept per category.

    Returns
    -------
    dict
        ``{check: {category: {"total": int, "columns": [str], "rows": [[str]]}}}``.

    Examples
    --------
    >>> a = pd.DataFrame({"row_id": [1, 2, 3], "check": "outliers",
    ...                   "score": [0.1, 0.2, 0.9], "flag": [True, True, False]})
    >>> b = a.assign(flag=[True, False, True])
    >>> got = diff_rows({"checks": [{"check": "outliers"}]}, a, b)["outliers"]
    >>> {k: v["total"] for k, v in got.items()}
    {'fixed': 0, 'kept': 0, 'cleared': 1, 'removed': 0, 'new': 1, 'persisting': 1}
    """
    top = check_int("top", top, low=1, owner="diff_rows")
    from assay.workspace import DROP_ACTIONS

    fixing = {"relabel", *DROP_ACTIONS}
    action: dict[str, str] = {}
    new_label: dict[str, Any] = {}
    if decisions is not None and len(decisions):
        keys = decisions["row_id"].astype(str)
        action = dict(zip(keys, decisions["action"].astype(str), strict=True))
        if "new_label" in decisions:
            new_label = dict(zip(keys, decisions["new_label"], strict=True))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for check in [str(c.get("check")) for c in payload.get("checks") or []]:
        ca = _one_check(findings_a, check)
        cb = _one_check(findings_b, check)
        if ca["row_id"].dtype != cb["row_id"].dtype:  # ids of another type never match
            ca["row_id"], cb["row_id"] = ca["row_id"].astype(object), cb["row_id"].astype(object)
        ca = ca.rename(columns={c: c + "_a" for c in ca.columns if c != "row_id"})
        cb = cb.rename(columns={c: c + "_b" for c in cb.columns if c != "row_id"})
        m = ca.merge(cb, on="row_id", how="outer", indicator=True)
        flag_a = m["flag_a"].fillna(False).astype(bool).to_numpy()
        flag_b = m["flag_b"].fillna(False).astype(bool).to_numpy()
        present_b = (m["_merge"] != "left_only").to_numpy()
        act = m["row_id"].astype(str).map(action)
        acted = act.isin(fixing).to_numpy()
        kept = (act == "keep").to_numpy()
        gone = flag_a & ~flag_b
        masks = {
            "fixed": gone & acted,
            "kept": flag_a & kept,
            "cleared": gone & ~acted & ~kept & present_b,
            "removed": gone & ~acted & ~kept & ~present_b,
            "new": flag_b & ~flag_a,
            "persisting": flag_a & flag_b,
        }
        decided = [_decision(a, new_label.get(str(r))) for a, r in zip(act, m["row_id"],
                                                                     strict=True)]
        m["_decision"] = decided
        out[check] = {key: _category(m, masks[key], key, top) for key, _, _ in CATEGORIES}
    return out


def _one_check(findings: pd.DataFrame, check: str) -> pd.DataFrame:
    part = findings[findings["check"] == check] if len(findings) else findings
    part = part.drop(columns=["check"], errors="ignore").drop_duplicates("row_id")
    for col in ("score", "flag"):
        if col not in part:
            part = part.assign(**{col: np.nan if col == "score" else False})
    return part.reset_index(drop=True)


def _decision(action: Any, label: Any) -> str:
    if not isinstance(action, str):
        return ""
    if action == "relabel" and label is not None and not (isinstance(label, float)
                                                          and math.isnan(label)):
        return f"relabel → {label}"
    return action


def _category(m: pd.DataFrame, mask: np.ndarray, key: str, top: int) -> dict[str, Any]:
    """The ``top`` most severe rows of one category as text cells."""
    part = m[mask]
    side = "_b" if key == "new" else "_a"
    score = pd.to_numeric(part["score" + side], errors="coerce")
    order = np.lexsort((part["row_id"].astype(str).to_numpy(),
                        np.nan_to_num(score.to_numpy(dtype=float), nan=np.inf)))
    part = part.iloc[order[:top]]
    details = [c[: -len(side)] for c in part.columns
               if c.endswith(side) and c[: -len(side)] not in _BASE
               and part[c].notna().any()]
    columns = ["id", "score before", "score after", "after"]
    with_decision = key in ("fixed", "kept") or bool((part["_decision"] != "").any())
    if with_decision:
        columns.append("decision")
    columns += details
    rows = []
    for r in part.to_dict(orient="records"):
        after = ("absent" if r["_merge"] == "left_only"
                 else "flagged" if _truthy(r.get("flag_b")) else "not flagged")
        cells = [str(r["row_id"]), _cell_score(r.get("score_a"), r["_merge"] != "right_only"),
                 _cell_score(r.get("score_b"), r["_merge"] != "left_only"), after]
        if with_decision:
            cells.append(r["_decision"] or "—")
        cells += [_cell(r.get(d + side)) for d in details]
        rows.append(cells)
    return {"total": int(mask.sum()), "columns": columns, "rows": rows}


def _truthy(v: Any) -> bool:
    return bool(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else False


def _cell_score(v: Any, present: bool) -> str:
    if not present:
        return "absent"
    f = pd.to_numeric(v, errors="coerce")
    return "—" if f is None or (isinstance(f, float) and math.isnan(f)) else _fmt_score(f)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return str(_fmt_value(v))


def _fmt_delta(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
        return "—"
    return "0" if v == 0 else f"{v:+.4g}"


def _int(v: Any) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0
    return int(f) if math.isfinite(f) else 0


def render_diff_report(
    payload: Mapping[str, Any],
    rows: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    *,
    statuses: Mapping[str, Mapping[str, str]] | None = None,
    title: str | None = None,
) -> str:
    """Render what changed between two audit runs as one HTML page.

    Parameters
    ----------
    payload : mapping
        What ``assay diff --json`` prints (``RunDiff.to_dict()``): ``run_a``, ``run_b``,
        ``checks`` (per-check counts), ``metrics`` (``metric``, ``a``, ``b``, ``delta``) and,
        optionally, ``same_dataset`` and ``n_decisions``.
    rows : mapping, optional
        The top rows of each category (:func:`diff_rows`); without them the page shows counts
        only.
    statuses : mapping, optional
        ``{"a": {check: status}, "b": {check: status}}``, the checks' statuses in each run.
    title : str, optional
        Page title; default "assay diff: RUN_A → RUN_B".

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = render_diff_report({
    ...     "run_a": "r1", "run_b": "r2",
    ...     "checks": [{"check": "label_issues", "flagged_a": 30, "flagged_b": 12, "fixed": 15,
    ...                 "kept": 2, "cleared": 3, "removed": 0, "new": 1, "persisting": 11}],
    ...     "metrics": [{"metric": "label", "a": 0.3, "b": 0.12, "delta": -0.18}]})
    >>> page.startswith("<!DOCTYPE html>"), "label_issues" in page
    (True, True)
    """
    for key in ("run_a", "run_b", "checks", "metrics"):
        if key not in payload:
            raise InputValidationError(
                f"The diff payload has no {key!r}; pass what 'assay diff --json' prints "
                "(RunDiff.to_dict())."
            )
    rows = rows or {}
    statuses = statuses or {}
    st_a, st_b = statuses.get("a") or {}, statuses.get("b") or {}
    checks = []
    totals = dict.fromkeys(_COUNT_KEYS, 0)
    for c in payload["checks"]:
        name = str(c.get("check"))
        counts = {k: _int(c.get(k)) for k in _COUNT_KEYS}
        for k, v in counts.items():
            totals[k] += v
        cats = []
        for key, label, meaning in CATEGORIES:
            got = (rows.get(name) or {}).get(key)
            cats.append({"key": key, "title": label, "meaning": meaning,
                         "count": counts[key], "table": got})
        checks.append({"name": name, "id": "check-" + _slug(name), "counts": counts,
                       "status_a": st_a.get(name), "status_b": st_b.get(name),
                       "categories": cats})
    metrics = [{"metric": str(r.get("metric")), "a": _fmt_value(r.get("a")),
                "b": _fmt_value(r.get("b")), "delta": _fmt_delta(r.get("delta")),
                "sign": _sign(r.get("delta"))}
               for r in payload["metrics"]]
    run_a, run_b = str(payload["run_a"]), str(payload["run_b"])
    same = payload.get("same_dataset")
    facts = [("before", run_a), ("after", run_b),
             ("dataset", "—" if same is None else ("the same version" if same
                                                   else "different versions")),
             ("reviewed rows", _fmt_value(payload.get("n_decisions")))]
    return _environment().get_template("diff.html.j2").render(
        title=title or f"assay diff: {run_a} → {run_b}", version=_version(),
        css=_static("report.css"), facts=facts, checks=checks, metrics=metrics,
        totals=totals, categories=CATEGORIES, has_rows=bool(rows),
    )


def _sign(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) or v == 0:
        return "zero"
    return "up" if float(v) > 0 else "down"


def write_diff_report(
    payload: Mapping[str, Any],
    path: str | Path,
    rows: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    *,
    statuses: Mapping[str, Mapping[str, str]] | None = None,
    title: str | None = None,
) -> Path:
    """Write :func:`render_diff_report`'s page to ``path`` (atomically); return the path."""
    from assay.data import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(render_diff_report(payload, rows, statuses=statuses, title=title),
                       encoding="utf-8")
    return path
