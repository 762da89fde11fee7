"""Metrics of a probability model on labelled rows, all from probabilities.

Ranking metrics (AUC) use the probabilities themselves, never hard labels (the
prototype's mistake); decision metrics (recall, precision, F-beta, business cost)
use the business threshold.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    brier_score_loss,
    fbeta_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from credit_scoring.models.calibration import reliability_curve
from credit_scoring.models.cost import cost_per_applicant


def evaluate(
    y_true: np.ndarray,
    probability: np.ndarray,
    *,
    threshold: float,
    fn_cost: float,
    fp_cost: float,
    beta: float,
    calibration_bins: int,
) -> dict[str, float]:
    """AUC, decision metrics at ``threshold`` and at 0.5, calibration metrics.

    Keys: auc, business_cost (per applicant at ``threshold``), business_cost_at_0_5,
    recall, precision, fbeta, brier, log_loss, ece.
    """
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=float)
    refused = (probability >= threshold).astype(int)
    costs = {"fn_cost": fn_cost, "fp_cost": fp_cost}
    return {
        "auc": float(roc_auc_score(y_true, probability)),
        "business_cost": cost_per_applicant(y_true, probability, threshold, **costs),
        "business_cost_at_0_5": cost_per_applicant(y_true, probability, 0.5, **costs),
        "recall": float(recall_score(y_true, refused, zero_division=0)),
        "precision": float(precision_score(y_true, refused, zero_division=0)),
        "fbeta": float(fbeta_score(y_true, refused, beta=beta, zero_division=0)),
        "brier": float(brier_score_loss(y_true, probability)),
        "log_loss": float(log_loss(y_true, np.clip(probability, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "ece": reliability_curve(
            y_true, probability, bins=calibration_bins
        ).expected_calibration_error,
    }
