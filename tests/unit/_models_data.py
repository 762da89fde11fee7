"""Tiny training frames in the features stage's layout, for the model tests.

Raw application columns in schema order with raw values (strings for categoricals,
DAYS_EMPLOYED sometimes 365243), then the 550 history aggregates (mostly NaN), and
a TARGET drawn from a known risk: lower with EXT_SOURCE_2/3 and with income, higher
with one history aggregate, so a model has something to learn in a few thousand rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from credit_scoring.config import ScorecardConfig, validate_group
from credit_scoring.contracts.model_io import HISTORY_FEATURES, input_fields
from credit_scoring.data.schema import DAYS_SENTINEL, TABLES
from credit_scoring.models.pipeline import build_classifier, build_pipeline, resolve_features
from credit_scoring.models.pyfunc import CreditScoringModel
from credit_scoring.scorecard.outputs import DecisionAids
from tests.conftest import REPO_ROOT

CONF = REPO_ROOT / "conf"


def tiny_training_frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """``n`` applicants with SK_ID_CURR, TARGET, raw application fields and history columns."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"SK_ID_CURR": np.arange(100002, 100002 + n)}
    for col in TABLES["application_train"].columns:
        if col.name in ("SK_ID_CURR", "TARGET"):
            continue
        if col.kind == "str":
            columns[col.name] = rng.choice(np.array(col.vocabulary, dtype=object), size=n)
        elif col.kind == "int":
            columns[col.name] = rng.integers(0, 3, size=n)
        else:
            values = rng.random(n)
            values[rng.random(n) < 0.1] = np.nan
            columns[col.name] = values
    income = np.round(rng.lognormal(np.log(150_000), 0.5, n), 1)
    credit = np.round(rng.uniform(45_000, 1_500_000, n), 1)
    columns.update(
        AMT_INCOME_TOTAL=income,
        AMT_CREDIT=credit,
        AMT_GOODS_PRICE=np.round(credit * rng.uniform(0.8, 1.0, n), 1),
        AMT_ANNUITY=np.round(credit * rng.uniform(0.03, 0.08, n), 1),
        DAYS_BIRTH=-rng.integers(7_500, 25_000, n),
        DAYS_EMPLOYED=np.where(rng.random(n) < 0.18, DAYS_SENTINEL, -rng.integers(0, 15_000, n)),
        CNT_FAM_MEMBERS=rng.integers(1, 5, n).astype(float),
        CODE_GENDER=rng.choice(np.array(["F", "M"], dtype=object), size=n, p=[0.66, 0.34]),
    )
    frame = pd.DataFrame(columns)
    history = np.full((n, len(HISTORY_FEATURES)), np.nan)
    has_history = rng.random(n) < 0.8
    history[has_history] = rng.normal(size=(int(has_history.sum()), len(HISTORY_FEATURES)))
    frame = pd.concat([frame, pd.DataFrame(history, columns=list(HISTORY_FEATURES))], axis=1)
    log_odds = (
        -1.0
        - 2.5 * frame["EXT_SOURCE_2"].fillna(0.5)
        - 2.0 * frame["EXT_SOURCE_3"].fillna(0.5)
        - 0.8 * (np.log(income) - np.log(150_000))
        + 0.6 * np.nan_to_num(history[:, 0])
    )
    frame.insert(1, "TARGET", (rng.random(n) < 1 / (1 + np.exp(-log_odds))).astype(int))
    return frame


def fit_tiny_model(name: str, frame: pd.DataFrame, *, trees: int = 40) -> CreditScoringModel:
    """A small model of ``conf/model/<name>.yaml`` (its real params and monotone constraints).

    Fitted on ``frame`` directly (no CV): the tests exercise the wrapper and the
    constraints, not the training procedure.
    """
    cfg = OmegaConf.load(CONF / "model" / f"{name}.yaml")
    features = resolve_features(cfg.feature_set)
    params = {**OmegaConf.to_container(cfg.lgbm), "n_estimators": trees}
    classifier = build_classifier(
        params, features, OmegaConf.to_container(cfg.monotone_constraints), seed=0, n_jobs=1
    )
    pipeline = build_pipeline(features, classifier).fit(frame, frame["TARGET"])
    return CreditScoringModel(
        pipeline,
        calibrator=None,
        threshold=0.1,
        registered_name=cfg.registered_name,
        run_id="test-run",
        fields=input_fields(features),
        aids=DecisionAids.from_config(
            validate_group(
                ScorecardConfig, OmegaConf.load(CONF / "scorecard" / "default.yaml"), "scorecard"
            ),
            features,
        ),
    )
