"""``agree``: every agreement analysis on a long table, in one result object."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from assay._annotations import long_frame
from assay._validation import check_choice, check_fraction, check_int, check_random_state
from assay.agreement._ceiling import Ceiling, _ceiling
from assay.agreement._coefficients import coefficient_table
from assay.agreement._disagreement import (
    _annotator_agreement,
    _confused_pairs,
    _items_to_discuss,
    _labels,
    _pairwise_kappa,
    per_class_agreement,
)
from assay.agreement._io import (
    check_level,
    check_level_values,
    ratings_from_long,
    require_pairable,
)
from assay.agreement._rounds import RoundsResult, agreement_by_round

RESULT_VERSION = 1


@dataclass(frozen=True)
class AgreementReport:
    """Everything :func:`agree` measured. Frames are plain pandas; ``to_dict`` is JSON-ready.

    Attributes
    ----------
    level : str
        Level of measurement used by Krippendorff's alpha.
    classes : list
        The categories in scale order.
    n_items, n_pairable_items, n_annotators, n_ratings : int
        Items with a rating, items with two or more ratings (the ones agreement uses),
        annotators with a rating, ratings.
    coefficients : pandas.DataFrame
        ``coefficient``, ``value``, ``ci_low``, ``ci_high`` (bootstrap over items).
    per_class : pandas.DataFrame
        See :func:`assay.agreement.per_class_agreement`.
    coincidence : pandas.DataFrame
        Krippendorff's coincidence matrix between classes.
    revision_list : pandas.DataFrame
        The most confused class pairs with example items (:func:`confused_pairs`), ranked.
    items_to_discuss : pandas.DataFrame
        The items with the most disagreement (:func:`items_to_discuss`).
    pairwise : pandas.DataFrame
        Cohen's kappa per annotator pair.
    annotators : pandas.DataFrame
        Per annotator: ratings, accuracy vs the others' majority, accuracy and kappa vs the
        consensus, and (Dawid-Skene) estimated accuracy.
    consensus : pandas.DataFrame
        Consensus label per item (:func:`assay.consensus.consensus_labels`).
    ceiling : Ceiling
        Single-annotator accuracy and the Bayes-error estimate.
    rounds : RoundsResult or None
        Agreement per round when a round column was given.
    notes : list of str
        What was dropped and which coefficients are undefined, in words.
    """

    level: str
    classes: list[Any]
    n_items: int
    n_pairable_items: int
    n_annotators: int
    n_ratings: int
    coefficients: pd.DataFrame
    per_class: pd.DataFrame
    coincidence: pd.DataFrame
    revision_list: pd.DataFrame
    items_to_discuss: pd.DataFrame
    pairwise: pd.DataFrame
    annotators: pd.DataFrame
    consensus: pd.DataFrame
    ceiling: Ceiling
    rounds: RoundsResult | None = None
    notes: list[str] = field(default_factory=list)

    def coefficient(self, name: str) -> float:
        """The value of one coefficient (``nan`` when undefined)."""
        table = self.coefficients.set_index("coefficient")["value"]
        if name not in table.index:
            from assay.exceptions import InputValidationError

            raise InputValidationError(
                f"No coefficient {name!r} in this report. Available: {', '.join(table.index)}."
            )
        return float(table[name])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN becomes ``None``), versioned by ``result_version``."""
        out: dict[str, Any] = {
            "result_version": RESULT_VERSION,
            "level": self.level,
            "classes": [_json(c) for c in self.classes],
            "n_items": self.n_items,
            "n_pairable_items": self.n_pairable_items,
            "n_annotators": self.n_annotators,
            "n_ratings": self.n_ratings,
            "coefficients": _records(self.coefficients),
            "per_class": _records(self.per_class),
            "coincidence": {
                "classes": [_json(c) for c in self.coincidence.index],
                "matrix": self.coincidence.to_numpy().tolist(),
            },
            "revision_list": _records(self.revision_list),
            "items_to_discuss": _records(self.items_to_discuss),
            "pairwise": _records(self.pairwise),
            "annotators": _records(self.annotators),
            "ceiling": {
                "single_annotator_accuracy": _json(self.ceiling.single_annotator_accuracy),
                "bayes_error": _json(self.ceiling.bayes_error),
                "ceiling": _json(self.ceiling.ceiling),
                "n_items": self.ceiling.n_items,
                "note": self.ceiling.note,
            },
            "notes": list(self.notes),
        }
        if self.rounds is not None:
            out["rounds"] = {
                "coefficient": self.rounds.coefficient,
                "per_round": _records(self.rounds.per_round),
                "changes": _records(self.rounds.changes),
                "pairs": _records(self.rounds.pairs),
            }
        return out


def _json(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _json(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [_json(x) for x in v]
    return v


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _json(v) for k, v in row.items()} for row in frame.to_dict("records")]


def agree(
    annotations: pd.DataFrame,
    *,
    item: str,
    annotator: str,
    label: str,
    round: str | None = None,
    level: str = "nominal",
    categories: Sequence[Any] | None = None,
    consensus: str = "dawid_skene",
    n_boot: int = 200,
    confidence: float = 0.95,
    top: int = 10,
    random_state: Any = 0,
) -> AgreementReport:
    """Measure annotator agreement, find where annotators disagree, and build a consensus.

    Parameters
    ----------
    annotations : pandas.DataFrame
        Long table, one row per rating; rows with a missing label are dropped.
    item, annotator, label : str
        Column names.
    round : str, optional
        Column with the guideline round (v1, v2, ...). Adds :attr:`AgreementReport.rounds`; the
        overall analysis then keeps each annotator's latest-round label per item.
    level : {"nominal", "ordinal", "interval", "ratio"}, default "nominal"
    categories : sequence, optional
        The scale in order (needed for ordinal text labels; include unused categories).
    consensus : {"dawid_skene", "majority"}, default "dawid_skene"
    n_boot : int, default 200
        Bootstrap resamples of the items for the intervals (0 to skip).
    confidence : float, default 0.95
    top : int, default 10
        Length of the revision list and of the items to discuss (x2).
    random_state : None, int or numpy.random.Generator, default 0

    Returns
    -------
    AgreementReport

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3, 4, 4], "who": list("abababab"),
    ...                      "y": ["cat", "cat", "dog", "cat", "dog", "dog", "fox", "fox"]})
    >>> rep = agree(long, item="id", annotator="who", label="y", n_boot=0)
    >>> round(rep.coefficient("krippendorff_alpha"), 3)
    0.667
    >>> rep.revision_list[["class_a", "class_b"]].values.tolist()
    [['cat', 'dog']]
    """
    from assay.consensus import consensus_from_encoded, encoded_from_codes

    level = check_level(level, owner="agree")
    consensus = check_choice("consensus", consensus, ("dawid_skene", "majority"), owner="agree")
    n_boot = check_int("n_boot", n_boot, low=0, owner="agree")
    confidence = check_fraction("confidence", confidence, owner="agree")
    top = check_int("top", top, low=1, owner="agree")
    rng = check_random_state(random_state)
    frame = long_frame(annotations, item=item, annotator=annotator, label=label, round=round)
    notes: list[str] = []
    all_annotators = pd.unique(annotations[annotator].dropna())
    rounds_result = None
    if round is not None:
        rounds_result = agreement_by_round(
            annotations, item=item, annotator=annotator, label=label, round=round, level=level,
            categories=categories, n_boot=n_boot, confidence=confidence, random_state=rng,
        )
        order = frame[round].map({v: i for i, v in enumerate(
            sorted(pd.unique(frame[round]), key=lambda v: (str(type(v)), v)))})
        frame = frame.assign(_order=order.to_numpy()).sort_values("_order", kind="stable")
        before = len(frame)
        frame = frame.drop_duplicates([item, annotator], keep="last").drop(columns="_order")
        if len(frame) < before:
            notes.append(
                f"{before - len(frame)} earlier-round rating(s) of an item by the same annotator "
                "were replaced by the latest round's for the overall analysis."
            )
    r = ratings_from_long(
        frame, item=item, annotator=annotator, label=label, categories=categories,
        all_annotators=list(all_annotators),
    )
    check_level_values(r, level, owner="agree")
    require_pairable(r, name="annotations")
    if r.dropped_coders:
        notes.append(
            f"{len(r.dropped_coders)} annotator(s) have no labels and were left out: "
            f"{', '.join(map(str, r.dropped_coders[:10]))}."
        )
    m = r.n_ratings_per_unit
    n_single = int(np.sum(m == 1))
    if n_single:
        notes.append(
            f"{n_single} item(s) have a single rating; they carry no agreement information and "
            "are left out of observed agreement (they still count in chance agreement)."
        )
    coefs = coefficient_table(r, level=level, n_boot=n_boot, confidence=confidence, rng=rng)
    undefined = coefs.loc[coefs["value"].isna(), "coefficient"].tolist()
    if undefined:
        why = (
            "every rating is the same category, so chance agreement is 1"
            if r.n_categories < 2 or np.count_nonzero(r.counts.sum(axis=0)) < 2
            else "chance agreement is 1 or expected disagreement is 0"
        )
        notes.append(f"Undefined (NaN): {', '.join(undefined)}: {why}.")
    enc = encoded_from_codes(r.codes, items=r.units, annotators=r.coders, classes=_labels(r))
    cons, ds = consensus_from_encoded(enc, method=consensus, tie="prior", rng=rng)
    cons_codes = np.where(cons["consensus_label"].isna().to_numpy(), -1, _ds_or_vote_codes(cons, r))
    annotators = _annotator_agreement(r, cons_codes).rename(columns={"coder": "annotator"})
    if ds is not None:
        annotators["dawid_skene_accuracy"] = ds.annotators["accuracy"].to_numpy()
    return AgreementReport(
        level=level,
        classes=_labels(r),
        n_items=len(r.units),
        n_pairable_items=int(np.sum(m >= 2)),
        n_annotators=len(r.coders),
        n_ratings=int(m.sum()),
        coefficients=coefs,
        per_class=per_class_agreement(r),
        coincidence=pd.DataFrame(
            _coincidence(r), index=_labels(r), columns=_labels(r)
        ),
        revision_list=_confused_pairs(r, top=top, n_examples=5),
        items_to_discuss=_items_to_discuss(r, top=2 * top),
        pairwise=_pairwise_kappa(r),
        annotators=annotators,
        consensus=cons,
        ceiling=_ceiling(r),
        rounds=rounds_result,
        notes=notes,
    )


def _coincidence(r: Any) -> np.ndarray:
    from assay._kernels.agreement import coincidence

    return coincidence(r.counts)


def _ds_or_vote_codes(cons: pd.DataFrame, r: Any) -> np.ndarray:
    """Consensus labels (aligned with ``r.units``) as category codes, -1 where none."""
    lookup = pd.Series(np.arange(len(r.categories)), index=pd.Index(_labels(r), dtype=object))
    codes = lookup.reindex(pd.Index(cons["consensus_label"].to_numpy(), dtype=object))
    return codes.fillna(-1).to_numpy(dtype=np.int64)
