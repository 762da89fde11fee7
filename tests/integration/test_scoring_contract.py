"""The logged champions take what pandas reads; ``credit-scoring score`` scores a new batch.

Everything runs on the end-to-end clone (``pipeline_repo``): its registered champions,
its generated raw tables and its published clients database.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.schema import MANDATORY_FIELDS
from tests.conftest import REAL_HEADS
from tests.integration.conftest import PipelineRepo

pytestmark = pytest.mark.slow

NAMES = {"full": "credit-scoring-full", "light": "credit-scoring-light"}


def _heads(**read_csv) -> pd.DataFrame:
    """application_train without TARGET, then application_test, as pandas reads them."""
    train = pd.read_csv(REAL_HEADS / "application_train.csv", **read_csv).drop(columns="TARGET")
    test = pd.read_csv(REAL_HEADS / "application_test.csv", **read_csv)
    return pd.concat([train, test], ignore_index=True)


@pytest.fixture(scope="module")
def champions(pipeline_repo: PipelineRepo) -> dict:
    import mlflow

    mlflow.set_tracking_uri(pipeline_repo.tracking_uri)
    return {m: mlflow.pyfunc.load_model(f"models:/{name}@champion") for m, name in NAMES.items()}


@pytest.mark.parametrize("model", ["full", "light"])
def test_champion_predicts_on_read_csv_of_the_real_heads(champions, model: str) -> None:
    champion = champions[model]
    default = _heads()
    assert default["DAYS_BIRTH"].dtype == np.int64 and default["FLAG_MOBIL"].dtype == np.int64
    expected = champion.predict(default)
    assert len(expected) == len(default)
    assert expected["probability"].between(0, 1).all()
    for frame in (_heads(dtype_backend="numpy_nullable"), _heads(dtype_backend="pyarrow")):
        np.testing.assert_allclose(champion.predict(frame)["probability"], expected["probability"])
    mandatory = champion.predict(default[list(MANDATORY_FIELDS)])
    assert mandatory["probability"].between(0, 1).all()
    assert (mandatory["model_name"] == NAMES[model]).all()


def _score(repo: PipelineRepo, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.prefix) / "bin" / "credit-scoring"), "score", *args]
    return subprocess.run(
        command, cwd=repo.root, env=repo.env, capture_output=True, text=True, timeout=600
    )


def test_score_command_equals_the_published_scores(
    pipeline_repo: PipelineRepo, tmp_path: Path
) -> None:
    root = pipeline_repo.root
    with sqlite3.connect(root / "data/serving/clients.db") as conn:
        published = pd.read_sql(
            "SELECT SK_ID_CURR, full_probability, full_decision, full_model_version, "
            "light_probability FROM clients WHERE split = 'test'",
            conn,
        ).set_index("SK_ID_CURR")
    for model in ("full", "light"):
        out = tmp_path / f"{model}.parquet"
        result = _score(pipeline_repo, "--raw", "data/raw", "--out", str(out), "--model", model)
        assert result.returncode == 0, result.stderr[-3000:]
        scores = pd.read_parquet(out).set_index("SK_ID_CURR")
        assert set(scores.index) == set(published.index)
        mine = scores.loc[published.index]
        np.testing.assert_allclose(mine["probability"], published[f"{model}_probability"])
        assert (mine["model_name"] == NAMES[model]).all()
        if model == "full":
            assert (mine["decision"] == published["full_decision"]).all()
            assert (mine["model_version"] == published["full_model_version"]).all()
    kaggle = tmp_path / "submission.csv"
    result = _score(pipeline_repo, "--raw", "data/raw", "--out", str(kaggle), "--format", "kaggle")
    assert result.returncode == 0, result.stderr[-3000:]
    submission = pd.read_csv(kaggle)
    assert list(submission.columns) == ["SK_ID_CURR", "TARGET"]
    assert len(submission) == len(published)


def test_score_command_on_a_broken_directory_exits_2_and_writes_nothing(
    pipeline_repo: PipelineRepo, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = (pipeline_repo.root / "data/raw/application_test.csv").read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[3].split(",")
    fields[header.index("AMT_CREDIT")] = "lots"
    lines[3] = ",".join(fields)
    (raw / "application_test.csv").write_text("\n".join(lines[:10]) + "\n")
    out = tmp_path / "scores.parquet"
    result = _score(pipeline_repo, "--raw", str(raw), "--out", str(out))
    assert result.returncode == 2
    assert f"{raw / 'application_test.csv'}, line 4, column AMT_CREDIT" in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [raw]


def test_exported_model_loads_in_a_fresh_venv_without_the_project(
    pipeline_repo: PipelineRepo, tmp_path: Path
) -> None:
    model = pipeline_repo.root / "models/light/model"
    venv = tmp_path / "venv"
    uv = str(Path(sys.prefix) / "bin" / "uv")
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            "-r",
            str(model / "requirements.txt"),
        ],
        check=True,
        timeout=900,
    )
    script = (
        "import importlib.util, sys, mlflow, pandas as pd\n"
        "assert importlib.util.find_spec('credit_scoring') is None, 'project installed'\n"
        f"model = mlflow.pyfunc.load_model({str(model)!r})\n"
        f"rows = pd.read_csv({str(REAL_HEADS / 'application_test.csv')!r})\n"
        "out = model.predict(rows)\n"
        "assert len(out) == len(rows) and out['probability'].between(0, 1).all()\n"
        "print(out['probability'].sum())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [python, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import mlflow

    here = mlflow.pyfunc.load_model(str(model)).predict(
        pd.read_csv(REAL_HEADS / "application_test.csv")
    )
    assert float(result.stdout.strip().splitlines()[-1]) == pytest.approx(here["probability"].sum())
