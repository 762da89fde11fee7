"""The validation report: metrics consistent with the statistics, artifacts in the run."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.config import ReportConfig
from credit_scoring.validation.report import (
    validation_report,
)
from credit_scoring.validation.stats import gini, ks_statistic, psi


def _scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 10, n)
    return (rng.random(n) < p).astype(int), p


def test_report_metrics_come_from_the_statistics() -> None:
    y_test, p_test = _scores(2000, 1)
    y_train, p_train = _scores(6000, 2)
    oof = np.clip(p_train + np.random.default_rng(3).normal(0, 0.02, 6000), 0, 1)
    folds = np.arange(6000) % 3 + 1
    report = validation_report(
        y_test,
        p_test,
        p_train,
        y_train=y_train,
        oof=oof,
        folds=folds,
        config=ReportConfig(gains_bins=5, psi_bins=8),
    )
    m = report.metrics
    assert m["gini"] == gini(y_test, p_test) and m["ks"] == ks_statistic(y_test, p_test)
    assert m["score_psi"] == pytest.approx(psi(p_train, p_test, bins=8))
    per_fold = [gini(y_train[folds == k], oof[folds == k]) for k in (1, 2, 3)]
    assert m["cv_gini_mean"] == pytest.approx(np.mean(per_fold))
    assert m["cv_gini_std"] == pytest.approx(np.std(per_fold))
    assert report.folds["fold"].tolist() == [1, 2, 3]
    assert len(report.gains) == 5 and len(report.score_psi) == 9  # 8 bins + missing
    assert m["top_decile_capture"] == report.gains["cum_defaults_share"].iloc[0]
    no_cv = validation_report(
        y_test, p_test, p_train, y_train=y_train, oof=oof, folds=None, config=ReportConfig()
    )
    assert "cv_gini_mean" not in no_cv.metrics and no_cv.folds.empty
