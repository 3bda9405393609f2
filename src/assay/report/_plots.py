"""The report's plots as SVG geometry: per-check score histograms and the 2-D data map.

Plain numbers for the template to draw (``macros.html.j2``), computed with numpy over the
per-row table: a histogram of a million scores is one ``np.histogram``; the map draws the at
most 5,000 rows the audit projected (``AuditResult.summary["map"]``), so the page stays small
whatever the size of the data. Nothing here loops over rows in Python except the flagged
points of the map, each drawn with its id.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: Bars of a score histogram.
HIST_BINS = 40
#: Map points drawn one by one with their id (the flagged rows); the rest are one path.
MAX_MARKED = 2_000
#: Colours of the map's marks, in order (label issues, outliers, duplicates, then the rest).
PALETTE = ("#c0262d", "#e0862d", "#7a1f9c", "#1a7f37", "#2457c5", "#9a6700", "#0e7490")
#: Checks whose marks come first on the map, in this order.
_MARK_ORDER = ("label_issues", "outliers", "duplicates")


def score_histogram(check: dict[str, Any], outputs: Any, issues: pd.DataFrame
                    ) -> dict[str, Any] | None:
    """Geometry of one check's score histogram, with the flag threshold when there is one.

    None when the check has no per-row score in ``issues`` or flags no row (a check that
    passed with nothing found gets no plot). The count axis is logarithmic (a few flagged rows
    beside thousands of clean ones stay visible); each bar is red for the share of its rows the
    check flagged. The threshold is the check's recorded one named like the score column
    (``Threshold`` in ``check["thresholds"][score]``), else, when the flags are exactly a cut
    on the score, the score of the last flagged row; else none (the flag is not one cut).
    """
    score = outputs.score
    if score is None or score not in issues.columns or not all(c in issues.columns
                                                               for c in outputs.flags):
        return None
    s = pd.to_numeric(issues[score], errors="coerce").to_numpy(dtype=np.float64)
    flag = outputs.flagged(issues)
    ok = np.isfinite(s)
    s, flag = s[ok], flag[ok]
    if not flag.any():
        return None
    lo, hi = float(s.min()), float(s.max())
    if outputs.unit_score and lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    total = np.histogram(s, edges)[0]
    flagged = np.histogram(s[flag], edges)[0]
    cut, source = _threshold(check, score, outputs.worse, s, flag)

    width, height, left, right, top, bottom = 560, 180, 46, 14, 22, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    ymax = math.log10(1 + int(total.max()))

    def y(count: float) -> float:
        return plot_h * math.log10(1 + count) / ymax if ymax > 0 else 0.0

    def x(v: float) -> float:
        return left + plot_w * (v - lo) / (hi - lo)

    step = plot_w / HIST_BINS
    bars = []
    for i in range(HIST_BINS):
        if total[i] == 0:
            continue
        h = y(float(total[i]))
        hf = h * flagged[i] / total[i]
        bars.append({"x": round(left + i * step + 0.5, 2), "w": round(max(step - 1.0, 0.5), 2),
                     "y": round(top + plot_h - h, 2), "h": round(h, 2),
                     "fy": round(top + plot_h - hf, 2), "fh": round(hf, 2),
                     "n": int(total[i]), "f": int(flagged[i]),
                     "lo": float(edges[i]), "hi": float(edges[i + 1])})
    yticks = [{"y": round(top + plot_h - y(10.0**d), 1), "label": f"{10 ** d:,}"}
              for d in range(int(math.log10(max(int(total.max()), 1))) + 1)]
    xticks = [{"x": round(x(v), 1), "label": _short(v)} for v in np.linspace(lo, hi, 5)]
    line = None
    if cut is not None and lo <= cut <= hi:
        line = {"x": round(x(cut), 1), "value": cut, "label": _short(cut), "source": source,
                "anchor": "start" if x(cut) < left + plot_w * 0.6 else "end"}
    return {"check": check["name"], "score": score, "width": width, "height": height,
            "left": left, "top": top, "plot_w": plot_w, "plot_h": plot_h,
            "bottom_y": top + plot_h, "bars": bars, "xticks": xticks, "yticks": yticks,
            "line": line, "threshold": cut, "n": int(s.size), "n_flagged": int(flag.sum()),
            "worse": outputs.worse}


def _threshold(check: dict[str, Any], score: str, worse: str, s: np.ndarray,
               flag: np.ndarray) -> tuple[float | None, str]:
    recorded = (check.get("thresholds") or {}).get(score) or {}
    value = recorded.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value), str(recorded.get("source", ""))
    if flag.all():
        return None, ""
    f, rest = s[flag], s[~flag]
    if worse == "low" and f.max() <= rest.min():
        return float(f.max()), "the highest score flagged: every row at or below it is flagged"
    if worse == "high" and f.min() >= rest.max():
        return float(f.min()), "the lowest score flagged: every row at or above it is flagged"
    return None, ""


def data_map(summary: dict[str, Any], issues: pd.DataFrame, outputs: dict[str, Any]
             ) -> dict[str, Any] | None:
    """Geometry of the 2-D map of the rows (``summary["map"]``), flagged rows marked by check.

    Equal scales on both axes (distances on the page are distances in the projection). A row
    several checks flag is marked by the first of label issues, outliers, duplicates, then the
    other checks in their order.
    """
    m = summary.get("map")
    if not isinstance(m, dict) or not m.get("rows"):
        return None
    rows = np.asarray(m["rows"], dtype=np.int64)
    xs = np.asarray(m.get("x", []), dtype=np.float64)
    ys = np.asarray(m.get("y", []), dtype=np.float64)
    keep = (rows >= 0) & (rows < len(issues)) if len(issues) else np.ones(rows.size, bool)
    if xs.size != rows.size or ys.size != rows.size:
        return None
    rows, xs, ys = rows[keep], xs[keep], ys[keep]
    if rows.size == 0:
        return None
    names = sorted((n for n, o in outputs.items() if all(c in issues.columns for c in o.flags)),
                   key=lambda n: (_MARK_ORDER.index(n) if n in _MARK_ORDER else len(_MARK_ORDER)))
    mark = np.full(rows.size, -1)
    for k, name in enumerate(names):
        hit = outputs[name].flagged(issues)[rows] if len(issues) else np.zeros(rows.size, bool)
        mark[(mark < 0) & hit] = k

    width, height, pad = 720, 440, 14
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    scale = min((width - 2 * pad) / max(x1 - x0, 1e-12), (height - 2 * pad) / max(y1 - y0, 1e-12))
    px = pad + (width - 2 * pad - scale * (x1 - x0)) / 2 + scale * (xs - x0)
    py = height - pad - (height - 2 * pad - scale * (y1 - y0)) / 2 - scale * (ys - y0)
    plain = mark < 0
    path = "".join(f"M{a:.1f} {b:.1f}h0" for a, b in zip(px[plain], py[plain], strict=True))
    marked = np.flatnonzero(~plain)[:MAX_MARKED]
    ids = issues["id"].to_numpy()[rows[marked]] if "id" in issues.columns else rows[marked]
    labels = (issues["given_label"].to_numpy()[rows[marked]] if "given_label" in issues.columns
              else [None] * marked.size)
    points = [{"x": round(float(px[i]), 1), "y": round(float(py[i]), 1), "k": int(mark[i]),
               "colour": PALETTE[int(mark[i]) % len(PALETTE)],
               "row": int(rows[i]), "id": _plain(ident), "label": _plain(lab)}
              for i, ident, lab in zip(marked.tolist(), ids, labels, strict=True)]
    points.sort(key=lambda p: -p["k"])  # the first check's marks drawn last, on top
    keys = [{"k": k, "name": name, "colour": PALETTE[k % len(PALETTE)],
             "count": int((mark == k).sum())} for k, name in enumerate(names)]
    ratio = m.get("explained_variance_ratio") or []
    return {"width": width, "height": height, "path": path, "points": points,
            "keys": [key for key in keys if key["count"]], "n_points": int(rows.size),
            "n_rows": int(m.get("n_rows", len(issues))), "n_random": m.get("n_random"),
            "method": str(m.get("method", "pca")).upper(),
            "ratio": [float(r) for r in ratio[:2]]}


def _short(v: float) -> str:
    """A tick label: up to three significant digits."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e5 else f"{v:.1e}"


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
