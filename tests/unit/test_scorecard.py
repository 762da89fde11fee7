"""Scorecard points and grades; reason codes grouped per field, risk-raising, ordered, summed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from credit_scoring.config import ConfigError, ScorecardConfig, validate_group
from credit_scoring.data.schema import LIGHT_FIELDS, features_795
from credit_scoring.scorecard.points import Scorecard
from credit_scoring.scorecard.reasons import Reason, ReasonCatalog, feature_key
from tests.conftest import REPO_ROOT

CONFIG = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "scorecard" / "default.yaml"))


def _card(values: dict) -> Scorecard:
    return Scorecard.from_config(validate_group(ScorecardConfig, values, "scorecard"))


CARD = _card(CONFIG)
CATALOG = ReasonCatalog.from_config(validate_group(ScorecardConfig, CONFIG, "scorecard").reasons)


def test_the_configured_anchor_and_pdo_are_exact() -> None:
    assert (CARD.anchor_points, CARD.anchor_odds, CARD.pdo) == (600.0, 50.0, 20.0)
    assert CARD.points(1 / 51) == pytest.approx(600.0, abs=1e-9)  # odds 50:1
    assert CARD.points(1 / 101) - CARD.points(1 / 51) == pytest.approx(20.0 * math.log2(100 / 50))
    assert CARD.points(0.5) == pytest.approx(CARD.offset)  # odds 1:1
    assert CARD.probability_at(600.0) == pytest.approx(1 / 51)
    assert CARD.rounded_points(1 / 51) == 600.0


@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=50))
def test_points_never_rise_with_the_probability(probabilities: list[float]) -> None:
    p = np.sort(np.asarray(probabilities))
    points = CARD.points(p)
    assert np.all(np.isfinite(points))
    assert np.all(np.diff(points) <= 0)
    assert np.all(np.diff(CARD.rounded_points(p)) <= 0)


def test_points_strictly_decrease_away_from_the_clip() -> None:
    p = np.linspace(0.001, 0.999, 999)
    assert np.all(np.diff(CARD.points(p)) < 0)


def test_grades_cut_at_the_configured_bounds() -> None:
    assert CARD.grades == ("A", "B", "C", "D", "E", "F", "G")
    p = [0.0, 0.0199, 0.02, 0.05, 0.0899, 0.09, 0.19, 0.2, 0.99]
    assert CARD.grade(p).tolist() == ["A", "A", "B", "C", "D", "E", "F", "G", "G"]
    grades = CARD.grade(np.linspace(0, 1, 500))
    assert sorted(grades) == list(grades)  # A..G in probability order


def test_bad_scorecard_config_is_refused() -> None:
    with pytest.raises(ValueError, match="cut-offs"):
        Scorecard(600, 50, 20, grades=("A", "B"), cutoffs=(0.1, 0.2))
    with pytest.raises(ValueError, match="increase"):
        Scorecard(600, 50, 20, grades=("A", "B", "C"), cutoffs=(0.2, 0.1))
    bad = {**CONFIG, "grades": [{"grade": "A", "max_probability": 0.1}, {"grade": "B"}]}
    _card(bad)  # the last grade has no bound: fine
    with pytest.raises(ConfigError, match=r"scorecard: .*every grade but the last needs"):
        _card({**CONFIG, "grades": [{"grade": "A"}, {"grade": "B"}]})
    with pytest.raises(ConfigError, match=r"scorecard\.points\.pdo: .*greater than 0"):
        _card({**CONFIG, "points": {**CONFIG["points"], "pdo": 0}})
    twice = [*CONFIG["reasons"]["catalog"], CONFIG["reasons"]["catalog"][0]]
    with pytest.raises(ConfigError, match=r"scorecard\.reasons: .*codes used twice: \['H01'\]"):
        _card({**CONFIG, "reasons": {**CONFIG["reasons"], "catalog": twice}})


def test_the_catalog_covers_every_feature_of_both_models() -> None:
    coder = CATALOG.coder(features_795())
    assert len(set(coder.member)) == len(coder.codes)
    light = CATALOG.coder(LIGHT_FIELDS)
    assert len(light.codes) <= len(LIGHT_FIELDS)
    with pytest.raises(ValueError, match="covers no entry"):
        ReasonCatalog((Reason("X", "x", ("AMT_*",)),)).coder(["AMT_CREDIT", "DAYS_BIRTH"])


def test_one_hot_columns_of_a_field_are_one_reason_and_history_families_group() -> None:
    education = [f for f in features_795() if f.startswith("NAME_EDUCATION_TYPE_")]
    assert len(education) == 5 and {feature_key(f) for f in education} == {"NAME_EDUCATION_TYPE"}
    late = ["INSTAL_DPD_MAX", "INSTAL_DPD_MEAN", "INSTAL_DBD_SUM"]
    features = [*education, *late, "EXT_SOURCE_2", "PREV_NAME_CONTRACT_STATUS_Refused_MEAN"]
    coder = CATALOG.coder(features)
    by_code = dict(zip(coder.codes, coder.sentences, strict=True))
    assert by_code["A20"] == "Level of education"
    assert by_code["H08"] == "Late instalment payments on previous loans"
    assert by_code["H05"] == "Refused previous applications"
    shap = np.array([[0.1, 0.2, -0.05, 0.0, 0.05, 0.3, 0.1, -0.1, -0.4, 0.25]])
    sums = dict(zip(coder.codes, coder.contributions(shap)[0], strict=True))
    assert sums["A20"] == pytest.approx(0.1 + 0.2 - 0.05 + 0.0 + 0.05)
    assert sums["H08"] == pytest.approx(0.3 + 0.1 - 0.1)
    # Documented sum: all reasons together add up to all feature contributions.
    assert sum(sums.values()) == pytest.approx(shap.sum())


def test_refusals_list_only_risk_raising_reasons_at_most_top_in_stable_order() -> None:
    features = [
        "EXT_SOURCE_1",
        "EXT_SOURCE_2",
        "EXT_SOURCE_3",
        "AMT_CREDIT",
        "AMT_ANNUITY",
        "AMT_INCOME_TOTAL",
        "DAYS_BIRTH",
    ]
    coder = ReasonCatalog(CATALOG.entries, top=4).coder(features)
    shap = np.array(
        [
            [0.5, -0.9, 0.2, 0.2, 0.7, 0.1, 0.3],  # refused: 5 risk-raising, ties 0.2
            [0.5, -0.9, 0.2, 0.2, 0.7, 0.1, 0.3],  # granted: largest either way
            [-0.5, -0.9, -0.2, 0.0, -0.7, -0.1, -0.3],  # refused with nothing raising it
        ]
    )
    refused, granted, none = coder.reasons(shap, np.array([True, False, True]))
    assert [r["code"] for r in refused] == ["A05", "A01", "A12", "A03"]
    assert all(r["contribution"] > 0 for r in refused) and len(refused) == 4
    # EXT_SOURCE_3 (A03) and AMT_CREDIT (A04) tie at 0.2: catalog order decides, every time.
    assert [r["code"] for r in coder.reasons(shap[:1], [True])[0]] == ["A05", "A01", "A12", "A03"]
    assert [r["code"] for r in granted] == ["A02", "A05", "A01", "A12"]
    assert granted[0]["contribution"] == pytest.approx(-0.9)
    assert granted[0]["text"] == "Score from external data source 2"
    assert none == []
    with pytest.raises(ValueError, match="7 features"):
        coder.contributions(np.zeros((1, 3)))
