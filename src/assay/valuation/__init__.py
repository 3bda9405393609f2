"""Data valuation: what each sample, source and group is worth, per task.

- :func:`knn_shapley`: exact KNN-Shapley (Jia et al. 2019), vectorised and chunked; a regression
  variant and a truncated mode with an error bound.
- :func:`data_oob`: out-of-bag correctness over bootstrap learners (Kwon & Zou 2023).
- :func:`tmc_shapley`, :func:`banzhaf`, :func:`beta_shapley`: Monte Carlo semivalues with any
  utility (:class:`ModelUtility` for scikit-learn models), standard errors, convergence, joblib
  parallelism (Ray via ``joblib.parallel_config(backend="ray")``), vector utilities.
- :class:`StoppingRule` and :class:`MaxSamples`, :class:`MaxEvaluations`, :class:`MaxTime`,
  :class:`RelativeStandardError`: when Monte Carlo sampling stops (``stop=``), composed with
  ``|`` (either) and ``&`` (both).
- :func:`exact_semivalues`: the exact values by enumeration (the test oracle).
- :func:`group_values`, :class:`GroupUtility`: values of sources, annotators, batches.
- :func:`low_value_cluster`: the low-value rows (k-means low cluster; none when all values are
  equal).
- :func:`noisy_detection`, :func:`removal_curve`, :func:`addition_curve`: whether values mean
  something.
"""

from assay.valuation._exact import exact_semivalues, semivalue_weights
from assay.valuation._groups import group_values
from assay.valuation._knn_shapley import knn_shapley
from assay.valuation._oob import data_oob
from assay.valuation._quality import (
    NoisyDetection,
    addition_curve,
    flip_labels,
    low_value_cluster,
    noisy_detection,
    removal_curve,
    task_conflict,
)
from assay.valuation._semivalues import (
    GroupUtility,
    ModelUtility,
    UtilityError,
    ValuationResult,
    banzhaf,
    beta_shapley,
    tmc_shapley,
)
from assay.valuation._stopping import (
    MaxEvaluations,
    MaxSamples,
    MaxTime,
    RelativeStandardError,
    SamplingState,
    StopDecision,
    StoppingRule,
)

__all__ = [
    "GroupUtility",
    "MaxEvaluations",
    "MaxSamples",
    "MaxTime",
    "ModelUtility",
    "NoisyDetection",
    "RelativeStandardError",
    "SamplingState",
    "StopDecision",
    "StoppingRule",
    "UtilityError",
    "ValuationResult",
    "addition_curve",
    "banzhaf",
    "beta_shapley",
    "data_oob",
    "exact_semivalues",
    "flip_labels",
    "group_values",
    "knn_shapley",
    "low_value_cluster",
    "noisy_detection",
    "removal_curve",
    "semivalue_weights",
    "task_conflict",
    "tmc_shapley",
]
