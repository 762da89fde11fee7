"""The review of a trained model, as the training run records it: one call from the trainer.

:func:`review_model` computes the validation report and the fairness tables on the
held-out rows, optionally measures what leaving the protected fields out would cost
in AUC, logs everything to the active MLflow run (``validation/``, ``fairness/``) and
returns the summary metrics plus a JSON-able record that the register stage turns
into the model card (``models/NAME/review.json``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from credit_scoring.validation.fairness import (
    FairnessGroups,
    derived_from,
    fairness_report,
    log_fairness,
    without_fields,
)
from credit_scoring.validation.report import log_validation, validation_report

if TYPE_CHECKING:
    from credit_scoring.config import ValidationConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Review:
    """Metrics for the run and metrics.json, and the record behind the model card."""

    metrics: dict[str, float]
    record: dict[str, Any]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-able dicts (NaN as None)."""
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


#: Feature families by name prefix, in display order; the rest are application fields.
FAMILIES = {
    "BURO_": "credit bureau: all credits",
    "ACTIVE_": "credit bureau: active credits",
    "CLOSED_": "credit bureau: closed credits",
    "PREV_": "previous applications: all",
    "APPROVED_": "previous applications: approved",
    "REFUSED_": "previous applications: refused",
    "POS_": "point-of-sale and cash loan balances",
    "INSTAL_": "instalment payments",
    "CC_": "credit card balances",
}


def feature_families(features: Sequence[str]) -> dict[str, int]:
    """How many of ``features`` belong to each family (application fields first)."""
    counts = {"application": 0, **dict.fromkeys(FAMILIES.values(), 0)}
    for f in features:
        family = next((v for k, v in FAMILIES.items() if f.startswith(k)), "application")
        counts[family] += 1
    return {k: v for k, v in counts.items() if v}


def review_model(
    cfg: ValidationConfig,
    *,
    title: str,
    features: Sequence[str],
    threshold: float,
    test: pd.DataFrame,
    y_test: np.ndarray,
    p_test: np.ndarray,
    y_train: np.ndarray,
    p_train: np.ndarray,
    oof: np.ndarray,
    folds: np.ndarray | None,
    constraints: Mapping[str, int] | None = None,
    costs: Mapping[str, float] | None = None,
    refit: Callable[[tuple[str, ...]], Pipeline] | None = None,
) -> Review:
    """Validate and fairness-check a model, log both to the active run, return the summary.

    ``cfg`` is the typed ``validation`` config group; ``test`` holds the held-out
    rows with the protected fields (even when the model does not take them);
    ``refit(features)`` fits the same pipeline on the training rows with other
    features, used to measure the AUC cost of excluding the protected fields.
    ``constraints`` (the monotone constraints) and ``costs`` only go to the record.
    """
    report = validation_report(
        y_test,
        p_test,
        p_train,
        y_train=y_train,
        oof=oof,
        folds=folds,
        config=cfg.report,
    )
    log_validation(report, y_test, title)
    fairness_cfg = FairnessGroups.from_config(cfg.fairness)
    fairness = fairness_report(fairness_cfg, test, p_test, threshold, y=y_test)
    log_fairness(fairness, title)
    for di in fairness.ratios.values():
        log.info("%s fairness: %s", title, di.describe())
    metrics = {**report.metrics, **fairness.metrics}

    protected = derived_from(features, fairness_cfg.columns)
    exclusion: dict[str, Any] = {"protected_features_used": list(protected)}
    if protected and refit is not None and cfg.fairness.measure_exclusion_cost:
        kept = without_fields(features, fairness_cfg.columns)
        auc_with = float(roc_auc_score(y_test, p_test))
        p_without = refit(kept).predict_proba(test)[:, 1]
        auc_without = float(roc_auc_score(y_test, p_without))
        metrics["auc_without_protected"] = auc_without
        metrics["protected_auc_cost"] = auc_with - auc_without
        exclusion |= {"auc_with": auc_with, "auc_without": auc_without}
        log.info(
            "%s: without %s the test AUC would be %.4f (%+.4f)",
            title,
            list(protected),
            auc_without,
            auc_without - auc_with,
        )
    record = {
        "population": {
            "train_rows": len(y_train),
            "test_rows": len(y_test),
            "train_default_rate": float(np.mean(y_train)),
            "test_default_rate": float(np.mean(y_test)),
        },
        "features": {
            "count": len(features),
            "families": feature_families(features),
            "monotone_constraints": {
                f: int(d) for f, d in (constraints or {}).items() if f in set(features) and d
            },
        },
        "threshold": float(threshold),
        "costs": dict(costs or {}),
        "metrics": metrics,
        "gains": _records(report.gains),
        "cv_folds": _records(report.folds),
        "score_psi": _records(report.score_psi),
        "fairness": _records(fairness.table),
        "disparate_impact": {name: di.__dict__ for name, di in fairness.ratios.items()},
        "exclusion": exclusion,
    }
    return Review(metrics=metrics, record=record)
