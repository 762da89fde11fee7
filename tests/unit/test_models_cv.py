"""Cross-validation on one binned LightGBM dataset: what each fold sees and returns."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score

from credit_scoring.models.cv import cross_validate, train_params
from credit_scoring.models.pipeline import build_classifier


def _data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    p = 1 / (1 + np.exp(-(1.5 * X[:, 0] - X[:, 1] - 1.5)))
    return X, (rng.random(n) < p).astype(int)


def test_train_params_keep_every_setting_the_classifier_holds() -> None:
    """The refit uses the classifier, the folds ``lgb.train``: both must train the same model."""
    lgbm = {"n_estimators": 700, "learning_rate": 0.05, "num_leaves": 11, "subsample": 0.9}
    features = ["EXT_SOURCE_1", "AMT_INCOME_TOTAL", "OTHER"]
    constraints = {"EXT_SOURCE_1": -1}
    params, rounds = train_params(build_classifier(lgbm, features, constraints, seed=7, n_jobs=2))
    assert rounds == 700 and "n_estimators" not in params
    assert params["random_state"] == 7 and params["n_jobs"] == 2  # LightGBM's own aliases
    assert params["objective"] == "binary" and params["metric"] == "auc"
    assert params["learning_rate"] == 0.05 and params["subsample"] == 0.9
    assert params["monotone_constraints"] == [-1, 0, 0]

    X, y = _data()
    classifier = build_classifier(lgbm, features, constraints, seed=7, n_jobs=2)
    fitted = classifier.set_params(n_estimators=50).fit(X[:, :3], y)
    booster = lgb.train({**params, "metric": "binary_logloss"}, lgb.Dataset(X[:, :3], y), 50)
    np.testing.assert_allclose(booster.predict(X[:, :3]), fitted.predict_proba(X[:, :3])[:, 1])


def test_cross_validate_holds_out_every_row_once_and_stops_early() -> None:
    X, y = _data()

    def make() -> LGBMClassifier:
        return LGBMClassifier(n_estimators=2000, learning_rate=0.2, num_leaves=7, verbose=-1)

    result = cross_validate(
        X, y, make, folds=4, early_stopping_rounds=20, early_stopping_share=0.2, seed=3
    )
    assert result.folds is not None
    assert sorted(np.bincount(result.folds)[1:]) == [750] * 4  # each row held out once
    assert np.all((result.oof > 0) & (result.oof < 1))
    for k, auc in enumerate(result.fold_aucs, start=1):
        held = result.folds == k
        assert auc == pytest.approx(roc_auc_score(y[held], result.oof[held]))
        assert auc > 0.75
    assert all(1 <= trees < 2000 for trees in result.best_iterations)  # stopped on AUC
    assert result.refit_trees == round(np.mean(result.best_iterations))
    again = cross_validate(
        X, y, make, folds=4, early_stopping_rounds=20, early_stopping_share=0.2, seed=3
    )
    np.testing.assert_array_equal(again.oof, result.oof)  # the seed decides everything
