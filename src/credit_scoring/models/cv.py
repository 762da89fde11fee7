"""Hold-out split, stratified K-fold cross-validation with early stopping, refit size.

Early stopping inside a fold watches a stratified slice of that fold's *training*
part, never its validation part: the out-of-fold predictions then come from models
that never saw those rows in any way, so the CV AUC is honest and the threshold and
calibration fitted on them are not tuned to an optimistic score.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVResult:
    """Out-of-fold probabilities (aligned with the training rows) and per-fold figures."""

    oof: np.ndarray
    fold_aucs: tuple[float, ...]
    best_iterations: tuple[int, ...]
    seconds: float
    #: The fold (1..k) each training row was held out in, aligned with ``oof``.
    folds: np.ndarray | None = None

    @property
    def auc_mean(self) -> float:
        return float(np.mean(self.fold_aucs))

    @property
    def auc_std(self) -> float:
        # Population std (ddof=0): the folds are the whole set of folds, not a sample of them.
        return float(np.std(self.fold_aucs))

    @property
    def refit_trees(self) -> int:
        """Trees for the refit on all training rows: the folds' mean best iteration.

        The refit sees 1/(1-1/k) times more rows than a fold; keeping the fold's tree
        count is the usual, slightly conservative choice.
        """
        return max(1, round(float(np.mean(self.best_iterations))))


def holdout_split(
    frame: pd.DataFrame, target: str, *, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train/test split of ``frame`` on ``target`` (both keep every column)."""
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[target]
    )
    return train, test


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    make_classifier: Callable[[], LGBMClassifier],
    *,
    folds: int,
    early_stopping_rounds: int,
    early_stopping_share: float,
    seed: int,
) -> CVResult:
    """Stratified K-fold CV of ``make_classifier()`` on the encoded feature matrix ``X``.

    Each fold holds out ``early_stopping_share`` of its training part (stratified) to
    stop boosting on AUC, predicts probabilities for its validation part, and records
    the best iteration so the refit can use the same number of trees.
    """
    start = time.perf_counter()
    oof = np.zeros(len(y), dtype=float)
    held_out_in = np.zeros(len(y), dtype=int)
    aucs: list[float] = []
    best: list[int] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (fit_idx, val_idx) in enumerate(splitter.split(X, y), start=1):
        fit_rows, stop_rows = train_test_split(
            fit_idx, test_size=early_stopping_share, random_state=seed + k, stratify=y[fit_idx]
        )
        # Stop on AUC alone: the ranking quality CV reports, not the log loss.
        clf = make_classifier().set_params(metric="auc")
        clf.fit(
            X[fit_rows],
            y[fit_rows],
            eval_X=X[stop_rows],
            eval_y=y[stop_rows],
            callbacks=[
                lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False),
                lgb.log_evaluation(0),
            ],
        )
        oof[val_idx] = clf.predict_proba(X[val_idx])[:, 1]
        held_out_in[val_idx] = k
        aucs.append(float(roc_auc_score(y[val_idx], oof[val_idx])))
        best.append(int(clf.best_iteration_ or clf.n_estimators))
        log.info("fold %d/%d: AUC %.4f, %d trees", k, folds, aucs[-1], best[-1])
    return CVResult(oof, tuple(aucs), tuple(best), time.perf_counter() - start, held_out_in)
