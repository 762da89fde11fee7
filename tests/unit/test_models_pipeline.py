"""Model config -> pipeline: feature sets, monotone constraints, DVC params files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from credit_scoring.data.schema import LIGHT_FIELDS, features_795
from credit_scoring.models.pipeline import (
    ModelConfigError,
    build_classifier,
    monotone_vector,
    resolve_features,
)
from tests.conftest import REPO_ROOT


def test_schema_feature_sets() -> None:
    assert resolve_features("full") == features_795()
    assert resolve_features("light") == LIGHT_FIELDS
    with pytest.raises(ModelConfigError, match="unknown feature set"):
        resolve_features("medium")


def test_feature_sets_file_from_the_selection_stage(tmp_path: Path) -> None:
    path = tmp_path / "feature_sets.json"
    path.write_text(json.dumps({"full": ["EXT_SOURCE_2", "AMT_CREDIT"], "light": ["AMT_CREDIT"]}))
    assert resolve_features("full", path) == ("EXT_SOURCE_2", "AMT_CREDIT")
    path.write_text(json.dumps({"light": ["AMT_CREDIT", "NOT_A_FEATURE"]}))
    with pytest.raises(ModelConfigError, match="NOT_A_FEATURE"):
        resolve_features("light", path)
    with pytest.raises(ModelConfigError, match="no key 'full'"):
        resolve_features("full", path)
    with pytest.raises(ModelConfigError, match="not found"):
        resolve_features("full", tmp_path / "missing.json")


def test_monotone_vector_follows_feature_order() -> None:
    features = ("EXT_SOURCE_1", "AMT_CREDIT", "ANNUITY_INCOME_PERC", "AMT_INCOME_TOTAL")
    constraints = {"AMT_INCOME_TOTAL": -1, "ANNUITY_INCOME_PERC": 1, "INCOME_PER_PERSON": -1}
    assert monotone_vector(features, constraints) == [0, 0, 1, -1]
    with pytest.raises(ModelConfigError, match="AMT_INCOME"):
        monotone_vector(features, {"AMT_INCOME": -1})
    with pytest.raises(ModelConfigError, match="-1, 0 or 1"):
        monotone_vector(features, {"AMT_CREDIT": 2})


def test_class_reweighting_is_refused() -> None:
    with pytest.raises(ModelConfigError, match="is_unbalance"):
        build_classifier({"is_unbalance": True}, LIGHT_FIELDS, {}, seed=0, n_jobs=1)
    clf = build_classifier(
        {"learning_rate": 0.1}, LIGHT_FIELDS, {"AMT_INCOME_TOTAL": -1}, seed=7, n_jobs=1
    )
    assert clf.get_params()["monotone_constraints"] == [-1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert clf.get_params()["random_state"] == 7


@pytest.mark.parametrize("name", ["full", "light"])
def test_model_configs_constrain_every_income_feature(name: str) -> None:
    cfg = OmegaConf.load(REPO_ROOT / "conf" / "model" / f"{name}.yaml")
    features = resolve_features(cfg.feature_set)
    vector = dict(zip(features, monotone_vector(features, cfg.monotone_constraints), strict=True))
    assert vector["AMT_INCOME_TOTAL"] == -1
    # Income's direction in each derived feature decides the sign of its constraint.
    expected = {"INCOME_CREDIT_PERC": -1, "INCOME_PER_PERSON": -1, "ANNUITY_INCOME_PERC": 1}
    assert {f: vector[f] for f in expected if f in vector} == {
        f: d for f, d in expected.items() if f in features
    }


def _leaf_keys(tree: object, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    keys = {prefix} if prefix else set()
    for key, value in tree.items():
        keys |= _leaf_keys(value, f"{prefix}.{key}" if prefix else str(key))
    return keys


def test_every_train_stage_param_exists_in_its_params_file() -> None:
    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    stage = dvc["stages"]["train"]
    params = stage["do"]["params"]
    for item in stage["foreach"]:
        for entry in params:
            for file, keys in entry.items():
                path = REPO_ROOT / file.replace("${item}", item)
                assert path.is_file(), path
                available = _leaf_keys(yaml.safe_load(path.read_text()))
                for key in keys or []:
                    assert key in available, f"{path}: no key {key}"
