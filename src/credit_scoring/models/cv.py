"""Hold-out split, stratified K-fold cross-validation with early stopping, refit size.

Early stopping inside a fold watches a stratified slice of that fold's *training*
part, never its validation part: the out-of-fold predictions then come from models
that never saw those rows' targets, so the CV AUC is honest and the threshold and
calibration fitted on them are not tuned to an optimistic score. (The bin
boundaries are computed once from every training row's feature values, as
``lgb.cv`` does: values only, never a target.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from credit_scoring.io import usable_cpus

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


def train_params(classifier: LGBMClassifier) -> tuple[dict[str, Any], int]:
    """``classifier``'s parameters as ``lgb.train`` takes them, and its number of trees.

    The sklearn names are LightGBM aliases (``random_state`` of ``seed``, ``n_jobs``
    of ``num_threads``, ``subsample``, ``colsample_bytree``...), so they pass as they
    are and LightGBM resolves them as it does for the refit; only the wrapper's own
    arguments are dropped, and the two it would apply itself (a class weighting, a
    Python objective) are refused, since the folds would silently train without them.
    Early stopping watches AUC alone: the ranking quality CV reports, not the log loss.
    """
    params = {k: v for k, v in classifier.get_params().items() if v is not None}
    rounds = int(params.pop("n_estimators"))
    params.pop("importance_type", None)
    if params.pop("class_weight", None) is not None or callable(params.get("objective")):
        raise ValueError("class_weight and a callable objective are sklearn-only: not in CV")
    params["objective"] = params.get("objective") or "binary"
    params["metric"] = "auc"
    n_jobs = params.get("n_jobs")
    if isinstance(n_jobs, int) and n_jobs < 0:  # joblib's convention, as the wrapper reads it
        params["n_jobs"] = max(1, usable_cpus() + 1 + n_jobs)
    if not {"verbose", "verbosity"} & set(params):
        params["verbose"] = -1
    return params, rounds


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

    ``X`` is binned once, into one LightGBM ``Dataset``, and every fold trains on
    subsets of it (``Dataset.subset``, as ``lgb.cv`` does), instead of re-binning
    every feature for each fold: the bin boundaries then come from all training rows
    (values only, never the target), the same for every fold.
    """
    start = time.perf_counter()
    params, rounds = train_params(make_classifier())
    binned = lgb.Dataset(X, y, params=params, free_raw_data=False).construct()
    oof = np.zeros(len(y), dtype=float)
    held_out_in = np.zeros(len(y), dtype=int)
    aucs: list[float] = []
    best: list[int] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (fit_idx, val_idx) in enumerate(splitter.split(X, y), start=1):
        fit_rows, stop_rows = train_test_split(
            fit_idx, test_size=early_stopping_share, random_state=seed + k, stratify=y[fit_idx]
        )
        booster = lgb.train(
            params,
            binned.subset(fit_rows),
            num_boost_round=rounds,
            valid_sets=[binned.subset(stop_rows)],
            callbacks=[
                lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False),
                lgb.log_evaluation(0),
            ],
        )
        trees = int(booster.best_iteration or rounds)
        oof[val_idx] = booster.predict(X[val_idx], num_iteration=trees)
        held_out_in[val_idx] = k
        aucs.append(float(roc_auc_score(y[val_idx], oof[val_idx])))
        best.append(trees)
        log.info("fold %d/%d: AUC %.4f, %d trees", k, folds, aucs[-1], best[-1])
    return CVResult(oof, tuple(aucs), tuple(best), time.perf_counter() - start, held_out_in)
