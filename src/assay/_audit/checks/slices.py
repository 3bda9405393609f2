"""Underperforming slices over metadata and embedding clusters, with error analysis.

Each flagged slice is described in words by the table columns that separate it from the other
rows (:func:`assay.slices.describe_slices`): a cluster id alone says nothing to a reader.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.slices import (
    MIN_EFFECT,
    describe_slices,
    find_slices,
    hardest_examples,
    normalized_confusion,
    slice_name,
)

ALPHA = 0.05
MIN_SIZE = 20
#: Flagged slices described in words (the most significant ones).
MAX_DESCRIBED = 20


@register_check(
    "slices", needs=("pred_probs", "features"),
    outputs=RowOutputs(flag="in_weak_slice", detail=("weak_slice",), metric="weak_slice"),
)
def check_slices(ctx: AuditContext) -> CheckResult:
    """Slices (metadata values, numeric bins, embedding clusters) with a high error rate."""
    ds = ctx.dataset
    meta = ds.table[list(ds.roles.meta)] if ds.roles.meta else None
    probs = ctx.pred_probs
    res = find_slices(ds.labels, probs, meta=meta, features=ctx.features.matrix,
                      alpha=ALPHA, min_size=MIN_SIZE, random_state=ctx.config.random_state)
    flagged = res[res["flagged"]] if len(res) else res
    n = ds.n_rows
    in_slice = np.zeros(n, dtype=bool)
    which = np.full(n, "", dtype=object)
    for idx, row in flagged.iloc[::-1].iterrows():  # most significant written last, so it wins
        members = np.asarray(res.attrs["members"][idx], dtype=np.int64)
        in_slice[members] = True
        which[members] = f"{row['source']}={row['slice']}"
    columns, basis = describable_columns(ds, ctx.features.featurizer)
    described = _describe(res, flagged, columns, basis, ctx.config.random_state)
    shown = res.head(50).copy()
    shown["name"] = [slice_name(r.source, r.kind, r.slice) for r in shown.itertuples()]
    shown["described_by"] = [described[i]["short"] if i in described else ""
                             for i in shown.index]
    shown["rule"] = [_rule_line(described[i].get("rule")) if i in described else ""
                     for i in shown.index]
    hard = hardest_examples(ds.labels, probs, per_class=5)
    ids = ds.ids
    names = ds.class_names()
    conf = normalized_confusion(ds.labels, probs, n_classes=ds.n_classes)
    return CheckResult(
        name="slices",
        status="warn" if len(flagged) else "pass",
        summary={"n_slices_tested": int(res.attrs.get("n_tested", 0)),
                 "n_slices_flagged": int(len(flagged)),
                 "error_rate": float(res.attrs.get("error_rate", 0.0)),
                 "rows_in_flagged_slices": int(in_slice.sum()),
                 "described_by": basis},
        rows=pd.DataFrame({"in_weak_slice": in_slice, "weak_slice": which}),
        evidence={
            "slices": shown,
            "descriptions": list(described.values()),
            "confusion": {"classes": names, "matrix": conf},
            "hardest": [
                {"class": names[int(r["class"])], "row": int(r["row"]), "id": str(ids[int(r["row"])]),
                 "given_prob": float(r["given_prob"]), "predicted": names[int(r["predicted"])]}
                for _, r in hard.iterrows()
            ][:500],
        },
        thresholds={
            "alpha": Threshold(ALPHA, "Benjamini-Hochberg false-discovery rate over all slices"),
            "min_size": Threshold(MIN_SIZE, "smallest slice tested; assay default"),
            "min_effect": Threshold(MIN_EFFECT, "smallest effect size (Cohen's d or h) that "
                                    "names a column in a slice's description; Cohen's 'small'"),
        },
        message=_message(flagged, described),
    )


def describable_columns(dataset: Any, featurizer: str = "") -> tuple[pd.DataFrame, str]:
    """The table columns a slice is described by, and a sentence on what they are.

    The feature, metadata and split columns, and the length of a text column; not the label,
    ids, groups or image paths. Pixel columns (:func:`assay.data.pixel_layout`) are left out:
    one pixel says nothing a reader can act on. With nothing left (embeddings, pixels or images
    only), clusters keep their ids and the sentence says why.
    """
    from assay.data import pixel_layout

    roles = dataset.roles
    table = dataset.table
    names = [c for c in dict.fromkeys([*roles.features, *roles.meta, roles.split])
             if c is not None and c != roles.embedding_column]
    layout = pixel_layout(table, list(roles.features)) if roles.features else None
    pixels = set(layout.columns) if layout is not None else set()
    names = [c for c in names if c not in pixels]
    cols = table[names].copy() if names else pd.DataFrame(index=table.index)
    if roles.text is not None:
        cols[f"length of {roles.text}"] = table[roles.text].astype("string").str.len()
    kinds = [what for what, there in (
        (f"{len(pixels)} pixel columns", bool(pixels)),
        ("embeddings", dataset.embeddings is not None or roles.embedding_column is not None),
        ("images", roles.image is not None)) if there]
    if cols.shape[1]:
        basis = (f"{cols.shape[1]} table column{'s' if cols.shape[1] != 1 else ''}"
                 + (f" ({', '.join(kinds)} left out)" if kinds else ""))
    else:
        basis = ("no table column to describe slices by (the rows are "
                 + (" and ".join(kinds) or f"{featurizer or 'derived'} features")
                 + "); clusters keep their ids")
    return cols.reset_index(drop=True), basis


def _describe(res: pd.DataFrame, flagged: pd.DataFrame, columns: pd.DataFrame, basis: str,
              random_state: Any) -> dict[Any, dict[str, Any]]:
    """The descriptions of the ``MAX_DESCRIBED`` most significant flagged slices, by index."""
    top = flagged.head(MAX_DESCRIBED)
    out: dict[Any, dict[str, Any]] = {}
    for source in dict.fromkeys(top["source"]) if len(top) else []:
        part = top[top["source"] == source]
        # a metadata slice is already named by its column: describe it by the others
        table = columns.drop(columns=[str(source)], errors="ignore")
        members = [np.asarray(res.attrs["members"][i], dtype=np.int64) for i in part.index]
        descs = (describe_slices(table, members, random_state=random_state) if table.shape[1]
                 else [{"size": int(m.size), "features": [], "rule": None, "text": "",
                        "short": ""} for m in members])
        for (i, r), d in zip(part.iterrows(), descs, strict=True):
            name = slice_name(r["source"], r["kind"], r["slice"])
            if not d["text"]:
                d["text"] = (f"{name}: no table column differs by at least a small effect "
                             f"({MIN_EFFECT:g})" if table.shape[1] else f"{name}: {basis}")
            out[i] = {"source": str(r["source"]), "kind": str(r["kind"]),
                      "slice": _scalar(r["slice"]), "name": name,
                      "error_rate": float(r["error_rate"]),
                      "rest_error_rate": float(r["rest_error_rate"]),
                      "p_value": float(r["p_value"]), "q_value": float(r["q_value"]), **d}
    return out


def _message(flagged: pd.DataFrame, described: dict[Any, dict[str, Any]]) -> str:
    """The five most significant flagged slices, each with the columns that describe it."""
    if not len(flagged):
        return "No slice errs significantly more than the rest."
    parts = []
    for i, r in zip(flagged.index[:5], flagged.head(5).itertuples(), strict=True):
        short = described[i]["short"] if i in described else ""
        parts.append(f"{slice_name(r.source, r.kind, r.slice)}"
                     f"{f' ({short})' if short else ''}: {r.error_rate:.1%} errors vs "
                     f"{r.rest_error_rate:.1%}, {r.size:,} rows")
    more = f"; {len(flagged) - 5} more" if len(flagged) > 5 else ""
    return "Slices with more errors than the rest: " + "; ".join(parts) + more + "."


def _rule_line(rule: dict[str, Any] | None) -> str:
    if not rule:
        return ""
    return (f"{rule['text']} ({rule['rows']:,} rows; precision {rule['precision']:.2f}, "
            f"recall {rule['recall']:.2f})")


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
