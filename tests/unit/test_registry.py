"""The registry's gate policy on plain numbers, and the parsing of its inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from credit_scoring.config import ConfigError, RegistryConfig, validate_group
from credit_scoring.registry import (
    Candidate,
    FairnessCheck,
    FairnessOutcome,
    GatePolicy,
    RegistryError,
    evaluate_gates,
    load_test_rows,
    resolve_tracking_uri,
)
from credit_scoring.validation.fairness import DisparateImpact

POLICY = {
    "models": ["full", "light"],
    "data": "data/features/train.parquet",
    "output": "models/registry.json",
    "auc_floor": {"full": 0.70, "light": 0.58},
    "max_regression": 0.005,
    "monotone": {
        "rows": 50,
        "checks": [{"feature": "AMT_INCOME_TOTAL", "direction": -1, "grid": [1e4, 1e5, 1e6]}],
    },
}


def _gates(**overrides: object):
    args = {
        "candidate_auc": 0.75,
        "floor": 0.70,
        "champion_auc": 0.74,
        "max_regression": 0.005,
        "monotone": {"AMT_INCOME_TOTAL": True},
    }
    return evaluate_gates(**{**args, **overrides})


def test_a_better_candidate_passes() -> None:
    decision = _gates()
    assert decision.passed and decision.reasons == []
    assert decision.summary == "passed all gates"
    assert decision.metrics["candidate_auc"] == 0.75


def test_the_first_candidate_only_needs_the_floor_and_monotonicity() -> None:
    assert _gates(champion_auc=None).passed
    assert not _gates(champion_auc=None, candidate_auc=0.69).passed


@pytest.mark.parametrize(("auc", "passed"), [(0.7001, True), (0.70, False), (0.51, False)])
def test_the_floor_is_strict(auc: float, passed: bool) -> None:
    decision = _gates(candidate_auc=auc, champion_auc=None)
    assert decision.passed is passed
    if not passed:
        assert decision.reasons == [f"test AUC {auc:.4f} is not above the floor 0.7000"]


@pytest.mark.parametrize(
    ("candidate", "champion", "passed"),
    [
        (0.746, 0.750, True),  # within the noise margin
        (0.745, 0.750, True),  # exactly at the margin
        (0.744, 0.750, False),  # beyond it
        (0.900, 0.750, True),
    ],
)
def test_a_regression_beyond_the_margin_is_rejected(
    candidate: float, champion: float, passed: bool
) -> None:
    decision = _gates(candidate_auc=candidate, champion_auc=champion)
    assert decision.passed is passed
    assert any("champion" in r for r in decision.reasons) is not passed


def test_a_monotonicity_failure_alone_rejects() -> None:
    decision = _gates(monotone={"AMT_INCOME_TOTAL": False, "DAYS_BIRTH": True})
    assert not decision.passed
    assert decision.reasons == ["P(default) is not monotone in AMT_INCOME_TOTAL"]


def test_every_failed_gate_is_reported_at_once() -> None:
    decision = _gates(candidate_auc=0.5, champion_auc=0.75, monotone={"AMT_INCOME_TOTAL": False})
    assert len(decision.reasons) == 3
    assert decision.summary == "; ".join(decision.reasons)


def _policy(values: dict) -> GatePolicy:
    return GatePolicy.from_config(validate_group(RegistryConfig, values, "registry"))


def test_policy_from_config() -> None:
    policy = _policy(POLICY)
    assert policy.floor("light") == 0.58
    assert policy.monotone_rows == 50
    (check,) = policy.monotone
    assert (check.feature, check.direction, check.grid) == ("AMT_INCOME_TOTAL", -1, (1e4, 1e5, 1e6))
    with pytest.raises(RegistryError, match="no entry for model 'medium'"):
        policy.floor("medium")


def test_policy_refuses_a_meaningless_monotone_check() -> None:
    bad = {**POLICY, "monotone": {"checks": [{"feature": "X", "direction": 0, "grid": [1, 2]}]}}
    with pytest.raises(ConfigError, match=r"registry\.monotone\.checks\[0\]\.direction: .*-1 or 1"):
        _policy(bad)


def test_the_environment_tracking_uri_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///other.db")
    assert resolve_tracking_uri("sqlite:///mlflow.db") == "sqlite:///other.db"


def test_run_json_is_parsed_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    record = {
        "run_id": "abc",
        "model_uri": "models:/m-1",
        "model_name": "light",
        "registered_name": "credit-scoring-light",
        "test_ids": "models/light/test_ids.csv",
        "metrics": {"test_auc": 0.71, "n_features": 10.0, "note": "text"},
        "data_version": "d41d8c",
    }
    path.write_text(json.dumps(record))
    candidate = Candidate.from_run_json(path)
    assert candidate.test_ids == Path("models/light/test_ids.csv")
    tags = candidate.tags()
    assert tags["run_id"] == "abc" and tags["data_version"] == "d41d8c"
    assert tags["test_auc"] == "0.71" and "note" not in tags

    path.write_text(json.dumps({k: v for k, v in record.items() if k != "model_uri"}))
    with pytest.raises(RegistryError, match=r"missing keys \['model_uri'\]") as err:
        Candidate.from_run_json(path)
    assert err.value.file == str(path)
    with pytest.raises(RegistryError, match="run the train stage"):
        Candidate.from_run_json(tmp_path / "absent.json")


def test_test_rows_must_all_be_in_the_data(tmp_path: Path) -> None:
    data = tmp_path / "train.parquet"
    pd.DataFrame({"SK_ID_CURR": [1, 2, 3, 4], "TARGET": [0, 1, 0, 1]}).to_parquet(data)
    ids = tmp_path / "test_ids.csv"
    pd.DataFrame({"SK_ID_CURR": [4, 2]}).to_csv(ids, index=False)
    rows = load_test_rows(data, ids)
    assert sorted(rows["SK_ID_CURR"]) == [2, 4]

    pd.DataFrame({"SK_ID_CURR": [2, 9]}).to_csv(ids, index=False)
    with pytest.raises(RegistryError, match="1 test ids \\(first: 9\\)") as err:
        load_test_rows(data, ids)
    assert err.value.file == str(ids)


def _outcome(
    ratio: float, n: int, *, enforce: bool = True, confidence: float | None = 0.95
) -> FairnessOutcome:
    impact = DisparateImpact("gender", ratio, "M", "F", 0.8 * ratio, 0.8, n, n)
    bound = ratio if confidence is None else impact.upper_bound(confidence)
    return FairnessOutcome(FairnessCheck("gender", 0.8, enforce), impact, bound)


def test_an_enforced_fairness_check_rejects_naming_the_groups_and_the_ratio() -> None:
    decision = _gates(fairness=[_outcome(0.4, 400)])
    assert not decision.passed
    (reason,) = decision.reasons
    assert reason.startswith("disparate impact too low on gender: approval rate of M 0.320")
    assert "vs F 0.800, disparate impact 0.400" in reason and "minimum 0.8" in reason
    # Report only: recorded, never blocking.
    assert _gates(fairness=[_outcome(0.4, 400, enforce=False)]).passed


def test_the_fairness_gate_allows_for_sampling_noise() -> None:
    # 0.78 on 60 applicants per group is within noise of 0.8; on 20,000 it is not.
    small, large = _outcome(0.78, 60), _outcome(0.78, 20_000)
    assert small.ok and small.upper_bound > 0.8
    assert not large.ok and 0.78 < large.upper_bound < 0.8
    assert not _outcome(0.78, 60, confidence=None).ok  # the point estimate alone
    assert _gates(fairness=[small]).passed and not _gates(fairness=[large]).passed


def test_fairness_policy_is_parsed() -> None:
    policy = _policy(
        {
            **POLICY,
            "fairness": {
                "confidence": 0.9,
                "checks": {"gender": {"min_disparate_impact": 0.8, "enforce": True}},
            },
        }
    )
    assert policy.fairness_confidence == 0.9
    assert [(c.attribute, c.min_ratio, c.enforce) for c in policy.fairness] == [
        ("gender", 0.8, True)
    ]
    with pytest.raises(ConfigError, match=r"registry\.fairness\.confidence: .*less than 1"):
        _policy({**POLICY, "fairness": {"confidence": 1.5}})
