"""The model card: every section a reviewer expects, filled from the run, review and gate."""

from __future__ import annotations

from omegaconf import OmegaConf

from credit_scoring.config import ScorecardConfig, validate_group
from credit_scoring.validation.model_card import model_card, version_description
from tests.conftest import REPO_ROOT

RUN = {
    "run_id": "abc123",
    "model_name": "light",
    "registered_name": "credit-scoring-light",
    "git_commit": "deadbeef",
    "trained_at": "2026-12-02T18:00:00+00:00",
    "data_version": "0123.dir",
    "metrics": {"test_auc": 0.62, "cv_auc_mean": 0.63, "cv_auc_std": 0.01, "oracle_auc": 0.82},
}
REVIEW = {
    "population": {"train_rows": 1600, "test_rows": 400, "train_default_rate": 0.08},
    "features": {
        "count": 10,
        "families": {"application": 10},
        "monotone_constraints": {"AMT_INCOME_TOTAL": -1},
    },
    "threshold": 0.094,
    "costs": {"fn_cost": 10.0, "fp_cost": 1.0},
    "metrics": {"gini": 0.24, "ks": 0.19, "cv_gini_mean": 0.26, "cv_gini_std": 0.02},
    "gains": [{"bin": 1, "count": 40, "defaults": 9, "default_rate": 0.225, "lift": 2.8}],
    "fairness": [
        {"attribute": "gender", "group": "F", "count": 260, "approval_rate": 0.76},
        {"attribute": "gender", "group": "M", "count": 140, "approval_rate": 0.63},
    ],
    "exclusion": {
        "protected_features_used": ["CODE_GENDER", "DAYS_BIRTH"],
        "auc_with": 0.62,
        "auc_without": 0.57,
    },
}
GATE = {
    "version": "3",
    "decision": "rejected",
    "reason": "disparate impact too low on gender: approval rate of M 0.320 vs F 0.800",
    "fairness": [{"attribute": "gender", "ratio": 0.4, "min_ratio": 0.8, "enforce": True}],
    "monotonicity": [{"feature": "AMT_INCOME_TOTAL", "n_rows": 200, "violations": 0, "ok": True}],
    "champion": "2",
}


def test_the_card_holds_every_section_with_the_figures() -> None:
    scorecard = validate_group(
        ScorecardConfig, OmegaConf.load(REPO_ROOT / "conf/scorecard/default.yaml"), "scorecard"
    )
    card = model_card(run=RUN, review=REVIEW, gate=GATE, scorecard=scorecard, generated_at="now")
    assert card.startswith("# Model card: credit-scoring-light version 3")
    for section in (
        "## Intended use",
        "## Data",
        "## Features",
        "## Performance",
        "### Gains table",
        "## Threshold and cost",
        "## Fairness",
        "## Gate decision",
        "## Limitations",
    ):
        assert f"\n{section}" in card, section
    assert "`0123.dir`" in card and "**synthetic**" in card
    assert "| Gini (2·AUC − 1) | 0.2400 | 0.2600 ± 0.0200 |" in card
    assert "| 1 | n/a | n/a | 40 | 9 | 0.225 |" in card
    assert "| gender | M | 140 | 0.630 |" in card
    assert "`AMT_INCOME_TOTAL` -1" in card
    assert "would be 0.5700 instead of 0.6200" in card
    assert "**rejected**: disparate impact too low on gender" in card
    assert "600 at odds 50:1" in card and "G otherwise" in card
    description = version_description("abc123", GATE, RUN["metrics"] | REVIEW["metrics"])
    assert "rejected" in description and "Gini 0.2400" in description


def test_real_data_has_no_synthetic_caveat() -> None:
    run = {**RUN, "metrics": {k: v for k, v in RUN["metrics"].items() if k != "oracle_auc"}}
    card = model_card(run=run, review=REVIEW, gate=GATE)
    assert "**synthetic**" not in card and "real data" in card
