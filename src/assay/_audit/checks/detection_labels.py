"""Wrong, misplaced, spurious and missing boxes (the label check of an object-detection task),
per image, with the class profile of the boxes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.data import format_boxes
from assay.detection import BoxSet, DetectionIssues, find_detection_issues

WARN_RATE = 0.01
FAIL_RATE = 0.05
#: Flagged images and boxes listed in the evidence and the report, worst first.
MAX_SHOWN = 200
_SOURCE = ("assay default, as for class labels; Northcutt et al. 2021 found >= 3.3 % label "
           "errors on average in 10 benchmark test sets")
_KINDS = ("wrong_class", "badly_located", "spurious", "missing")


def detection_section(check: dict) -> dict:
    """The report section: counts per kind, the images with a box that looks wrong (the changes
    in words), the flagged boxes and the classes."""
    s = check["summary"]
    stats = {
        "images flagged": s.get("n_flagged"),
        "share": f"{s.get('rate', 0):.1%}",
        "boxes": s.get("n_boxes"),
        "predicted boxes": s.get("n_predictions"),
        **{f"{k.replace('_', ' ')}": s.get("counts", {}).get(k) for k in _KINDS},
        "location IoU bar": s.get("thresholds", {}).get("location_iou"),
    }
    ev = check["evidence"]
    return {"stats": stats,
            "tables": {"Images with a box that looks wrong, worst first": ev.get("flagged"),
                       "Flagged boxes": ev.get("boxes"), "Classes": ev.get("classes")}}


@register_check(
    "detection_labels", needs=("boxes", "box_predictions"),
    outputs=RowOutputs(flag="is_label_issue", score="label_score", unit_score=True,
                       detail=("suggested_label", "given_label", "box_changes"),
                       metric="label"),
    section=detection_section,
)
def check_detection_labels(ctx: AuditContext) -> CheckResult:
    """Boxes of the wrong class, badly located, spurious, and objects without a box, judged
    against the user's predicted boxes (:func:`assay.find_detection_issues`), per image: the
    suggested boxes and each change in words."""
    labels, preds = ctx.boxes, ctx.box_predictions
    res = find_detection_issues(labels, preds)
    fixed = res.apply_fixes()
    changes = _changes(res)
    rows = pd.DataFrame({
        "is_label_issue": res.is_issue,
        "label_score": np.clip(res.image_score, 0.0, 1.0),
        "suggested_label": _cells(fixed),
        "box_changes": changes,
    })
    n_flagged = int(res.is_issue.sum())
    rate = float(res.is_issue.mean()) if len(res.is_issue) else 0.0
    thresholds = {k: (v if not isinstance(v, dict) else {str(a): round(float(b), 4)
                                                          for a, b in v.items()})
                  for k, v in res.thresholds.items()}
    summary = {
        "n_flagged": n_flagged,
        "rate": rate,
        "counts": res.counts,
        "n_boxes": labels.n_boxes,
        "n_predictions": preds.n_boxes,
        "n_images": labels.n_images,
        "n_classes": labels.n_classes,
        "thresholds": _plain(thresholds),
        "model": "user (predicted boxes)",
    }
    return CheckResult(
        name="detection_labels",
        status="fail" if rate > FAIL_RATE else "warn" if rate > WARN_RATE else "pass",
        summary=summary,
        rows=rows,
        evidence={"flagged": _flagged_records(ctx, res, changes),
                  "boxes": _box_records(ctx, res), "classes": _class_table(res)},
        thresholds={
            "warn_rate": Threshold(WARN_RATE, _SOURCE),
            "fail_rate": Threshold(FAIL_RATE, _SOURCE),
            "iou_threshold": Threshold(res.thresholds.get("iou_threshold", 0.5),
                                       "a prediction overlapping a box at this IoU speaks for "
                                       "it (COCO's AP50 match)"),
            "flag_score": Threshold(0.5, "every score is 0.5 at its bar (the per-class "
                                    "confident score, the location IoU fence); below it a box "
                                    "or image is flagged (assay.detection)"),
        },
        message=_message(n_flagged, labels.n_images, res),
    )


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _box_text(name: str, xyxy: np.ndarray) -> str:
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return f"{name} [{x0:g}, {y0:g}, {x1 - x0:g}, {y1 - y0:g}]"


def _changes(res: DetectionIssues) -> list[str]:
    """Per image, its suggested changes in words (``"wrong class: dog [1, 2, 3, 4] -> cat;
    missing: cat [...]"``, boxes as ``[x, y, width, height]``); empty when none."""
    lab = res.labels
    names = list(lab.classes)
    out: list[list[str]] = [[] for _ in range(lab.n_images)]
    for i in np.flatnonzero(res.issue != "ok"):
        img, box = int(lab.image[i]), _box_text(names[lab.label[i]], lab.xyxy[i])
        kind = res.issue[i]
        if kind == "wrong_class":
            out[img].append(f"wrong class: {box} -> {names[res.suggested_label[i]]}")
        elif kind == "badly_located":
            out[img].append(f"badly located: {box} -> "
                            f"{_box_text(names[lab.label[i]], res.suggested_xyxy[i])}")
        else:
            out[img].append(f"spurious: {box}")
    miss = res.missing
    for j in range(miss.n_boxes):
        out[int(miss.image[j])].append(f"missing: {_box_text(names[miss.label[j]], miss.xyxy[j])}")
    return ["; ".join(parts) for parts in out]


def _cells(boxes: BoxSet) -> list[str]:
    """Each image's boxes as a box cell (:func:`assay.data.format_boxes`)."""
    names = list(boxes.classes)
    out = []
    for i in range(boxes.n_images):
        part = boxes.rows_of(i)
        xyxy = boxes.xyxy[part]
        out.append(format_boxes([[names[k], x0, y0, x1 - x0, y1 - y0] for k, (x0, y0, x1, y1)
                                 in zip(boxes.label[part].tolist(), xyxy.tolist(),
                                        strict=True)]))
    return out


def _flagged_records(ctx: AuditContext, res: DetectionIssues, changes: list[str]) -> list[dict]:
    flagged = np.flatnonzero(res.is_issue)
    flagged = flagged[np.argsort(res.image_score[flagged], kind="stable")][:MAX_SHOWN]
    ids = ctx.dataset.ids
    table = ctx.dataset.table
    names = table["file_name"].astype(str).to_numpy() if "file_name" in table else None
    out = []
    for i in flagged.tolist():
        rec = {"row": i, "id": ids[i].item() if hasattr(ids[i], "item") else ids[i]}
        if names is not None:
            rec["file_name"] = names[i]
        rec.update({"changes": changes[i], "label_score": round(float(res.image_score[i]), 4)})
        out.append(rec)
    return out


def _box_records(ctx: AuditContext, res: DetectionIssues) -> pd.DataFrame:
    """The flagged boxes (and missing ones), worst first."""
    frame = res.boxes_frame()
    frame = frame[frame["issue"] != "ok"]
    miss = res.missing
    if miss.n_boxes:
        missing = miss.to_frame()
        missing = missing.drop(columns=[c for c in ("label", "score") if c in missing.columns])
        missing["issue"] = "missing"
        missing["box_score"] = res.missing_score
        frame = pd.concat([frame, missing], ignore_index=True)
    cols = [c for c in ("image", "class", "issue", "box_score", "best_iou", "x0", "y0", "x1",
                        "y1", "suggested_class") if c in frame.columns]
    frame = frame.sort_values("box_score", kind="stable").head(MAX_SHOWN)[cols]
    return frame.round(4).reset_index(drop=True)


def _class_table(res: DetectionIssues) -> pd.DataFrame:
    """One row per class: annotated boxes, flagged of each kind, most frequent first."""
    lab = res.labels
    k = lab.n_classes
    table = pd.DataFrame({"class": list(lab.classes),
                          "boxes": np.bincount(lab.label, minlength=k)})
    for kind in ("wrong_class", "badly_located", "spurious"):
        table[kind] = np.bincount(lab.label[res.issue == kind], minlength=k)
    table["missing"] = np.bincount(res.missing.label, minlength=k)
    return table.sort_values("boxes", ascending=False, kind="stable").reset_index(drop=True)


def _message(n_flagged: int, n_images: int, res: DetectionIssues) -> str:
    c = res.counts
    parts = ", ".join(f"{c[k]} {k.replace('_', ' ')}" for k in _KINDS if c.get(k))
    rate = n_flagged / n_images if n_images else 0.0
    return (f"{n_flagged} of {n_images} images ({rate:.1%}) have a box that looks wrong"
            + (f" ({parts})." if parts else "."))
