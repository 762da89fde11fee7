"""The model contract: any caller's frame conforms once, bad input is named, outputs are fixed."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from credit_scoring.contracts import model_io
from credit_scoring.contracts.model_io import (
    HISTORY_COLUMN,
    HISTORY_FEATURES,
    OUTPUT_COLUMNS,
    conform,
    history_json,
    model_signature,
)
from credit_scoring.data.schema import LIGHT_FIELDS, MANDATORY_FIELDS
from credit_scoring.errors import SchemaError
from credit_scoring.models.pyfunc import CreditScoringModel, batch_predictor
from tests.conftest import REAL_HEADS
from tests.unit._models_data import fit_tiny_model, tiny_training_frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return tiny_training_frame(1500, seed=5)


@pytest.fixture(scope="module")
def light(frame: pd.DataFrame) -> CreditScoringModel:
    return fit_tiny_model("light", frame, trees=15)


@pytest.fixture(scope="module")
def full(frame: pd.DataFrame) -> CreditScoringModel:
    return fit_tiny_model("full", frame, trees=15)


def _heads(**read_csv) -> pd.DataFrame:
    """Both real application heads as one frame, TARGET dropped, as pandas reads them."""
    train = pd.read_csv(REAL_HEADS / "application_train.csv", **read_csv).drop(columns="TARGET")
    test = pd.read_csv(REAL_HEADS / "application_test.csv", **read_csv)
    return pd.concat([train, test], ignore_index=True)


def test_signature_names_every_field_and_declares_the_history_forms() -> None:
    fields = model_io.input_fields(model_io.HISTORY_FEATURES[:1])
    inputs = model_signature(fields).inputs
    names = inputs.input_names()
    assert names[: len(model_io.APPLICATION_FIELDS)] == list(model_io.APPLICATION_FIELDS)
    assert names[len(model_io.APPLICATION_FIELDS)] == HISTORY_COLUMN
    assert names[len(model_io.APPLICATION_FIELDS) + 1 :] == list(HISTORY_FEATURES)
    assert set(inputs.required_input_names()) == set(MANDATORY_FIELDS)
    kinds = {c.name: c.to_dict()["type"] for c in inputs.inputs}
    assert {kinds[f] for f in model_io.APPLICATION_FIELDS} == {"any"}
    assert {kinds[f] for f in HISTORY_FEATURES} == {"double"}
    outputs = model_signature(LIGHT_FIELDS).outputs.input_names()
    assert outputs[: len(OUTPUT_COLUMNS)] == list(OUTPUT_COLUMNS)


@pytest.mark.parametrize(
    "read_csv",
    [{}, {"dtype_backend": "numpy_nullable"}, {"dtype_backend": "pyarrow"}],
    ids=["default", "nullable", "pyarrow"],
)
def test_every_dtype_pandas_reads_gives_the_same_scores(
    light: CreditScoringModel, full: CreditScoringModel, read_csv: dict
) -> None:
    reference = _heads()
    assert reference["DAYS_BIRTH"].dtype == np.int64  # what broke MLflow's double columns
    rows = _heads(**read_csv)
    for model in (light, full):
        expected = model.score(reference.astype({c: float for c in _integer_columns(reference)}))
        out = model.score(rows)
        assert list(out.columns) == list(OUTPUT_COLUMNS)
        np.testing.assert_allclose(out["probability"], expected["probability"])


def _integer_columns(frame: pd.DataFrame) -> list[str]:
    return list(frame.select_dtypes("integer").columns)


def test_converted_dtypes_objects_and_mandatory_fields_alone(light: CreditScoringModel) -> None:
    rows = _heads()
    expected = light.score(rows)["probability"]
    np.testing.assert_allclose(light.score(rows.convert_dtypes())["probability"], expected)
    as_objects = rows[list(LIGHT_FIELDS)].astype(object).where(rows[list(LIGHT_FIELDS)].notna())
    np.testing.assert_allclose(light.score(as_objects)["probability"], expected)
    mandatory = light.score(rows[list(MANDATORY_FIELDS)])
    assert mandatory["probability"].between(0, 1).all()


def test_history_as_columns_or_as_json_or_dicts_scores_alike(full: CreditScoringModel, frame):
    rows = frame.head(30)
    as_columns = full.score(rows)["probability"]
    application = rows[[f for f in full.fields if f != HISTORY_COLUMN]]
    records = history_json(rows)
    as_json = full.score(pd.concat([application, records], axis=1))["probability"]
    as_dicts = full.score(application.assign(HISTORY=[json.loads(r) for r in records]))
    np.testing.assert_allclose(as_json, as_columns)
    np.testing.assert_allclose(as_dicts["probability"], as_columns)
    # Some aggregate columns only: the others are missing.
    some = full.score(rows.drop(columns=list(HISTORY_FEATURES[1:])))["probability"]
    assert some.notna().all()


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        (lambda f: f.drop(columns="AMT_CREDIT"), "AMT_CREDIT", "required"),
        (lambda f: f.assign(AMT_ANNUITY=["12k", *f["AMT_ANNUITY"][1:]]), "AMT_ANNUITY", "'12k'"),
        (lambda f: f.assign(CODE_GENDER="W"), "CODE_GENDER", "unknown category 'W'"),
        (lambda f: f.assign(FLAG_OWN_CAR=1), "FLAG_OWN_CAR", "unknown category 1"),
        (lambda f: f.assign(HISTORY="{"), HISTORY_COLUMN, "not a JSON object"),
        (lambda f: f.assign(HISTORY='{"BURO_X": 1}'), HISTORY_COLUMN, "BURO_X"),
        (lambda f: f.assign(HISTORY='{"BURO_DAYS_CREDIT_MIN": "a"}'), HISTORY_COLUMN, "'a'"),
        (
            lambda f: f.assign(HISTORY="{}", BURO_DAYS_CREDIT_MIN=1.0),
            HISTORY_COLUMN,
            "history given twice",
        ),
    ],
)
def test_bad_input_names_the_column(change, column: str, message: str) -> None:
    rows = _heads()[list(model_io.APPLICATION_FIELDS)].head(3)
    fields = model_io.input_fields(model_io.HISTORY_FEATURES)
    with pytest.raises(SchemaError, match=message) as info:
        conform(change(rows), fields)
    assert info.value.column == column


def test_logged_model_accepts_read_csv_and_names_bad_columns(
    light: CreditScoringModel, tmp_path: Path
) -> None:
    path = tmp_path / "model"
    rows = _heads()
    mlflow.pyfunc.save_model(
        path,
        python_model=light,
        signature=model_signature(light.fields),
        pip_requirements=["mlflow"],
    )
    loaded = mlflow.pyfunc.load_model(str(path))
    out = loaded.predict(rows)  # int64 DAYS_BIRTH, extra SK_ID_CURR: no preparation
    np.testing.assert_allclose(out["probability"], light.score(rows)["probability"])
    np.testing.assert_allclose(batch_predictor(loaded)(rows)["probability"], out["probability"])
    with pytest.raises(mlflow.exceptions.MlflowException, match="AMT_CREDIT"):
        loaded.predict(rows.drop(columns="AMT_CREDIT"))
    with pytest.raises(mlflow.exceptions.MlflowException, match="column CODE_GENDER"):
        loaded.predict(rows.assign(CODE_GENDER="W"))
