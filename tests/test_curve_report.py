"""The learning-curve page of ``assay curve``: contents, escaping, and a real browser."""

from __future__ import annotations

import base64
import re

import pytest

from assay.exceptions import InputValidationError
from assay.report import render_curve_report, write_curve_report

EVIL = "<script>window.__xss=1</script>"


def payload(**extra):
    base = {
        "metric": "accuracy", "n_rows": 1000, "n_train": 800,
        "fit": {"family": "pow3", "formula": "a * n^-b + c", "ceiling": 0.97,
                "params": {"a": 1.2, "b": 0.4, "c": 0.03}, "well_behaved": False,
                "quality_issues": ["not yet in its power-law region: the log-log slope steepens"]},
        "forecast": [{"n": 800 * m, "predicted": 0.9 + 0.01 * m, "low": 0.89, "high": 0.93}
                     for m in (1, 2, 5, 10)],
        "requirement": {"target": 0.95, "n": 1600.0, "n_point": 5100.0, "n_low": 4000.0,
                        "n_high": None, "reachable": True, "ceiling": 0.97,
                        "n_observed": 800.0, "capped": True,
                        "message": "The fit puts accuracy 0.95 at about n=5,100 ... collect up "
                                   "to n=1,600 first, re-measure and refit."},
        "per_class": [{"class": EVIL, "n_train": 300, "recall_now": 0.8, "recall_ceiling": 0.9,
                       "family": "pow3"}],
        "allocation": {"objective": "worst_class", "predicted_before": 0.8,
                       "predicted_after": 0.85,
                       "classes": [{"class": EVIL, "collect": 200, "total": 500,
                                    "recall_now": 0.8, "recall_after": 0.85}]},
    }
    base.update(extra)
    return base


def test_page_holds_every_figure_and_escapes_the_data():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    page = render_curve_report(payload(), plot=svg, plot_format="svg")
    assert EVIL not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert "data:image/svg+xml;base64," + base64.b64encode(svg).decode() in page
    body = page.split('id="forecast-table"')[1].split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    assert len(rows) == 4 and "8,000" in rows[3] and "1.0000" in rows[3]
    assert 'data-capped="yes"' in page and "collect up to n=1,600 first" in page
    assert "unbounded" in page  # n_high None: some bootstrap fits never reach the target
    assert "power-law region" in page and 'data-well-behaved="no"' in page
    assert "script-src 'none'" in page and "<script" not in page.replace("&lt;script", "")


def test_optional_sections_and_bad_payloads():
    bare = payload()
    for key in ("requirement", "per_class", "allocation"):
        bare.pop(key)
    page = render_curve_report(bare)
    assert 'id="requirement"' not in page and 'id="per-class"' not in page
    assert "<img" not in page
    with pytest.raises(InputValidationError, match="'forecast'"):
        render_curve_report({k: v for k, v in bare.items() if k != "forecast"})
    with pytest.raises(InputValidationError, match="plot_format"):
        render_curve_report(bare, plot=b"x", plot_format="gif")


@pytest.mark.browser
def test_curve_page_in_chromium(browser, tmp_path):
    """The page loads offline, the PNG plot decodes, no script runs, nothing is fetched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.loglog([100, 1000], [0.3, 0.1])
    png = tmp_path / "curve.png"
    fig.savefig(png)
    plt.close(fig)
    path = write_curve_report(payload(), tmp_path / "curve.html", plot_path=png)
    page = browser.new_page()
    requests: list[str] = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
               else (requests.append(r.request.url), r.abort()))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    assert page.evaluate("document.getElementById('curve-plot').naturalWidth") > 0
    assert page.evaluate("window.__xss") is None
    assert EVIL in page.inner_text("#per-class")
    assert page.locator("#forecast-table tbody tr").count() == 4
    assert "collect up to n=1,600 first" in page.inner_text("#requirement")
    assert requests == []
    page.close()
