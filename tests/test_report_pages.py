"""The diff page and the run-history page as pure functions: rows, counts, charts, escaping.

``test_cli_diff.py`` and ``test_cli_runs.py`` write them through the CLI; the browser tests
(``test_report_browser.py``) open them in Chromium.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from assay.exceptions import InputValidationError
from assay.report import (
    diff_rows,
    metric_series,
    render_diff_report,
    render_history,
)
from assay.report._history import _CHART, _geometry

EVIL = '<script>window.__xss=1</script>"</div>'


# ----------------------------------------------------------------------------- diff_rows


def _loop_categories(fa, fb, actions):
    """The categories of ``assay diff`` by the rules of ``diff_runs``, with Python sets."""
    out = {}
    for check in sorted(set(fa["check"]) | set(fb["check"])):
        ca, cb = fa[fa["check"] == check], fb[fb["check"] == check]
        flag_a = set(ca.loc[ca["flag"], "row_id"])
        flag_b = set(cb.loc[cb["flag"], "row_id"])
        present_b = set(cb["row_id"])
        acted = {r for r, a in actions.items() if a in ("relabel", "remove", "duplicate")}
        kept_ids = {r for r, a in actions.items() if a == "keep"}
        gone = flag_a - flag_b
        out[check] = {
            "fixed": {r for r in gone if str(r) in acted},
            "kept": {r for r in flag_a if str(r) in kept_ids},
            "cleared": {r for r in gone if str(r) not in acted | kept_ids and r in present_b},
            "removed": {r for r in gone if str(r) not in acted | kept_ids
                        and r not in present_b},
            "new": flag_b - flag_a,
            "persisting": flag_a & flag_b,
        }
    return out


@pytest.mark.parametrize("seed", range(8))
def test_diff_rows_match_a_loop_over_the_rules(seed):
    rng = np.random.default_rng(seed)
    n = 60
    rows = []
    for run, keep in (("a", np.ones(n, bool)), ("b", rng.random(n) > 0.15)):
        for check in ("label_issues", "outliers"):
            ids = np.arange(n)[keep]
            rows.append(pd.DataFrame({"row_id": ids, "check": check,
                                      "score": rng.random(ids.size),
                                      "flag": rng.random(ids.size) < 0.3, "run": run}))
    frames = pd.concat(rows)
    fa = frames[frames.run == "a"].drop(columns="run")
    fb = frames[frames.run == "b"].drop(columns="run")
    decided = rng.choice(n, 25, replace=False)
    actions = {str(r): rng.choice(["relabel", "remove", "duplicate", "keep", "defer"])
               for r in decided}
    decisions = pd.DataFrame({"row_id": list(actions), "action": list(actions.values()),
                              "new_label": None})
    payload = {"checks": [{"check": "label_issues"}, {"check": "outliers"}]}
    got = diff_rows(payload, fa, fb, decisions, top=n)
    want = _loop_categories(fa, fb, actions)
    for check, cats in want.items():
        for key, ids in cats.items():
            table = got[check][key]
            assert table["total"] == len(ids), (check, key)
            assert {int(r[0]) for r in table["rows"]} == ids, (check, key)
            # most severe first: the lowest score of the run that flags the rows
            frame = fb if key == "new" else fa
            scores = frame[frame.check == check].set_index("row_id")["score"]
            shown = [scores[int(r[0])] for r in table["rows"]]
            assert shown == sorted(shown)
    capped = diff_rows(payload, fa, fb, decisions, top=2)
    assert all(len(t["rows"]) <= 2 for c in capped.values() for t in c.values())
    assert capped["outliers"]["new"]["total"] == got["outliers"]["new"]["total"]


def test_diff_rows_show_decisions_and_details():
    fa = pd.DataFrame({"row_id": ["x", "y"], "check": "label_issues", "score": [0.1, 0.2],
                       "flag": True, "given_label": [EVIL, "dog"]})
    fb = fa.assign(flag=False).iloc[:1]
    decisions = pd.DataFrame({"row_id": ["x"], "action": ["relabel"], "new_label": ["cat"]})
    got = diff_rows({"checks": [{"check": "label_issues"}]}, fa, fb, decisions)
    fixed, cleared, removed = (got["label_issues"][k] for k in ("fixed", "cleared", "removed"))
    assert fixed["columns"] == ["id", "score before", "score after", "after", "decision",
                                "given_label"]
    assert fixed["rows"] == [["x", "0.100", "0.100", "not flagged", "relabel → cat", EVIL]]
    assert cleared["total"] == 0
    assert removed["rows"] == [["y", "0.200", "absent", "absent", "dog"]]
    with pytest.raises(Exception, match="top"):
        diff_rows({"checks": []}, fa, fb, top=0)


# ----------------------------------------------------------------------- the diff page


def _payload(check=EVIL):
    return {"run_a": "run-1", "run_b": EVIL, "same_dataset": True, "n_decisions": 3,
            "checks": [{"check": check, "flagged_a": 1200, "flagged_b": 4, "fixed": 3,
                        "kept": 0, "cleared": 1, "removed": 0, "new": 2, "persisting": 2}],
            "metrics": [{"metric": EVIL, "a": 0.25, "b": 0.125, "delta": -0.125},
                        {"metric": "imbalance_ratio", "a": 3, "b": None, "delta": None}]}


def test_diff_page_counts_metrics_and_escaping():
    page = render_diff_report(_payload(), statuses={"a": {EVIL: "fail"}, "b": {EVIL: "warn"}})
    assert "<script>" not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert "script-src 'none'" in page and "http://" not in page and "https://" not in page
    cells = dict(re.findall(r'<td class="num" data-col="(\w+)">([^<]*)</td>', page))
    assert cells == {"flagged_a": "1,200", "flagged_b": "4", "fixed": "3", "kept": "0",
                     "cleared": "1", "removed": "0", "new": "2", "persisting": "2"}
    assert '<td class="num delta-down">-0.125</td>' in page
    assert re.search(r'data-metric="imbalance_ratio"><td>imbalance_ratio</td><td class="num">3'
                     r'</td><td class="num">—</td><td class="num delta-zero">—</td>', page)
    assert page.count('class="badge status-fail"') == 1
    # without rows: the categories are listed with their counts, no table
    assert 'data-category="fixed" data-count="3"' in page and '<table class="grid rows">' not in page
    with pytest.raises(InputValidationError, match="'metrics'"):
        render_diff_report({k: v for k, v in _payload().items() if k != "metrics"})


def test_diff_page_shows_how_many_rows_it_leaves_out():
    table = {"total": 40, "columns": ["id", "score before", "score after", "after"],
             "rows": [[f"r{i}", "0.100", "0.900", "not flagged"] for i in range(3)]}
    page = render_diff_report(_payload("label_issues"), {"label_issues": {"cleared": table}})
    assert "Showing the 3 most severe of 40" in page
    assert page.count("<td class=\"id\">r") == 3


# -------------------------------------------------------------------- the history page


def _audit(i, metrics, *, fp="fp", status="ok", command="audit"):
    return {"run_id": f"2025010{i}-000000-ab{i}", "command": command, "status": status,
            "started": f"2025-01-0{i}T00:00:00Z", "duration_s": 1.0, "fingerprint": fp,
            "n_findings": 10, "summary": {"status": "warn", "metrics": metrics}}


def test_metric_series_oldest_first_with_gaps():
    runs = [_audit(3, {"label": 0.1}), _audit(2, {"outlier": 0.5}, status="error"),
            _audit(1, {"label": 0.3, "outlier": 0.2}), _audit(4, {}, command="value")]
    audits, series = metric_series(runs)
    assert [a["run_id"][:9] for a in audits] == ["20250101-", "20250103-"]
    assert series == {"label": [0.3, 0.1], "outlier": [0.2, None]}


def test_chart_geometry_points_paths_and_version_changes():
    audits = [_audit(i, {}, fp="a" if i < 3 else "b") for i in range(1, 6)]
    g = _geometry([0.4, 0.2, None, 0.1, 0.3], _CHART, audits, "label")
    ys = {p["run"][:8]: p["y"] for p in g["points"]}
    # higher value, higher on the page (smaller y); the extremes sit on the frame
    assert ys["20250101"] == _CHART["top"] and ys["20250104"] == g["bottom_y"]
    assert ys["20250101"] < ys["20250105"] < ys["20250102"] < ys["20250104"]
    # the missing value splits the line: audits 1-2 and 4-5, one segment each
    assert len(g["paths"]) == 2 and all(p.count(" L") == 1 for p in g["paths"])
    assert len(g["changes"]) == 1 and g["latest"] == "0.3" and g["change"] == "+0.2"
    # a flat series: zero on the axis, any other value in the middle of 0 .. twice it
    zero = _geometry([0.0, 0.0], _CHART, audits[:2], "errors")
    assert {p["y"] for p in zero["points"]} == {zero["bottom_y"]} and zero["y_lo"] == "0"
    flat = _geometry([0.05, 0.05], _CHART, audits[:2], "outlier")
    assert {p["y"] for p in flat["points"]} == {(_CHART["top"] + flat["bottom_y"]) / 2}


def test_history_page_escapes_and_validates():
    runs = [_audit(2, {EVIL: 0.2, "label": 0.1}), _audit(1, {EVIL: 0.3, "label": 0.2})]
    runs[0]["run_id"] = EVIL
    page = render_history(runs, workspace=EVIL)
    assert "<script>" not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    # a name with a dot is a check's figure (a sparkline row), the others headline charts
    assert page.count('class="chart trend"') == 1 and "script-src 'none'" in page
    assert page.count('<tr data-metric="&lt;script&gt;window.__xss=1') == 1
    empty = render_history([])
    assert "No finished audit recorded metrics here yet" in empty and "No runs recorded" in empty
    with pytest.raises(InputValidationError, match="list of run records"):
        render_history({"run_id": "x"})
    with pytest.raises(InputValidationError, match="Run record 0"):
        render_history([{"command": "audit"}])
