"""Fairness tables: groups, approval rates and disparate impact against hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_scoring.config import ConfigError, FairnessConfig, validate_group
from credit_scoring.validation.fairness import (
    DAYS_PER_YEAR,
    UNKNOWN_GROUP,
    Attribute,
    FairnessGroups,
    derived_from,
    disparate_impact,
    fairness_report,
    group_table,
    without_fields,
)

AGE = Attribute("age", "DAYS_BIRTH", bands=(25.0, 35.0, 50.0, 65.0))
GENDER = Attribute("gender", "CODE_GENDER", groups=("F", "M"))


def test_age_bands_include_their_lower_bound_and_missing_is_unknown() -> None:
    assert AGE.labels() == ["<25", "25-35", "35-50", "50-65", "65+"]
    years = [20, 25, 34.9, 35, 64, 65, 80, np.nan]
    frame = pd.DataFrame({"DAYS_BIRTH": [-y * DAYS_PER_YEAR for y in years]})
    assert AGE.assign(frame).tolist() == [
        "<25",
        "25-35",
        "25-35",
        "35-50",
        "50-65",
        "65+",
        "65+",
        UNKNOWN_GROUP,
    ]


def test_gender_outside_the_groups_is_unknown() -> None:
    frame = pd.DataFrame({"CODE_GENDER": ["F", "M", "XNA", None]})
    assert GENDER.assign(frame).tolist() == ["F", "M", UNKNOWN_GROUP, UNKNOWN_GROUP]
    with pytest.raises(KeyError, match="CODE_GENDER"):
        GENDER.assign(pd.DataFrame({"x": [1]}))


def test_group_table_and_disparate_impact_by_hand() -> None:
    # 100 F of whom 80 approved (p < 0.1), 100 M of whom 40, 10 XNA.
    gender = ["F"] * 100 + ["M"] * 100 + ["XNA"] * 10
    p = np.array([0.05] * 80 + [0.2] * 20 + [0.05] * 40 + [0.2] * 60 + [0.05] * 10)
    y = np.array(([0] * 75 + [1] * 5 + [0] * 15 + [1] * 5) * 2 + [0] * 10)
    frame = pd.DataFrame({"CODE_GENDER": gender})
    table = group_table(GENDER, frame, p, 0.1, y=y, min_group_size=50).set_index("group")
    assert table.index.tolist() == ["F", "M", UNKNOWN_GROUP]
    assert table.loc["F", "approval_rate"] == 0.8 and table.loc["M", "approval_rate"] == 0.4
    assert table.loc["M", "approval_ratio"] == pytest.approx(0.5)
    assert table.loc["F", "default_rate"] == pytest.approx(0.1)
    assert table.loc["F", "mean_predicted"] == pytest.approx(0.8 * 0.05 + 0.2 * 0.2)
    assert table.loc["F", "calibration_gap"] == pytest.approx(0.08 - 0.1)
    assert not table.loc[UNKNOWN_GROUP, "in_ratio"]  # never part of the ratio
    assert np.isnan(table.loc[UNKNOWN_GROUP, "auc"])  # one class only
    di = disparate_impact(table.reset_index())
    assert di is not None
    assert (di.ratio, di.lowest, di.highest) == (pytest.approx(0.5), "M", "F")
    assert "disparate impact 0.500" in di.describe()


def test_small_groups_stay_out_of_the_ratio() -> None:
    frame = pd.DataFrame({"CODE_GENDER": ["F"] * 60 + ["M"] * 5})
    p = np.r_[np.full(60, 0.05), np.full(5, 0.5)]
    table = group_table(GENDER, frame, p, 0.1, min_group_size=50)
    assert table["in_ratio"].tolist() == [True, False]
    assert disparate_impact(table) is None  # one group left: no ratio


def _groups(values: dict) -> FairnessGroups:
    return FairnessGroups.from_config(validate_group(FairnessConfig, values, "fairness"))


def test_report_from_config() -> None:
    config = _groups(
        {
            "min_group_size": 1,
            "attributes": {
                "gender": {"column": "CODE_GENDER", "groups": ["F", "M"]},
                "age": {"column": "DAYS_BIRTH", "bands_years": [40]},
            },
        }
    )
    assert config.columns == ("CODE_GENDER", "DAYS_BIRTH")
    frame = pd.DataFrame(
        {"CODE_GENDER": ["F", "M", "F", "M"], "DAYS_BIRTH": [-30 * 365.25, -50 * 365.25] * 2}
    )
    report = fairness_report(config, frame, np.array([0.01, 0.5, 0.01, 0.01]), 0.1)
    assert report.metrics == {"disparate_impact_gender": 0.5, "disparate_impact_age": 0.5}
    assert set(report.table["attribute"]) == {"gender", "age"}
    with pytest.raises(ConfigError, match=r"fairness\.attributes\.a: .*bands_years must increase"):
        _groups({"attributes": {"a": {"column": "X", "bands_years": [3, 1]}}})
    with pytest.raises(ConfigError, match=r"fairness\.attributes\.a: .*give bands_years or groups"):
        _groups({"attributes": {"a": {"column": "X"}}})


def test_protected_switch_drops_every_feature_derived_from_the_fields() -> None:
    features = (
        "CODE_GENDER",
        "DAYS_BIRTH",
        "DAYS_EMPLOYED_PERC",
        "AMT_CREDIT",
        "BURO_DAYS_CREDIT_MIN",
    )
    assert derived_from(features, ["CODE_GENDER", "DAYS_BIRTH"]) == features[:3]
    assert without_fields(features, ["CODE_GENDER"]) == features[1:]
    assert without_fields(features, ["CODE_GENDER", "DAYS_BIRTH"]) == features[3:]
    assert without_fields(features, []) == features
