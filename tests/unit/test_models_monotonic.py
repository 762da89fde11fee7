"""Behaviour: more income never raises P(default); better external scores never do (full)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_scoring.models.monotonic import check_monotone
from credit_scoring.models.pyfunc import CreditScoringModel
from tests.unit._models_data import fit_tiny_model, tiny_training_frame

#: From far below to far beyond any training income (1e3 .. 1e9).
INCOME_GRID = np.geomspace(1e3, 1e9, 40)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return tiny_training_frame(2000, seed=5)


@pytest.fixture(scope="module")
def models(frame: pd.DataFrame) -> dict[str, CreditScoringModel]:
    return {
        "light": fit_tiny_model("light", frame),
        "full": fit_tiny_model("full", frame, trees=25),
    }


@pytest.mark.parametrize("name", ["light", "full"])
def test_probability_never_rises_with_income(
    name: str, frame: pd.DataFrame, models: dict[str, CreditScoringModel]
) -> None:
    model = models[name]
    applicants = frame.sample(150, random_state=1)
    report = check_monotone(model, applicants, "AMT_INCOME_TOTAL", -1, INCOME_GRID)
    assert report.ok, str(report)
    assert report.finite and report.n_rows == 150
    # The model does react to income: a constraint, not a constant.
    p = model.predict_proba(applicants.assign(AMT_INCOME_TOTAL=INCOME_GRID[[0, -1]].mean()))
    assert np.ptp(p[:, 1]) > 0


@pytest.mark.parametrize("feature", ["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"])
def test_full_model_probability_never_rises_with_external_scores(
    feature: str, frame: pd.DataFrame, models: dict[str, CreditScoringModel]
) -> None:
    report = check_monotone(
        models["full"], frame.sample(100, random_state=2), feature, -1, np.linspace(0, 1, 21)
    )
    assert report.ok, str(report)


class _RisingWithIncome:
    """A model whose risk rises with income: the defect the check must catch."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = 1 - 1 / (1 + np.log10(frame["AMT_INCOME_TOTAL"].to_numpy()))
        return np.column_stack([1 - p, p])


def test_check_catches_a_rising_model() -> None:
    rows = pd.DataFrame({"AMT_INCOME_TOTAL": [1.0, 2.0, 3.0]})
    report = check_monotone(_RisingWithIncome(), rows, "AMT_INCOME_TOTAL", -1, INCOME_GRID)
    assert not report.ok
    assert report.violations == 3 * (len(INCOME_GRID) - 1)
    assert report.worst > 0 and "violations" in str(report)
    assert check_monotone(_RisingWithIncome(), rows, "AMT_INCOME_TOTAL", 1, INCOME_GRID).ok
