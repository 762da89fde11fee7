"""The whole product on a fresh clone: data, DVC stages, MLflow runs and the registry.

Everything here runs the real commands a user runs (`make data`, `make pipeline`,
`dvc repro`, `dvc status`) in a clone of HEAD, and reads the real MLflow store
they wrote. One pipeline run is shared (``pipeline_repo``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import yaml

from credit_scoring.data.schema import LIGHT_FIELDS, MANDATORY_FIELDS, features_795
from tests.integration.conftest import PIPELINE_CLIENTS, PipelineRepo

pytestmark = pytest.mark.slow

NAMES = {"full": "credit-scoring-full", "light": "credit-scoring-light"}


@pytest.fixture()
def tracking(pipeline_repo: PipelineRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point MLflow at the clone's store for one test."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", pipeline_repo.tracking_uri)
    mlflow.set_tracking_uri(pipeline_repo.tracking_uri)
    yield pipeline_repo.tracking_uri
    mlflow.set_tracking_uri(None)


def test_default_data_reproduces_the_locked_data_version(pipeline_repo: PipelineRepo) -> None:
    """A fresh `make data` (the generate stage) writes exactly the bytes dvc.lock records.

    The md5 of data/raw in dvc.lock is the data version every run is tagged with and the
    registry compares champions by: the same code, seed and size must give it again.
    """
    assert pipeline_repo.default_data_diff == ""


def test_pipeline_leaves_every_stage_up_to_date(pipeline_repo: PipelineRepo) -> None:
    status = json.loads(pipeline_repo.run("dvc", "status", "--json").stdout or "{}")
    assert status == {}
    root = pipeline_repo.root
    matrix = pd.read_parquet(root / "data/features/features_795.parquet")
    assert list(matrix.columns) == ["SK_ID_CURR", "TARGET", *features_795()]
    sets = json.loads((root / "models/selection/feature_sets.json").read_text())
    assert sets["light"] == list(LIGHT_FIELDS) and len(sets["full"]) == 795
    for model in ("full", "light"):
        metrics = json.loads((root / f"models/{model}/metrics.json").read_text())
        assert 0.5 < metrics["test_auc"] <= 1 and 0 < metrics["threshold"] < 1
        assert (root / f"models/{model}/model/MLmodel").is_file()
    full = json.loads((root / "models/full/metrics.json").read_text())
    light = json.loads((root / "models/light/metrics.json").read_text())
    assert full["test_auc"] > light["test_auc"] + 0.05, "history must beat the counter fields"
    assert full["test_auc"] <= full["oracle_auc"] + 0.02


def test_both_models_are_champions(pipeline_repo: PipelineRepo, tracking: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    registry = json.loads((pipeline_repo.root / "models/registry.json").read_text())
    for model, name in NAMES.items():
        champion = client.get_model_version_by_alias(name, "champion")
        challenger = client.get_model_version_by_alias(name, "challenger")
        assert champion.version == challenger.version
        assert registry["models"][model]["decision"] == "passed"
        run = json.loads((pipeline_repo.root / f"models/{model}/run.json").read_text())
        assert champion.run_id == run["run_id"]
        card = (pipeline_repo.root / f"models/{model}/model_card.md").read_text()
        assert card.startswith(f"# Model card: {name} version {champion.version}")
        assert "**passed**" in card and "Model card: `model_card.md`" in champion.description
        assert {f["attribute"] for f in registry["models"][model]["fairness"]} == {"gender", "age"}
    # The gate swept income for both models and the external scores for the full one.
    checked = {
        model: {c["feature"]: c["ok"] for c in record["monotonicity"]}
        for model, record in registry["models"].items()
    }
    assert checked["light"] == {"AMT_INCOME_TOTAL": True}
    assert checked["full"] == dict.fromkeys(
        ("AMT_INCOME_TOTAL", "EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"), True
    )


def test_every_run_is_tagged_with_the_data_version_dvc_locked(
    pipeline_repo: PipelineRepo, tracking: str
) -> None:
    """The tag is the generate stage's md5 of data/raw: the N_CLIENTS set, not the default."""
    from mlflow import MlflowClient

    lock = yaml.safe_load((pipeline_repo.root / "dvc.lock").read_text())
    (raw,) = [o for o in lock["stages"]["generate"]["outs"] if o["path"] == "data/raw"]
    assert raw["md5"].endswith(".dir") and raw["nfiles"] == 8
    synthetic = yaml.safe_load((pipeline_repo.root / "conf/data/synthetic.yaml").read_text())
    assert synthetic["n_clients"] == PIPELINE_CLIENTS  # `make pipeline N_CLIENTS=` set it there
    client = MlflowClient(tracking)
    for model, name in NAMES.items():
        run_id = json.loads((pipeline_repo.root / f"models/{model}/run.json").read_text())["run_id"]
        assert client.get_run(run_id).data.tags["data_version"] == raw["md5"]
        version = client.get_model_version_by_alias(name, "champion")
        assert version.tags["data_version"] == raw["md5"]


def test_champion_scores_raw_rows_including_only_the_mandatory_amounts(
    pipeline_repo: PipelineRepo, tracking: str
) -> None:
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{NAMES['light']}@champion")
    train = pd.read_parquet(pipeline_repo.root / "data/features/train.parquet")
    rows = train[list(LIGHT_FIELDS)].head(50)
    mandatory_only = rows[list(MANDATORY_FIELDS)].head(1)
    for frame in (rows, mandatory_only):
        out = model.predict(frame)
        assert len(out) == len(frame)
        p = out["probability"].to_numpy()
        assert np.all((p >= 0) & (p <= 1))
        np.testing.assert_allclose(out["score"], np.round((1 - p) * 100, 1))
        expected = np.where(p >= out["threshold"], "refused", "granted")
        assert (out["decision"] == expected).all()
        assert set(out["model_name"]) == {NAMES["light"]}


def test_champion_probability_never_rises_with_income(
    pipeline_repo: PipelineRepo, tracking: str
) -> None:
    import mlflow

    from credit_scoring.models.monotonic import check_monotone

    model = mlflow.pyfunc.load_model(f"models:/{NAMES['light']}@champion")
    train = pd.read_parquet(pipeline_repo.root / "data/features/train.parquet")
    frame = train[list(LIGHT_FIELDS)].sample(100, random_state=0)
    grid = np.geomspace(1e3, 1e9, 60)
    report = check_monotone(model, frame, "AMT_INCOME_TOTAL", -1, grid)
    assert report.ok, str(report)
    assert report.finite


def test_rerunning_with_nothing_changed_registers_nothing(
    pipeline_repo: PipelineRepo, tracking: str
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    before = {n: len(client.search_model_versions(f"name='{n}'")) for n in NAMES.values()}
    result = pipeline_repo.run("dvc", "repro")
    assert "Running stage" not in result.stdout
    after = {n: len(client.search_model_versions(f"name='{n}'")) for n in NAMES.values()}
    assert after == before


def test_a_config_change_reruns_only_the_stages_that_read_it(pipeline_repo: PipelineRepo) -> None:
    conf = pipeline_repo.root / "conf/model/light.yaml"
    original = conf.read_text()
    assert "learning_rate: 0.05" in original
    with pipeline_repo.restored():
        conf.write_text(original.replace("learning_rate: 0.05", "learning_rate: 0.07"))
        status = json.loads(pipeline_repo.run("dvc", "status", "--json").stdout)
    assert "train@light" in status
    assert not {"features", "select", "train@full"} & set(status)
    assert json.loads(pipeline_repo.run("dvc", "status", "--json").stdout or "{}") == {}


def test_experiment_override_trains_a_new_light_candidate(
    pipeline_repo: PipelineRepo, tracking: str
) -> None:
    """`dvc exp run -S` on a conf file reaches training; the gate decides on the new version."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    name = NAMES["light"]
    before = len(client.search_model_versions(f"name='{name}'"))
    conf = pipeline_repo.root / "conf/model/light.yaml"
    champion = client.get_model_version_by_alias(name, "champion").version
    with pipeline_repo.restored():
        pipeline_repo.run(
            "dvc", "exp", "run", "-S", "conf/model/light.yaml:lgbm.learning_rate=0.07", timeout=900
        )
        assert conf.read_text().count("0.07") == 1
        versions = client.search_model_versions(f"name='{name}'")
        assert len(versions) == before + 1
        newest = max(versions, key=lambda v: int(v.version))
        assert client.get_model_version_by_alias(name, "challenger").version == newest.version
    assert newest.tags.get("gate_decision") in {"passed", "rejected"}
    run = client.get_run(newest.run_id)
    assert float(run.data.params["model.lgbm.learning_rate"]) == pytest.approx(0.07)
    # The shared clone is back as it was, for the tests after this one: its config,
    # its stages' outputs and the champion its database was published with.
    assert "learning_rate: 0.05" in conf.read_text()
    assert json.loads(pipeline_repo.run("dvc", "status", "--json").stdout or "{}") == {}
    assert client.get_model_version_by_alias(name, "champion").version == champion


def test_mlproject_train_entry_point_runs_the_same_code(
    pipeline_repo: PipelineRepo, tracking: str
) -> None:
    """`mlflow run . -e train` trains through the same script, attached to MLflow's run."""
    import mlflow

    experiment = mlflow.get_experiment_by_name("credit-scoring")
    before = len(mlflow.search_runs([experiment.experiment_id]))
    with pipeline_repo.restored():  # the entry point exports to models/light
        result = pipeline_repo.run(
            "mlflow",
            "run",
            ".",
            "-e",
            "train",
            "-P",
            "model=light",
            "--env-manager",
            "local",
            "--experiment-name",
            "credit-scoring",
            timeout=900,
        )
    runs = mlflow.search_runs([experiment.experiment_id], order_by=["start_time DESC"])
    assert len(runs) == before + 1, result.stdout[-2000:] + result.stderr[-2000:]
    newest = runs.iloc[0]
    assert newest["status"] == "FINISHED"
    assert newest["tags.mlflow.project.entryPoint"] == "train"
    assert newest["metrics.test_auc"] > 0.5


def test_mlproject_pipeline_entry_point_reruns_what_changed(
    pipeline_repo: PipelineRepo, tracking: str
) -> None:
    """`mlflow run . -e pipeline` runs `dvc repro`; each training stage logs its own run.

    A change to the shared training config reruns both training stages, which must not
    both log into the one run `mlflow run` created.
    """
    import mlflow

    conf = pipeline_repo.root / "conf/train/default.yaml"
    text = conf.read_text()
    current = re.search(r"shap_sample: [0-9]+", text).group(0)
    experiment = mlflow.get_experiment_by_name("credit-scoring")
    before = set(mlflow.search_runs([experiment.experiment_id])["run_id"])
    with pipeline_repo.restored():
        conf.write_text(text.replace(current, "shap_sample: 1999"))
        pipeline_repo.run(
            "mlflow",
            "run",
            ".",
            "-e",
            "pipeline",
            "--env-manager",
            "local",
            "--experiment-name",
            "credit-scoring",
            timeout=900,
        )
        assert json.loads(pipeline_repo.run("dvc", "status", "--json").stdout or "{}") == {}
    runs = mlflow.search_runs([experiment.experiment_id])
    new = runs[~runs["run_id"].isin(before)].set_index("tags.mlflow.runName")
    assert (new["status"] == "FINISHED").all()
    for stage in ("train-full", "train-light"):
        assert new.loc[stage, "params.train.shap_sample"] == "1999"
    assert "select" not in new.index  # its inputs did not change
    assert conf.read_text() == text
    assert json.loads(pipeline_repo.run("dvc", "status", "--json").stdout or "{}") == {}


def test_rerunning_the_feature_stage_reproduces_its_outputs_bit_for_bit(
    pipeline_repo: PipelineRepo,
) -> None:
    """A forced feature rebuild writes the same bytes, so nothing after it has to rerun."""
    pipeline_repo.run("dvc", "repro", "--force", "--single-item", "features")
    assert json.loads(pipeline_repo.run("dvc", "status", "--json").stdout or "{}") == {}
