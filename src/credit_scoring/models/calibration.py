"""Probability calibration on out-of-fold predictions, and how to measure it.

LightGBM trained on the plain log loss (no class reweighting) is already close to
calibrated; an isotonic map fitted on the out-of-fold probabilities corrects what is
left. Isotonic regression is non-decreasing in the raw probability, so it cannot
break a monotone constraint of the booster (ties can appear, order cannot flip).
SHAP values stay those of the booster: they explain the raw log-odds, before
calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.isotonic import IsotonicRegression

if TYPE_CHECKING:
    from credit_scoring.config import CalibrationMethod


def fit_calibrator(
    method: CalibrationMethod, oof_probability: np.ndarray, y_true: np.ndarray
) -> IsotonicRegression | None:
    """The fitted calibrator of ``method`` (``None`` for ``"none"``).

    ``out_of_bounds="clip"``: a raw probability outside the range seen out-of-fold maps
    to the nearest end, so extreme inputs get a defined, finite answer.
    """
    if method == "none":
        return None
    if method != "isotonic":
        raise ValueError(f"unknown calibration method {method!r}; use 'none' or 'isotonic'")
    return IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(
        oof_probability, y_true
    )


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per non-empty bin: mean predicted probability, observed default rate, row count."""

    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    count: np.ndarray

    @property
    def expected_calibration_error(self) -> float:
        """Row-weighted mean |observed - predicted| over the bins (ECE)."""
        gaps = np.abs(self.fraction_positive - self.mean_predicted)
        return float(np.sum(gaps * self.count) / np.sum(self.count))


def reliability_curve(
    y_true: np.ndarray, probability: np.ndarray, *, bins: int = 10
) -> ReliabilityCurve:
    """Reliability curve on ``bins`` equal-count (quantile) bins of the probabilities.

    Equal-count rather than equal-width: with a default rate near 8% almost every
    probability falls in the first tenth of [0, 1], and equal-width bins would put
    nearly all rows in one bin. Tied quantiles merge bins.
    """
    y_true = np.asarray(y_true, dtype=float)
    probability = np.asarray(probability, dtype=float)
    edges = np.unique(np.quantile(probability, np.linspace(0.0, 1.0, bins + 1)))
    index = np.searchsorted(edges[1:-1], probability, side="right")
    count = np.bincount(index, minlength=len(edges) - 1).astype(float)
    predicted = np.bincount(index, weights=probability, minlength=len(count))
    observed = np.bincount(index, weights=y_true, minlength=len(count))
    keep = count > 0
    return ReliabilityCurve(
        predicted[keep] / count[keep], observed[keep] / count[keep], count[keep]
    )
