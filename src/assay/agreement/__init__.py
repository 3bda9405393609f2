"""Annotator agreement: coefficients, disagreement hot spots, rounds and the ceiling.

Array functions take a ``(coders, units)`` reliability matrix with ``NaN`` / ``None`` for a
missing rating (:func:`to_reliability_data` builds one from a long table); :func:`agree` runs
everything on a long table ``(item, annotator, label[, round])``.
"""

from assay.agreement._ceiling import Ceiling, annotator_ceiling
from assay.agreement._coefficients import (
    COEFFICIENTS,
    ConfidenceInterval,
    agreement_coefficients,
    bootstrap_ci,
    brennan_prediger,
    category_counts,
    cohen_kappa,
    conger_kappa,
    fleiss_kappa,
    fleiss_kappa_per_category,
    gwet_ac1,
    gwet_ac2,
    krippendorff_alpha,
    percent_agreement,
    scott_pi,
)
from assay.agreement._disagreement import (
    annotator_agreement,
    coincidence_matrix,
    confused_pairs,
    items_to_discuss,
    pairwise_kappa,
    per_class_agreement,
)
from assay.agreement._io import LEVELS, to_reliability_data, wide_to_long
from assay.agreement._report import AgreementReport, agree
from assay.agreement._rounds import RoundsResult, agreement_by_round

__all__ = [
    "COEFFICIENTS",
    "LEVELS",
    "AgreementReport",
    "Ceiling",
    "ConfidenceInterval",
    "RoundsResult",
    "agree",
    "agreement_by_round",
    "agreement_coefficients",
    "annotator_agreement",
    "annotator_ceiling",
    "bootstrap_ci",
    "brennan_prediger",
    "category_counts",
    "cohen_kappa",
    "coincidence_matrix",
    "confused_pairs",
    "conger_kappa",
    "fleiss_kappa",
    "fleiss_kappa_per_category",
    "gwet_ac1",
    "gwet_ac2",
    "items_to_discuss",
    "krippendorff_alpha",
    "pairwise_kappa",
    "per_class_agreement",
    "percent_agreement",
    "scott_pi",
    "to_reliability_data",
    "wide_to_long",
]
