"""Every value in shared/references/agreement.md (K1-K6), at the stated tolerances.

Values given to three decimals are checked to 5e-4, longer ones to 1e-6 (values given to four or
five decimals are checked to half a unit of their last digit).
"""

from __future__ import annotations

import numpy as np
import pytest

from assay._kernels import agreement as K
from assay.agreement import (
    brennan_prediger,
    cohen_kappa,
    conger_kappa,
    fleiss_kappa,
    fleiss_kappa_per_category,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    scott_pi,
)
from assay.agreement._io import as_ratings

nan = np.nan
TOL3 = 5e-4
TOL6 = 1e-6

# K1. Krippendorff (2011) "C" data: 4 coders x 12 units, values 1-5.
K1 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, nan],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)

# K2. Wikipedia worked example: 3 coders x 15 units.
K2 = np.array(
    [
        [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
        [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
        [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
    ]
)

# K3. Krippendorff (2004) binary example.
K3 = np.array([[1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 1, 0, 1, 0, 0]])

# K4. Fleiss (Wikipedia): 10 subjects x 5 categories, 14 raters each.
K4 = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def table_to_pair(table: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Expand a contingency table (rows rater A, columns rater B) into two label vectors."""
    t = np.asarray(table)
    rows, cols = np.indices(t.shape)
    reps = t.ravel()
    return np.repeat(rows.ravel(), reps), np.repeat(cols.ravel(), reps)


# ----------------------------------------------------------------------------------------- K1


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nominal", 0.743421), ("ordinal", 0.815388), ("interval", 0.849107), ("ratio", 0.797403)],
)
def test_k1_krippendorff_alpha_four_levels(level: str, expected: float) -> None:
    # Published to six decimals; our value rounds to it.
    assert krippendorff_alpha(K1, level=level) == pytest.approx(expected, abs=5e-7)


def test_k1_percent_agreement_over_units_with_two_ratings() -> None:
    # 11 units have >= 2 ratings (unit 12 has one); 9/11 = 0.8181818.
    assert percent_agreement(K1) == pytest.approx(0.8181818, abs=TOL6)
    assert percent_agreement(K1) == pytest.approx(9 / 11, abs=1e-12)


def test_k1_gwet_ac1_and_its_chance_agreement() -> None:
    assert gwet_ac1(K1) == pytest.approx(0.77544, abs=5e-6)
    r = as_ratings(K1)
    pe = K.gwet_chance(K.class_shares(r.counts), np.eye(5))
    assert pe == pytest.approx(0.1903212, abs=TOL6)


def test_k1_fleiss_kappa_generalised_to_missing_ratings() -> None:
    r = as_ratings(K1)
    assert fleiss_kappa(r.counts) == pytest.approx(0.76117, abs=5e-6)
    pe = K.fleiss_chance(K.class_shares(r.counts), np.eye(5))
    assert pe == pytest.approx(0.2387153, abs=TOL6)


def test_k1_conger_kappa() -> None:
    assert conger_kappa(K1) == pytest.approx(0.76282, abs=5e-6)


def test_k1_brennan_prediger() -> None:
    assert brennan_prediger(K1) == pytest.approx(0.77273, abs=5e-6)


# ----------------------------------------------------------------------------------------- K2


def test_k2_wikipedia_alpha_nominal_and_interval() -> None:
    assert krippendorff_alpha(K2, level="nominal") == pytest.approx(0.691358, abs=5e-7)
    assert krippendorff_alpha(K2, level="interval") == pytest.approx(0.810845, abs=5e-7)


# ----------------------------------------------------------------------------------------- K3


def test_k3_binary_alpha_nominal() -> None:
    assert krippendorff_alpha(K3, level="nominal") == pytest.approx(0.095238, abs=5e-7)


# ----------------------------------------------------------------------------------------- K4


def test_k4_fleiss_kappa_wikipedia() -> None:
    assert fleiss_kappa(K4) == pytest.approx(0.20993070442195522, abs=TOL6)


def test_k4_fleiss_per_category_kappa() -> None:
    expected = [0.201, 0.080, 0.172, 0.030, 0.508]
    np.testing.assert_allclose(fleiss_kappa_per_category(K4), expected, atol=TOL3)


# ----------------------------------------------------------------------------------------- K5

ABSTRACTORS = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]
DIAGNOSIS = [[40, 4, 4, 17], [6, 25, 2, 13], [4, 1, 21, 12], [15, 5, 9, 45]]


def test_k5_abstractors_all_coefficients() -> None:
    a, b = table_to_pair(ABSTRACTORS)
    data = np.vstack([a, b])
    assert cohen_kappa(a, b) == pytest.approx(0.7964094, abs=TOL6)
    assert scott_pi(data) == pytest.approx(0.7962397, abs=TOL6)
    assert gwet_ac1(data) == pytest.approx(0.8493305, abs=TOL6)
    assert brennan_prediger(data) == pytest.approx(0.835, abs=TOL3)
    assert krippendorff_alpha(data, level="nominal") == pytest.approx(0.7972585, abs=TOL6)
    assert percent_agreement(data) == pytest.approx(0.89, abs=TOL3)
    assert cohen_kappa(a, b, weights="linear") == pytest.approx(0.843, abs=TOL3)
    assert cohen_kappa(a, b, weights="quadratic") == pytest.approx(0.892, abs=TOL3)


def test_k5_diagnosis_cohen_kappa_three_weightings() -> None:
    a, b = table_to_pair(DIAGNOSIS)
    assert cohen_kappa(a, b) == pytest.approx(0.432, abs=TOL3)
    assert cohen_kappa(a, b, weights="linear") == pytest.approx(0.407, abs=TOL3)
    assert cohen_kappa(a, b, weights="quadratic") == pytest.approx(0.383, abs=TOL3)


# ----------------------------------------------------------------------------------------- K6


def test_k6_artstein_poesio_binary() -> None:
    y1 = [0] * 40 + [1] * 60
    y2 = [0] * 20 + [1] * 20 + [0] * 10 + [1] * 50
    assert cohen_kappa(y1, y2) == pytest.approx(0.347826, abs=5e-7)


def test_k6_three_classes() -> None:
    y1 = [0] * 46 + [1] * 44 + [2] * 10
    assert cohen_kappa(y1, [0] * 52 + [1] * 32 + [2] * 16) == pytest.approx(0.8013, abs=5e-5)
    y2 = [0] * 50 + [1] * 40 + [2] * 10
    assert cohen_kappa(y1, y2) == pytest.approx(0.9315, abs=5e-5)
    assert cohen_kappa(y1, y2, weights="linear") == pytest.approx(0.9412, abs=5e-5)
    assert cohen_kappa(y1, y2, weights="quadratic") == pytest.approx(0.9541, abs=5e-5)


def test_k6_kappa_paradox_low_kappa_high_ac1() -> None:
    a, b = table_to_pair([[130, 56], [9, 5]])
    data = np.vstack([a, b])
    assert percent_agreement(data) == pytest.approx(0.675, abs=TOL3)
    assert cohen_kappa(a, b) == pytest.approx(0.022, abs=TOL3)
    assert gwet_ac1(data) == pytest.approx(0.5326, abs=5e-5)
