"""audit(config=AuditConfig(...)): the options without a keyword (metric, many, few) reach the
checks, and the keywords still override."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import assay
from assay import AuditConfig
from assay.exceptions import InvalidParameterError


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [80, 30, 10])
    x = rng.normal(size=(120, 3)) + y[:, None] * 2.0
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                         "y": np.array(["big", "mid", "small"])[y]})


def test_config_reaches_the_checks(frame):
    probs = np.full((len(frame), 3), 1 / 3)
    res = assay.audit(frame, label="y", pred_probs=probs, checks=["class_profile", "outliers"],
                      config=AuditConfig(many=50, few=20, metric="cosine", k=7))
    prof = res.checks["class_profile"].evidence["classes"]
    groups = dict(zip(prof["class"], prof["group"], strict=True))
    assert groups == {"big": "many", "mid": "medium", "small": "few"}
    assert res.checks["outliers"].summary["metric"] == "cosine"
    default = assay.audit(frame, label="y", pred_probs=probs, checks=["class_profile"])
    prof = default.checks["class_profile"].evidence["classes"]
    assert set(prof["group"]) == {"medium", "few"}  # defaults: many > 100, few < 20


def test_keywords_override_the_config(frame):
    probs = np.full((len(frame), 3), 1 / 3)
    res = assay.audit(frame, label="y", pred_probs=probs, checks=["outliers"], k=5,
                      config=AuditConfig(k=7, metric="cosine"))
    assert res.summary["knn"]["k"] == 5 and res.summary["knn"]["metric"] == "cosine"
    kept = assay.audit(frame, label="y", pred_probs=probs, checks=["outliers"],
                       config=AuditConfig(k=7))
    assert kept.summary["knn"]["k"] == 7


def test_config_must_be_an_audit_config(frame):
    with pytest.raises(InvalidParameterError, match="AuditConfig"):
        assay.audit(frame, label="y", config={"many": 5})
