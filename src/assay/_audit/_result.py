"""Results of an audit: one ``CheckResult`` per check and the combined ``AuditResult``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assay._audit._spec import RowOutputs
from assay.exceptions import InputValidationError

if TYPE_CHECKING:
    from assay._audit._next_steps import NextStep

__all__ = ["AuditResult", "CheckResult", "Threshold", "SCHEMA_VERSION", "STATUSES"]

#: Version of the JSON form written by ``AuditResult.to_json``.
SCHEMA_VERSION = 1
STATUSES = ("pass", "warn", "fail", "error")
#: The outputs of the registered checks, for results written before they were serialised with
#: the result (set by the package on import, so this module does not import the registry).
LEGACY_OUTPUTS: Any = None


@dataclass(frozen=True)
class Threshold:
    """A threshold a check used, and where its value came from."""

    value: Any
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": jsonable(self.value), "source": self.source}


@dataclass(frozen=True)
class CheckResult:
    """What one check found.

    Attributes
    ----------
    name : str
    status : {"pass", "warn", "fail", "error"}
    summary : dict
        JSON-able figures (counts, rates).
    rows : pandas.DataFrame or None
        Per-row columns aligned with the dataset (row ``i`` of the frame is row ``i`` of the data).
    evidence : dict
        JSON-able detail: duplicate sets, class pairs, leaked pairs, slices.
    thresholds : dict of str to Threshold
        Every threshold used, with its provenance.
    message : str
        One sentence for people.
    error : str or None
        The exception text when ``status == "error"``.
    duration_s : float
    """

    name: str
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    rows: pd.DataFrame | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    message: str = ""
    error: str | None = None
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (without the per-row frame)."""
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "summary": jsonable(self.summary),
            "evidence": jsonable(self.evidence),
            "thresholds": {k: t.to_dict() for k, t in self.thresholds.items()},
            "error": self.error,
            "duration_s": round(self.duration_s, 4),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            name=d["name"], status=d["status"], summary=d.get("summary", {}),
            evidence=d.get("evidence", {}),
            thresholds={k: Threshold(v["value"], v["source"]) for k, v in d.get("thresholds", {}).items()},
            message=d.get("message", ""), error=d.get("error"), duration_s=d.get("duration_s", 0.0),
        )


@dataclass(frozen=True)
class AuditResult:
    """Everything an audit found.

    Attributes
    ----------
    checks : dict of str to CheckResult
        In the order they ran.
    issues : pandas.DataFrame
        One row per data row, with stable columns: ``row``, ``id``, ``given_label``,
        ``label_score``, ``is_label_issue``, ``suggested_label``, ``label_error_probability``,
        ``knn_label_agreement``, ``is_exact_duplicate``, ``is_near_duplicate``,
        ``duplicate_set``, ``outlier_score``, ``is_outlier`` (those of checks that ran).
    summary : dict
        Dataset facts (rows, classes, fingerprint, featurizer, model, k-NN method), per-check
        status counts and headline figures.
    outputs : dict of str to RowOutputs
        The per-row outputs each check's specification declared (saved with the result, so a
        result read back knows its flags, scores and metrics without the registry).
    """

    checks: dict[str, CheckResult]
    issues: pd.DataFrame
    summary: dict[str, Any]
    outputs: dict[str, RowOutputs] = field(default_factory=dict)

    def _outputs(self) -> dict[str, RowOutputs]:
        if self.outputs or LEGACY_OUTPUTS is None:
            return self.outputs
        return {n: o for n, o in LEGACY_OUTPUTS().items() if n in self.checks}

    @property
    def status(self) -> str:
        """Worst status over the checks (error > fail > warn > pass)."""
        rank = {s: i for i, s in enumerate(STATUSES)}
        return max((c.status for c in self.checks.values()), key=rank.__getitem__, default="pass")

    def metrics(self) -> dict[str, float]:
        """Headline figures usable in ``--fail-on`` rules (shares are in [0, 1]).

        ``errors`` (checks that crashed); for each check with per-row outputs (``outputs``) its
        ``metric`` (the share of rows it flags, e.g. ``label``, ``duplicate``, ``outlier``,
        ``leaked``) and ``sub_metrics``; ``imbalance_ratio``; and every numeric summary figure
        as ``check.figure``.
        """
        out: dict[str, float] = {"errors": float(sum(c.status == "error" for c in self.checks.values()))}
        iss = self.issues
        n = max(len(iss), 1)
        outputs = self._outputs()
        for name in self.checks:
            rows = outputs.get(name)
            if rows is None or not all(c in iss for c in rows.flags):
                continue
            for metric, col in rows.sub_metrics.items():
                if col in iss:
                    out[metric] = float(iss[col].to_numpy(dtype=bool).sum()) / n
            if rows.metric:
                out[rows.metric] = float(rows.flagged(iss).sum()) / n
        prof = self.checks.get("class_profile")
        if prof is not None and "imbalance_ratio" in prof.summary:
            out["imbalance_ratio"] = float(prof.summary["imbalance_ratio"])
        for name, check in self.checks.items():
            for key, value in check.summary.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    out.setdefault(f"{name}.{key}", float(value))
        return out

    def findings(self) -> pd.DataFrame:
        """Long per-row findings for storage: ``row_id``, ``check``, ``score``, ``flag``, details.

        One row per (data row, check) for every check whose specification declares per-row
        outputs (``RowOutputs``): its flag, its score when that lies in [0, 1] with lower worse
        (else NaN), its group and detail columns. So ``assay diff`` sees every such finding:
        label issues, duplicates, outliers, leaks, weak slices, annotator conflicts, low-value
        rows. ``row_id`` is the dataset's id column when given, so findings of two dataset
        versions can be matched.
        """
        iss = self.issues
        if iss.empty:
            return pd.DataFrame(columns=["row_id", "check", "score", "flag"])
        row_id = iss["id"] if "id" in iss else iss["row"]
        outputs = self._outputs()
        parts = []
        for name in self.checks:
            rows = outputs.get(name)
            if rows is None or not all(c in iss for c in rows.flags):
                continue
            score = (iss[rows.score].astype(float) if rows.unit_score and rows.score in iss
                     else np.nan)
            part = pd.DataFrame({"row_id": row_id, "check": name, "score": score,
                                 "flag": rows.flagged(iss)})
            if rows.group is not None and rows.group in iss:
                part[rows.group] = iss[rows.group].astype(np.int64)
            for col in rows.detail:
                if col in iss:
                    values = iss[col]
                    numeric = pd.api.types.is_numeric_dtype(values) and not \
                        pd.api.types.is_bool_dtype(values)
                    part[col] = values if numeric else values.astype(str)
            parts.append(part)
        if not parts:
            return pd.DataFrame(columns=["row_id", "check", "score", "flag"])
        return pd.concat(parts, ignore_index=True)

    def next_steps(self, *, workspace: str | None = None) -> list[NextStep]:
        """The ranked next actions: what to do, on how many rows, what it is worth, and the
        command that does it (the rule: :mod:`assay._audit._next_steps`).

        ``workspace`` is added as ``-w WORKSPACE`` to the ``assay review`` and ``assay curve``
        commands. An audit with nothing to act on gives an empty list. The relabel step's worth
        in data comes from ``summary["relabel_or_collect"]`` (a ``curve --compare-clean`` run
        that :func:`assay.pipelines.record_audit` found in the workspace); without it, the step
        carries the command that measures it.
        """
        from assay._audit._next_steps import next_steps

        return next_steps(self, workspace=workspace)

    def _repr_html_(self) -> str:
        """A compact summary for notebooks: the verdict, the rows, one line per check (status,
        rows flagged, finding) and the first next steps. Every value is escaped; the full
        picture is :func:`assay.report.render_report`."""
        import html

        esc = html.escape
        summary = self.summary if isinstance(self.summary, dict) else {}
        n_rows = summary.get("n_rows", len(self.issues))
        facts = [f"{n_rows:,} rows" if isinstance(n_rows, int) else None,
                 f"{summary['n_classes']:,} classes"
                 if isinstance(summary.get("n_classes"), int) else None,
                 f"{len(self.checks)} checks", summary.get("run_id") and f"run {summary['run_id']}"]
        outputs = self._outputs()
        rows = []
        for name, check in self.checks.items():
            spec = outputs.get(name)
            flagged = (f"{int(spec.flagged(self.issues).sum()):,}"
                       if spec is not None and len(self.issues)
                       and all(c in self.issues for c in spec.flags) else "—")
            text = check.message or next(iter((check.error or "").strip().splitlines()[-1:]), "")
            text = text if len(text) <= 160 else text[:157] + "..."
            rows.append(f"<tr><td style='{_CELL}'><code>{esc(name)}</code></td>"
                        f"<td style='{_CELL}'>{_badge(check.status)}</td>"
                        f"<td style='{_CELL};text-align:right'>{flagged}</td>"
                        f"<td style='{_CELL}'>{esc(text)}</td></tr>")
        steps = self.next_steps()
        items = []
        for step in steps[:_MAX_STEPS]:
            meta = " · ".join(x for x in (
                f"{step.rows:,} rows" if step.rows is not None else "", step.worth or "") if x)
            cmd = "".join(f"<br><code style='font-size:12px'>{esc(c)}</code>"
                          for c in (step.command, step.worth_command) if c)
            items.append(f"<li>{esc(step.action)}"
                         f"{f' <span style={_MUTED}>({esc(meta)})</span>' if meta else ''}"
                         f"{cmd}</li>")
        more = (f"<div style={_MUTED}>... and {len(steps) - _MAX_STEPS} more: "
                "result.next_steps()</div>" if len(steps) > _MAX_STEPS else "")
        next_html = (f"<ol style='margin:4px 0;padding-left:22px'>{''.join(items)}</ol>{more}"
                     if items else f"<div style={_MUTED}>Nothing to fix.</div>")
        return (
            "<div class='assay-audit' style='font-family:system-ui,sans-serif;font-size:13px;"
            "line-height:1.45;max-width:900px'>"
            f"<div><b>AuditResult</b> {_badge(self.status)} "
            f"<span style={_MUTED}>{esc(' · '.join(f for f in facts if f))}</span></div>"
            "<table style='border-collapse:collapse;margin:6px 0'><thead><tr>"
            + "".join(f"<th style='{_CELL};text-align:left'>{h}</th>"
                      for h in ("check", "status", "flagged", "finding"))
            + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<div><b>Next steps</b>{next_html}</div></div>"
        )

    def to_dict(self, *, include_issues: bool = True) -> dict[str, Any]:
        """JSON-able form; ``include_issues=False`` leaves out the per-row table.

        ``metrics`` and ``next_steps`` are derived from the rest (``from_json`` recomputes them).
        """
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "status": self.status,
            "outputs": {n: o.to_dict() for n, o in self.outputs.items()},
            "summary": jsonable(self.summary),
            "checks": [c.to_dict() for c in self.checks.values()],
            "metrics": jsonable(self.metrics()),
            "next_steps": [s.to_dict() for s in self.next_steps()],
        }
        if include_issues:
            d["issues"] = {c: jsonable(self.issues[c].tolist()) for c in self.issues.columns}
        return d

    def to_json(self, path: str | Path | None = None, *, include_issues: bool = True) -> str:
        """Serialise to versioned JSON (and write it to ``path`` when given)."""
        text = json.dumps(self.to_dict(include_issues=include_issues), indent=1, allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> AuditResult:
        """Read a result written by :meth:`to_json` (a path or the JSON text).

        When the JSON has no per-row table but names an ``issues_file`` (as ``assay audit``
        writes it), the table is read from that Parquet file beside the JSON.
        """
        base: Path | None = None
        text = str(source)
        if isinstance(source, Path) or (not text.lstrip().startswith("{") and Path(text).exists()):
            base = Path(source).parent
            text = Path(source).read_text(encoding="utf-8")
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputValidationError(f"Not an audit JSON document ({exc}).") from exc
        version = d.get("schema_version")
        if version is None or version > SCHEMA_VERSION:
            raise InputValidationError(
                f"Audit JSON schema version {version!r} is not supported by this assay (reads up "
                f"to {SCHEMA_VERSION}). Upgrade assay to read it."
            )
        checks = {c["name"]: CheckResult.from_dict(c) for c in d.get("checks", [])}
        if "issues" in d:
            issues = pd.DataFrame(d["issues"])
        elif base is not None and d.get("summary", {}).get("issues_file"):
            issues = pd.read_parquet(base / d["summary"]["issues_file"])
        else:
            issues = pd.DataFrame()
        outputs = {n: RowOutputs.from_dict(o) for n, o in (d.get("outputs") or {}).items()}
        return cls(checks, issues, d.get("summary", {}), outputs)


_CELL = "padding:2px 8px;border-bottom:1px solid #dde1e6;vertical-align:top"
_MUTED = "'color:#5b6470'"
_MAX_STEPS = 5
_BADGE = {"pass": ("#1a7f37", "#e6f4ea"), "warn": ("#9a6700", "#fff4d6"),
          "fail": ("#c0262d", "#fde8e8"), "error": ("#7a1f9c", "#f4e8fb")}


def _badge(status: str) -> str:
    fg, bg = _BADGE.get(status, ("#6e7781", "#eef0f2"))
    import html

    return (f"<span style='color:{fg};background:{bg};font-weight:700;font-size:11px;"
            f"padding:1px 7px;border-radius:9px'>{html.escape(status.upper())}</span>")


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars and arrays, frames and non-finite floats to plain JSON values.

    Parameters
    ----------
    obj : Any
        A check's summary, evidence or any nesting of dicts, lists, frames and numpy values.

    Returns
    -------
    Any
        The same structure of dicts, lists, str, int, float (NaN and infinities as None) and
        bool, ready for ``json.dumps(..., allow_nan=False)``.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"n": np.int64(3), "x": np.array([1.5, np.nan])})
    {'n': 3, 'x': [1.5, None]}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is None or isinstance(obj, int | str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)
