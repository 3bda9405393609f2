"""The HTML audit report: one self-contained, offline, printable file.

:func:`render_report` is a pure function from an :class:`~assay.AuditResult` (plus, optionally,
the audited :class:`~assay.Dataset`, to show the samples themselves) to an HTML string;
:func:`write_report` writes it to disk. ``audit.json`` stays the machine interface; the report
is rendered from the same result object. :func:`render_curve_report` does the same for the plan
of ``assay curve``, :func:`render_diff_report` for ``assay diff`` and :func:`render_history` for
the runs of a workspace (``assay runs --html``). :func:`format_p_value` rounds p- and q-values
as the report and the command line show them; :func:`sample_layout`, :func:`pixel_range` and
:func:`pixel_png` draw a table's pixel rows as the report does (the review app reuses them). See
``docs/report.md``.
"""

from __future__ import annotations

from assay.report._curve import render_curve_report, write_curve_report
from assay.report._diff import diff_rows, render_diff_report, write_diff_report
from assay.report._history import metric_series, render_history, write_history
from assay.report._render import format_p_value, render_report, safe_json, write_report
from assay.report._samples import pixel_png, pixel_range, sample_layout
from assay.report._source import check_alignment, load_dataset_for

__all__ = ["check_alignment", "diff_rows", "format_p_value", "load_dataset_for",
           "metric_series", "pixel_png", "pixel_range", "render_curve_report",
           "render_diff_report", "render_history", "render_report", "safe_json", "sample_layout",
           "write_curve_report", "write_diff_report", "write_history", "write_report"]
