"""Metrics: AUC from probabilities, decision metrics at the threshold, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.models.calibration import fit_calibrator, reliability_curve
from credit_scoring.models.evaluation import evaluate

ARGS = {"fn_cost": 10.0, "fp_cost": 1.0, "beta": 2.0, "calibration_bins": 10}


def test_auc_uses_probabilities_not_hard_labels() -> None:
    # Every probability is below 0.5: hard labels would all be 0 (AUC 0.5); the ranking
    # is perfect, so the AUC from probabilities is 1.
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.01, 0.02, 0.03, 0.2, 0.3])
    scores = evaluate(y, p, threshold=0.1, **ARGS)
    assert scores["auc"] == 1.0
    assert scores["recall"] == 1.0 and scores["precision"] == 1.0 and scores["fbeta"] == 1.0
    assert scores["business_cost"] == 0.0
    assert scores["business_cost_at_0_5"] == pytest.approx(2 * 10 / 5)


def test_decision_metrics_at_threshold() -> None:
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.2, 0.6, 0.1])  # at 0.5: one TP, one FN, one FP, one TN
    scores = evaluate(y, p, threshold=0.5, **ARGS)
    assert scores["recall"] == 0.5 and scores["precision"] == 0.5
    assert scores["business_cost"] == pytest.approx((10 + 1) / 4)
    assert scores["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_ece_is_zero_when_each_bin_matches_its_rate_and_large_when_not() -> None:
    # Two bins of 20 rows: predicted 0.05 with 1 default, predicted 0.55 with 11.
    p = np.repeat([0.05, 0.55], 20)
    y = np.concatenate([[1] + [0] * 19, [1] * 11 + [0] * 9])
    curve = reliability_curve(y, p, bins=2)
    np.testing.assert_allclose(curve.mean_predicted, [0.05, 0.55])
    np.testing.assert_allclose(curve.count, [20, 20])
    assert curve.expected_calibration_error == pytest.approx(0.0)
    overconfident = reliability_curve(y, np.repeat([0.45, 0.95], 20), bins=2)
    assert overconfident.expected_calibration_error == pytest.approx(0.4)


def test_bins_hold_equal_counts_even_for_low_probabilities() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(1000) * 0.1  # all in the first tenth of [0, 1]
    curve = reliability_curve((rng.random(1000) < p).astype(int), p, bins=10)
    assert len(curve.count) == 10 and set(curve.count) == {100.0}


def test_isotonic_calibration_is_monotone_and_improves_ece() -> None:
    rng = np.random.default_rng(1)
    true_p = rng.random(5000) * 0.3
    y = (rng.random(5000) < true_p).astype(int)
    raw = np.sqrt(true_p)  # same ranking, badly calibrated
    calibrator = fit_calibrator("isotonic", raw, y)
    calibrated = calibrator.predict(raw)
    grid = np.linspace(-1, 2, 200)  # beyond the fitted range: clipped, finite
    assert np.all(np.diff(calibrator.predict(grid)) >= 0)
    assert np.all(np.isfinite(calibrator.predict(grid)))
    before = reliability_curve(y, raw).expected_calibration_error
    after = reliability_curve(y, calibrated).expected_calibration_error
    assert after < before / 3
    assert fit_calibrator("none", raw, y) is None
