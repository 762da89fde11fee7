"""The register stage against a real sqlite MLflow store, with models from the real trainer.

One story, in order: a good light model becomes champion; a model trained on
shuffled labels is registered as challenger only, with its reason recorded, and the
champion does not move; re-running the stage registers nothing; a model of another
data version is not measured against the champion on rows that mean nothing to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from credit_scoring.config import ProjectConfig, compose_config
from credit_scoring.data.schema import DAYS_SENTINEL
from credit_scoring.models.train import configure_tracking, train_model
from credit_scoring.registry import (
    CHALLENGER,
    CHAMPION,
    COMPARISON_TAG,
    DECISION_TAG,
    FAIRNESS_TAG,
    REASON_TAG,
    register_models,
)
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

NAME = "credit-scoring-light"


def _light_frame(n: int, seed: int) -> pd.DataFrame:
    """Applicants with the ten light fields and a TARGET they predict (annuity burden, age)."""
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(np.log(150_000), 0.5, n), 1)
    credit = np.round(rng.uniform(45_000, 1_500_000, n), 1)
    annuity = np.round(credit * rng.uniform(0.03, 0.08, n), 1)
    age_days = rng.integers(7_500, 25_000, n)
    frame = pd.DataFrame(
        {
            "SK_ID_CURR": np.arange(100002, 100002 + n),
            "AMT_INCOME_TOTAL": income,
            "AMT_GOODS_PRICE": np.round(credit * rng.uniform(0.8, 1.0, n), 1),
            "AMT_CREDIT": credit,
            "AMT_ANNUITY": annuity,
            "CODE_GENDER": rng.choice(np.array(["F", "M"], dtype=object), n, p=[0.66, 0.34]),
            "DAYS_BIRTH": -age_days,
            "CNT_CHILDREN": rng.integers(0, 3, n),
            "DAYS_EMPLOYED": np.where(
                rng.random(n) < 0.18, DAYS_SENTINEL, -rng.integers(0, 12_000, n)
            ),
            "FLAG_OWN_CAR": rng.choice(np.array(["N", "Y"], dtype=object), n),
            "FLAG_OWN_REALTY": rng.choice(np.array(["N", "Y"], dtype=object), n),
        }
    )
    log_odds = (
        -1.6
        + 2.0 * np.log(annuity / income / 0.25)
        - 1.2 * (age_days - 15_000) / 5_000
        - 0.5 * (np.log(income) - np.log(150_000))
    )
    frame.insert(1, "TARGET", (rng.random(n) < 1 / (1 + np.exp(-log_odds))).astype(int))
    return frame


@dataclass(frozen=True)
class Workspace:
    """A tmp project: real-label data, shuffled-label data, a sqlite store, its artifacts."""

    root: Path
    good: Path
    bad: Path
    models: Path
    uri: str


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Write both data sets and create the experiment in a fresh sqlite store."""
    root = tmp_path_factory.mktemp("registry")
    frame = _light_frame(2500, seed=3)
    good, bad = root / "features", root / "features_shuffled"
    good.mkdir()
    bad.mkdir()
    frame.to_parquet(good / "train.parquet")
    shuffled = frame.assign(TARGET=np.random.default_rng(1).permutation(frame["TARGET"]))
    shuffled.to_parquet(bad / "train.parquet")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    # The experiment's artifact root is set here so nothing lands in the repo's ./mlruns.
    mlflow.set_tracking_uri(uri)
    experiment = OmegaConf.load(REPO_ROOT / "conf" / "mlflow" / "local.yaml").experiment_name
    mlflow.create_experiment(experiment, artifact_location=(root / "mlruns").as_uri())
    return Workspace(root, good, bad, root / "models", uri)


def _config(ws: Workspace, features: Path, *extra: str) -> ProjectConfig:
    """The project's composed config, pointed at the workspace and shrunk for speed."""
    overrides = [
        "model=light",
        "registry.models=[light]",
        f"registry.data={ws.good / 'train.parquet'}",
        f"registry.output={ws.models / 'registry.json'}",
        "model.feature_sets_file=null",
        f"paths.features={features}",
        f"paths.models={ws.models}",
        f"paths.oracle={ws.root / 'no_oracle.csv'}",
        f"mlflow.tracking_uri={ws.uri}",
        "train.cv_folds=2",
        "train.shap_sample=50",
        "model.lgbm.n_estimators=80",
        "model.lgbm.learning_rate=0.1",
        *extra,
    ]
    return compose_config(overrides, REPO_ROOT / "conf")[1]


def _lock(raw_md5: str) -> str:
    """A DVC lock file whose generate stage wrote data/raw with hash ``raw_md5``.

    Lock paths are relative to the lock's directory: train with ``_raw_beside(lock)``.
    """
    return (
        "schema: '2.0'\nstages:\n  generate:\n    cmd: python pipelines/generate.py\n"
        f"    outs:\n    - path: data/raw\n      hash: md5\n      md5: {raw_md5}\n"
    )


def _raw_beside(lock: Path) -> str:
    """The override naming the data/raw directory that ``lock`` (from ``_lock``) records."""
    return f"paths.raw={lock.parent / 'data' / 'raw'}"


def _train(ws: Workspace, features: Path, *extra: str) -> str:
    """Train the light model with the project's trainer on ``features``; return its run id."""
    cfg = _config(ws, features, *extra)
    os.environ["MLFLOW_TRACKING_URI"] = ws.uri
    try:
        configure_tracking(cfg.mlflow)  # as pipelines/train.py does
        return train_model(cfg).run_id
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]


def _register_stage(ws: Workspace) -> dict:
    """Run the real stage script (a Hydra app) and return its models/registry.json record."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = ws.uri
    done = subprocess.run(
        [
            sys.executable,
            "pipelines/register.py",
            "registry.models=[light]",
            f"registry.data={ws.good / 'train.parquet'}",
            f"registry.output={ws.models / 'registry.json'}",
            "model.feature_sets_file=null",
            f"paths.models={ws.models}",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((ws.models / "registry.json").read_text())["models"]["light"]


def _register(ws: Workspace) -> dict:
    """What the stage does, in-process (saves an interpreter start and MLflow import)."""
    cfg = _config(ws, ws.good)
    report = register_models(cfg.registry, ws.models, ws.uri, cfg.validation.fairness)
    assert json.loads((ws.models / "registry.json").read_text()) == report
    return report["models"]["light"]


def _versions(client: MlflowClient) -> list[str]:
    return sorted(v.version for v in client.search_model_versions(f"name = '{NAME}'"))


def test_gates_promote_the_good_model_and_hold_back_the_bad_one(
    workspace: Workspace,
) -> None:
    ws = workspace
    client = MlflowClient(ws.uri)

    good_run = _train(ws, ws.good)
    first = _register_stage(ws)
    assert first["created"] and first["decision"] == "passed", first
    assert first["champion_before"] is None and first["champion"] == first["version"]
    assert first["metrics"]["candidate_auc"] > first["metrics"]["floor"]
    (income_check,) = first["monotonicity"]
    assert income_check["feature"] == "AMT_INCOME_TOTAL" and income_check["ok"]
    test_ids = pd.read_csv(ws.models / "light" / "test_ids.csv")
    assert first["n_test_rows"] == len(test_ids) == 500
    champion = client.get_model_version_by_alias(NAME, CHAMPION)
    assert champion.run_id == good_run and champion.tags[DECISION_TAG] == "passed"
    assert champion.tags["run_id"] == good_run and "test_auc" in champion.tags

    bad_run = _train(ws, ws.bad)
    second = _register(ws)
    assert second["created"] and second["decision"] == "rejected", second
    assert second["run_id"] == bad_run
    assert any("floor" in reason for reason in second["reasons"])
    assert any("champion" in reason for reason in second["reasons"])
    # The champion was scored on the bad model's own held-out rows and beat it there.
    assert second["metrics"]["champion_auc"] > second["metrics"]["candidate_auc"]
    assert second["champion_before"] == second["champion"] == first["version"]
    challenger = client.get_model_version_by_alias(NAME, CHALLENGER)
    assert challenger.version == second["version"] and challenger.run_id == bad_run
    assert challenger.tags[DECISION_TAG] == "rejected"
    assert challenger.tags[REASON_TAG] == second["reason"]
    assert client.get_model_version_by_alias(NAME, CHAMPION).version == first["version"]

    before = _versions(client)
    again = _register(ws)
    assert _versions(client) == before
    assert not again["created"] and again["version"] == second["version"]
    assert again["decision"] == "rejected" and again["champion"] == first["version"]
    assert "compared with v" in second["champion_comparison"]

    # New data (another md5 of data/raw in dvc.lock): the champion's AUC on the new rows would
    # say nothing (its training rows may be among them), so only the floor and the
    # monotonicity check decide, and the record says why.
    other = ws.root / "other_dvc.lock"
    other.write_text(_lock("0123456789abcdef0123456789abcdef.dir"))
    new_run = _train(
        ws, ws.good, f"train.data_version_file={other}", _raw_beside(other), "train.seed=7"
    )
    third = _register(ws)
    assert third["created"] and third["run_id"] == new_run
    assert third["decision"] == "passed", third
    assert third["metrics"]["champion_auc"] is None
    assert third["champion_comparison"].startswith(f"not compared with v{first['version']}")
    assert "0123456789abcdef0123456789abcdef.dir" in third["champion_comparison"]
    promoted = client.get_model_version_by_alias(NAME, CHAMPION)
    assert promoted.version == third["version"] and promoted.run_id == new_run
    assert promoted.tags[COMPARISON_TAG] == third["champion_comparison"]


def test_a_candidate_approving_one_gender_far_more_often_is_not_promoted(
    workspace: Workspace,
) -> None:
    ws = workspace
    client = MlflowClient(ws.uri)
    frame = _light_frame(2500, seed=3)
    male = (frame["CODE_GENDER"] == "M").to_numpy()
    # Men default far more often here, so a model taking CODE_GENDER refuses most of them.
    extra = np.random.default_rng(5).random(len(frame)) < 0.4
    frame["TARGET"] = (frame["TARGET"].astype(bool) | (male & extra)).astype(int)
    biased = ws.root / "features_biased"
    biased.mkdir()
    frame.to_parquet(biased / "train.parquet")
    other = ws.root / "biased_dvc.lock"  # new data: only floor, monotonicity and fairness decide
    other.write_text(_lock("fedcba9876543210fedcba9876543210.dir"))
    before = client.get_model_version_by_alias(NAME, CHAMPION).version

    run_id = _train(ws, biased, f"train.data_version_file={other}", _raw_beside(other))
    cfg = _config(ws, biased, f"registry.data={biased / 'train.parquet'}")
    report = register_models(cfg.registry, ws.models, ws.uri, cfg.validation.fairness)
    record = report["models"]["light"]
    assert record["run_id"] == run_id and record["decision"] == "rejected", record
    (reason,) = record["reasons"]  # the AUC floor and the monotonicity check pass
    assert reason.startswith("disparate impact too low on gender: approval rate of M")
    gender = next(f for f in record["fairness"] if f["attribute"] == "gender")
    assert gender["enforce"] and not gender["ok"] and gender["lowest"] == "M"
    assert gender["upper_bound"] < 0.8 and f"disparate impact {gender['ratio']:.3f}" in reason
    version = client.get_model_version(NAME, record["version"])
    assert version.tags[REASON_TAG] == reason
    assert "report only" in version.tags[FAIRNESS_TAG]  # the age check, recorded
    assert client.get_model_version_by_alias(NAME, CHAMPION).version == before
    card = (ws.models / "light" / "model_card.md").read_text()
    assert card.startswith(f"# Model card: {NAME} version {record['version']}")
    assert f"**rejected**: {reason}" in card and "## Fairness (test rows)" in card
