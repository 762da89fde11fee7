"""The served model: raw fields in, probability/score/decision out, explanations."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from credit_scoring.contracts.model_io import HISTORY_COLUMN, history_json, model_signature
from credit_scoring.data.schema import LIGHT_FIELDS, MANDATORY_FIELDS
from credit_scoring.models.pyfunc import CreditScoringModel
from tests.unit._models_data import fit_tiny_model, tiny_training_frame

OUTPUT = ["probability", "score", "decision", "threshold", "model_name", "model_version"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return tiny_training_frame(2000, seed=3)


@pytest.fixture(scope="module")
def light(frame: pd.DataFrame) -> CreditScoringModel:
    return fit_tiny_model("light", frame)


@pytest.fixture(scope="module")
def full(frame: pd.DataFrame) -> CreditScoringModel:
    return fit_tiny_model("full", frame, trees=20)


def _check_output(out: pd.DataFrame, model: CreditScoringModel, n: int) -> None:
    assert list(out.columns[: len(OUTPUT)]) == OUTPUT
    assert len(out) == n
    p = out["probability"].to_numpy()
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(out["score"], np.round((1 - p) * 100, 1))
    assert set(out["decision"]) <= {"granted", "refused"}
    assert (out["decision"] == "refused").eq(p >= model.threshold).all()
    assert (out["model_name"] == model.registered_name).all()
    assert (out["model_version"] == "test-run").all()


def test_one_row_and_one_hundred_thousand_rows(light: CreditScoringModel, frame) -> None:
    one = light.predict(None, frame[list(LIGHT_FIELDS)].head(1))
    _check_output(one, light, 1)
    big = frame[list(LIGHT_FIELDS)].sample(100_000, replace=True, random_state=0)
    out = light.predict(None, big)
    _check_output(out, light, 100_000)
    assert out.index.equals(big.index)
    # Identical rows get identical answers, whatever the batch.
    np.testing.assert_allclose(
        out["probability"].iloc[:1], light.predict(None, big.head(1))["probability"]
    )


def test_row_with_only_the_mandatory_amounts(light: CreditScoringModel, full) -> None:
    row = pd.DataFrame(
        [
            {
                "AMT_INCOME_TOTAL": 150_000.0,
                "AMT_GOODS_PRICE": 450_000.0,
                "AMT_CREDIT": 500_000.0,
                "AMT_ANNUITY": 25_000.0,
            }
        ]
    )
    _check_output(light.predict(None, row), light, 1)
    _check_output(full.predict(None, row), full, 1)


def test_explain_contributions_sum_to_raw_log_odds(light: CreditScoringModel, frame) -> None:
    rows = frame[list(LIGHT_FIELDS)].head(5)
    out = light.predict(None, rows, params={"explain": True, "top": len(LIGHT_FIELDS)})
    raw = light.pipeline[-1].predict(light.pipeline[0].transform(rows), raw_score=True)
    for i, text in enumerate(out["contributions"]):
        items = json.loads(text)
        assert [set(item) for item in items] == [{"feature", "value", "contribution"}] * len(items)
        assert {item["feature"] for item in items} == set(LIGHT_FIELDS)
        total = sum(item["contribution"] for item in items)
        assert total == pytest.approx(raw[i] - out["base_value"].iloc[i], abs=1e-9)
        magnitudes = [abs(item["contribution"]) for item in items]
        assert magnitudes == sorted(magnitudes, reverse=True)
    top3 = light.predict(None, rows, params={"explain": True, "top": 3})
    assert all(len(json.loads(t)) == 3 for t in top3["contributions"])


def test_answers_carry_points_grade_and_reasons(light: CreditScoringModel, frame) -> None:
    rows = frame[list(LIGHT_FIELDS)].head(200)
    out = light.predict(None, rows)
    assert list(out.columns) == [*OUTPUT, "points", "grade", "reasons"]
    aids = light.aids
    p = out["probability"].to_numpy()
    np.testing.assert_array_equal(out["points"], aids.scorecard.rounded_points(p))
    np.testing.assert_array_equal(out["grade"], aids.scorecard.grade(p))
    shap = light.pipeline[-1].predict(light.pipeline[0].transform(rows), pred_contrib=True)
    totals = aids.coder.contributions(shap[:, :-1])
    for i, (text, decision) in enumerate(zip(out["reasons"], out["decision"], strict=True)):
        reasons = json.loads(text)
        assert len(reasons) <= aids.coder.top
        assert [set(r) for r in reasons] == [{"code", "text", "contribution"}] * len(reasons)
        by_code = dict(zip(aids.coder.codes, totals[i], strict=True))
        for r in reasons:
            assert r["contribution"] == pytest.approx(by_code[r["code"]])
        if decision == "refused":
            assert all(r["contribution"] > 0 for r in reasons)
    assert (out["decision"] == "refused").any() and (out["decision"] == "granted").any()
    quiet = light.predict(None, rows, params={"reasons": False})
    assert "reasons" not in quiet and "points" in quiet
    # Batch callers get points and grade, not the reasons' SHAP pass.
    assert "reasons" not in light.score(rows) and "grade" in light.score(rows)


def test_full_model_reads_history_from_json_or_columns(full: CreditScoringModel, frame) -> None:
    rows = frame.head(20)
    as_columns = full.predict_proba(rows)[:, 1]
    application = rows[[f for f in full.fields if f != HISTORY_COLUMN]]
    as_json = full.predict_proba(pd.concat([application, history_json(rows)], axis=1))[:, 1]
    np.testing.assert_allclose(as_json, as_columns)
    no_history = full.predict_proba(application)[:, 1]
    assert not np.allclose(no_history, as_columns)


def test_batch_threads_change_no_answer(full: CreditScoringModel, frame) -> None:
    """Batch callers score on every core, a server on one thread: the same answers, bit for bit."""
    rows = frame.sample(5000, replace=True, random_state=1)
    served = full.score(rows)
    for threads in (1, 2, 4):
        pd.testing.assert_frame_equal(full.score(rows, threads=threads), served)


def test_signature_of_the_light_model() -> None:
    inputs = model_signature(LIGHT_FIELDS).inputs
    assert inputs.input_names() == list(LIGHT_FIELDS)
    required = {c.name for c in inputs.inputs if c.required}
    assert required == set(MANDATORY_FIELDS)
    # "any": MLflow checks presence, the model checks kinds (see contracts.model_io).
    assert {c.to_dict()["type"] for c in inputs.inputs} == {"any"}


def test_saved_model_enforces_schema_and_fills_absent_optionals(
    light: CreditScoringModel, tmp_path: Path
) -> None:
    path = tmp_path / "model"
    # Explicit requirements: inferring them would load the model in a subprocess.
    mlflow.pyfunc.save_model(
        path,
        python_model=light,
        signature=model_signature(light.fields),
        input_example=pd.DataFrame([{f: 1.0 for f in MANDATORY_FIELDS}]),
        pip_requirements=["mlflow"],
    )
    loaded = mlflow.pyfunc.load_model(str(path))
    row = pd.DataFrame(
        [
            {
                "AMT_INCOME_TOTAL": 1.5e5,
                "AMT_GOODS_PRICE": 4.5e5,
                "AMT_CREDIT": 5e5,
                "AMT_ANNUITY": 2.5e4,
                "CODE_GENDER": "F",
            }
        ]
    )
    out = loaded.predict(row, params={"explain": True})
    np.testing.assert_allclose(out["probability"], light.predict(None, row)["probability"])
    assert out["base_value"].notna().all()
    with pytest.raises(mlflow.exceptions.MlflowException, match="AMT_CREDIT"):
        loaded.predict(row.drop(columns="AMT_CREDIT"))
