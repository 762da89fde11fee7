"""Train both models end to end with the real stage script and a real MLflow sqlite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from credit_scoring.models.monotonic import check_monotone
from tests.conftest import REPO_ROOT
from tests.unit._models_data import tiny_training_frame

#: Small but real: 2 folds, few trees, one thread (shared CI cores).
FAST = [
    "model.feature_sets_file=null",  # the schema's own lists: no selection stage here
    "train.cv_folds=2",
    "train.early_stopping_rounds=10",
    "train.n_jobs=1",
    "train.shap_sample=200",
]
TREES = {"light": 60, "full": 30}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    frame = tiny_training_frame(2500, seed=11)
    (root / "features").mkdir()
    frame.to_parquet(root / "features" / "train.parquet")
    rng = np.random.default_rng(0)
    pd.DataFrame({"SK_ID_CURR": frame["SK_ID_CURR"], "probability": rng.random(len(frame))}).to_csv(
        root / "oracle.csv", index=False
    )
    return root


def _train(workdir: Path, *overrides: str, multirun: bool = False) -> None:
    """Run the stage script as DVC does, in ``workdir``, with every output redirected there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    args = [
        *(["-m"] if multirun else []),
        f"paths.features={workdir / 'features'}",
        f"paths.oracle={workdir / 'oracle.csv'}",
        f"paths.models={workdir / 'models'}",
        f"mlflow.tracking_uri=sqlite:///{workdir / 'mlflow.db'}",
        *FAST,
        *overrides,
    ]
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "pipelines" / "train.py"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["light", "full"])
def test_train_stage_logs_and_exports_a_servable_model(name: str, workdir: Path) -> None:
    _train(workdir, f"model={name}", f"model.lgbm.n_estimators={TREES[name]}")
    out = workdir / "models" / name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "test_auc",
        "cv_auc_mean",
        "cv_auc_std",
        "train_auc",
        "oracle_auc",
        "threshold",
        "business_cost",
        "business_cost_at_0_5",
        "recall",
        "precision",
        "fbeta",
        "brier",
        "log_loss",
        "ece",
        "n_features",
        "gini",
        "ks",
        "cv_gini_std",
        "cv_ks_std",
        "score_psi",
        "disparate_impact_gender",
        "disparate_impact_age",
        "protected_auc_cost",
    ):
        assert np.isfinite(metrics[key]), key
    assert metrics["gini"] == pytest.approx(2 * metrics["test_auc"] - 1)
    assert 0 < metrics["threshold"] <= 1 and 0.5 < metrics["test_auc"] <= 1
    record = json.loads((out / "run.json").read_text())
    assert record["model_name"] == name and record["registered_name"] == f"credit-scoring-{name}"
    assert record["model_uri"].startswith("models:/m-") and record["metrics"] == metrics
    test_ids = pd.read_csv(out / "test_ids.csv")["SK_ID_CURR"]
    assert len(test_ids) == 500 and test_ids.is_unique
    for stem in ("roc", "pr", "calibration", "cost"):
        assert len(pd.read_csv(out / "plots" / f"{stem}.csv")) > 1
    assert (out / "model" / "MLmodel").is_file()

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    run = mlflow.get_run(record["run_id"])
    assert run.data.metrics["test_auc"] == pytest.approx(metrics["test_auc"])
    # Run times are in the MLflow run, not in the committed DVC metrics.
    assert not any(key.endswith("_seconds") for key in metrics)
    assert {"fit_seconds", "cv_seconds", "predict_seconds"} <= set(run.data.metrics)
    assert {"data_version", "git_commit", "model_name"} <= set(run.data.tags)
    # The run spans the training it records: CV and refit happen inside it.
    took = (run.info.end_time - run.info.start_time) / 1000
    assert took >= run.data.metrics["cv_seconds"] + run.data.metrics["fit_seconds"]
    # Its datasets (the UI's Dataset column): the training and held-out rows, named with
    # the data version, counted, typed from the dtypes, told apart by their digests.
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "evaluation"}
    version = run.data.tags["data_version"]
    for context, rows in (("training", 2000), ("evaluation", 500)):
        dataset = inputs[context]
        assert dataset.name == f"train.parquet@{version[:12]}"
        assert json.loads(dataset.profile)["num_rows"] == rows
        columns = {c["name"]: c for c in json.loads(dataset.schema)["mlflow_colspec"]}
        assert columns["TARGET"]["type"] == "long" and columns["TARGET"]["required"]
        assert json.loads(dataset.source)["uri"].endswith("features/train.parquet")
    assert inputs["training"].digest != inputs["evaluation"].digest
    # The experiment opens in the UI's model-training view, not the GenAI one.
    experiment = mlflow.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert {
        "plots/roc.png",
        "plots/pr.png",
        "plots/cost_threshold.png",
        "plots/reliability.png",
        "plots/confusion_matrix.png",
    } <= artifacts
    listed = {f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"features.txt", "config.yaml", "importance", "validation", "fairness"} <= listed
    validation = {
        Path(f.path).name
        for f in mlflow.MlflowClient().list_artifacts(run.info.run_id, "validation")
    }
    assert {"gains.csv", "score_psi.csv", "ks.png", "cap.png", "gains.png"} <= validation
    fairness = {
        Path(f.path).name for f in mlflow.MlflowClient().list_artifacts(run.info.run_id, "fairness")
    }
    assert {"groups.csv", "groups.png", "disparate_impact.json"} <= fairness
    review = json.loads((out / "review.json").read_text())
    assert len(review["gains"]) == 10 and review["population"]["test_rows"] == 500
    assert {row["group"] for row in review["fairness"]} >= {"F", "M"}

    example = json.loads((out / "model" / "serving_input_example.json").read_text())
    frame = pd.DataFrame(**example["dataframe_split"])
    for uri in (record["model_uri"], str(out / "model")):
        model = mlflow.pyfunc.load_model(uri)
        predictions = model.predict(frame)
        assert len(predictions) == len(frame)
        assert predictions["probability"].between(0, 1).all()
        assert (predictions["model_version"] == record["run_id"]).all()
    # The gate's check runs on the loaded model, stored rows as they are (int columns,
    # history as aggregate columns).
    rows = pd.read_parquet(workdir / "features" / "train.parquet").head(30)
    report = check_monotone(model, rows, "AMT_INCOME_TOTAL", -1, np.geomspace(1e3, 1e9, 12))
    assert report.ok, str(report)


@pytest.mark.slow
def test_optuna_sweep_nests_trials_under_one_parent(workdir: Path) -> None:
    _train(
        workdir,
        "model=light",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "model.lgbm.n_estimators=30",
        f"hydra.sweep.dir={workdir / 'multirun'}",
        multirun=True,
    )
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["credit-scoring"], output_format="list")
    parents = [r for r in runs if "credit_scoring.sweep" in r.data.tags]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 2
    assert all("cv_auc_mean" in r.data.metrics for r in children)
    assert len({r.data.params["model.lgbm.learning_rate"] for r in children}) == 2
