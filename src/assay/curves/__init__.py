"""Learning curves, scaling laws and data planning.

How much more data, of which class, and is cleaning worth more than collecting? Measure a curve
(:func:`learning_curve`), fit it with the family that extrapolates best
(:func:`fit_learning_curve`), and read plans off it (:func:`plan_samples`,
:func:`allocate_budget`, :func:`relabel_or_collect`). :func:`fit_scaling_law` fits the
two-variable law ``L = E + A / N^alpha + B / D^beta`` as Chinchilla and Epoch AI did.
"""

from assay.curves._families import FAMILIES, Family
from assay.curves._fit import KINDS, LearningCurveFit, SampleRequirement, fit_learning_curve
from assay.curves._learning_curve import (
    METRICS,
    default_sizes,
    learning_curve,
    per_class_curves,
    stratified_counts,
)
from assay.curves._planning import (
    FlatCurve,
    RelabelOrCollect,
    allocate_budget,
    data_multiplier,
    eval_support_warning,
    fit_per_class_curves,
    fit_pooled_class_curve,
    plan_samples,
    relabel_or_collect,
)
from assay.curves._quality import CurveQuality, check_curve_quality
from assay.curves._scaling import ScalingLawFit, fit_scaling_law

__all__ = [
    "FAMILIES",
    "KINDS",
    "METRICS",
    "CurveQuality",
    "Family",
    "FlatCurve",
    "LearningCurveFit",
    "RelabelOrCollect",
    "SampleRequirement",
    "ScalingLawFit",
    "allocate_budget",
    "check_curve_quality",
    "data_multiplier",
    "default_sizes",
    "eval_support_warning",
    "fit_learning_curve",
    "fit_per_class_curves",
    "fit_pooled_class_curve",
    "fit_scaling_law",
    "learning_curve",
    "per_class_curves",
    "plan_samples",
    "relabel_or_collect",
    "stratified_counts",
]
