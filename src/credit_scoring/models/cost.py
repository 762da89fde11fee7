"""Business cost of decisions and the threshold that minimizes it.

A missed default (false negative: credit granted, client defaults) costs
``fn_cost``; a refused good client (false positive) costs ``fp_cost``. The
threshold is chosen on out-of-fold probabilities, over every distinct predicted
value (the exact minimum, not a grid): ``roc_curve`` gives the true and false
positive counts at each of them, so the total cost at each candidate threshold is
one vectorized expression. This is what ``TunedThresholdClassifierCV`` with a cost
scorer computes, without refitting the model for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, roc_curve


def business_cost(
    y_true: np.ndarray, refused: np.ndarray, *, fn_cost: float, fp_cost: float
) -> float:
    """Total cost of hard decisions ``refused`` (1 = refused, i.e. predicted default)."""
    _, fp, fn, _ = confusion_matrix(y_true, refused, labels=[0, 1]).ravel()
    return float(fn_cost * fn + fp_cost * fp)


@dataclass(frozen=True)
class CostCurve:
    """Cost per applicant when refusing every probability >= ``thresholds[i]``."""

    thresholds: np.ndarray
    cost_per_applicant: np.ndarray

    @property
    def best_index(self) -> int:
        return int(np.argmin(self.cost_per_applicant))

    @property
    def best_threshold(self) -> float:
        return float(self.thresholds[self.best_index])

    @property
    def best_cost(self) -> float:
        return float(self.cost_per_applicant[self.best_index])


def cost_curve(
    y_true: np.ndarray, probability: np.ndarray, *, fn_cost: float, fp_cost: float
) -> CostCurve:
    """Normalized business cost at every distinct threshold, ascending in threshold.

    The lowest threshold (the smallest probability) refuses everyone; the highest
    (1.0, or just above it when some probability reaches 1) refuses nobody.
    """
    y_true = np.asarray(y_true)
    positives = int(y_true.sum())
    negatives = len(y_true) - positives
    fpr, tpr, thresholds = roc_curve(y_true, probability, drop_intermediate=False)
    # roc_curve's first threshold is +inf ("refuse nobody"); a probability scale needs a
    # finite value.
    thresholds = thresholds.copy()
    thresholds[0] = np.nextafter(1.0, 2.0) if np.max(probability) >= 1.0 else 1.0
    cost = (fn_cost * positives * (1.0 - tpr) + fp_cost * negatives * fpr) / len(y_true)
    return CostCurve(thresholds[::-1], cost[::-1])


def cost_per_applicant(
    y_true: np.ndarray, probability: np.ndarray, threshold: float, *, fn_cost: float, fp_cost: float
) -> float:
    """Business cost per applicant when refusing every probability >= ``threshold``."""
    refused = (np.asarray(probability) >= threshold).astype(int)
    return business_cost(y_true, refused, fn_cost=fn_cost, fp_cost=fp_cost) / len(refused)
