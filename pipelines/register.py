"""DVC stage ``register``: gate each new model version on its way to ``champion``.

    python pipelines/register.py                          # both models of registry.models
    python pipelines/register.py registry.max_regression=0.01

Reads models/NAME/run.json and test_ids.csv (written by train@NAME), registers the
run as credit-scoring-NAME@challenger, promotes it to @champion if it passes the
gates of conf/registry/default.yaml, and writes what was done to models/registry.json.
"""

from __future__ import annotations

from omegaconf import DictConfig

from credit_scoring.config import ProjectConfig
from credit_scoring.registry import register_models, resolve_tracking_uri
from credit_scoring.stage import stage


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    register_models(
        conf.registry,
        conf.paths.models,
        resolve_tracking_uri(conf.mlflow.tracking_uri),
        conf.validation.fairness,
        conf.scorecard,
    )


if __name__ == "__main__":
    main()
