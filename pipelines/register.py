"""DVC stage ``register``: gate each new model version on its way to ``champion``.

    python pipelines/register.py                          # both models of registry.models
    python pipelines/register.py registry.max_regression=0.01

Reads models/NAME/run.json and test_ids.csv (written by train@NAME), registers the
run as credit-scoring-NAME@challenger, promotes it to @champion if it passes the
gates of conf/registry/default.yaml, and writes what was done to models/registry.json.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from credit_scoring.errors import CreditScoringError
from credit_scoring.logs import setup_logging
from credit_scoring.registry import register_models, resolve_tracking_uri

log = logging.getLogger("credit_scoring.register")


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    setup_logging()
    try:
        register_models(
            OmegaConf.to_container(cfg.registry, resolve=True),
            cfg.paths.models,
            resolve_tracking_uri(cfg.mlflow.tracking_uri),
            OmegaConf.to_container(cfg.validation.fairness, resolve=True),
            OmegaConf.to_container(cfg.scorecard, resolve=True),
        )
    except CreditScoringError as exc:  # a missing input: one readable message, not a traceback
        log.error("%s", exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
