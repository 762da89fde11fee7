"""The one entry point shape of every DVC stage script (and ``make serve``).

A stage script is its docstring, one function and ``@stage``::

    @stage
    def main(cfg: DictConfig, conf: ProjectConfig) -> None:
        ingest(conf.paths.raw, conf.paths.ingested, strict=conf.data.strict)

The wrapper composes ``conf/config.yaml`` with the command line's overrides (Hydra),
sets up the product's logging, validates the whole configuration against
:mod:`credit_scoring.config` before any work (a misspelt key fails at start, naming
it), and turns every error the product raises on purpose
(:class:`~credit_scoring.errors.CreditScoringError`: bad data, bad config, a missing
input) into one logged message and exit code 2, which DVC reports as the stage's
failure. Anything else is a bug and keeps its traceback.

The function gets both the ``DictConfig`` (for what is handed on whole: Hydra's
sweeper, the MLflow params of a training run) and the typed :class:`ProjectConfig`.
Whatever it returns is returned to Hydra (the sweeper maximizes it).
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import hydra
from omegaconf import DictConfig

from credit_scoring.config import ProjectConfig, validate_config
from credit_scoring.errors import CreditScoringError
from credit_scoring.logs import setup_logging

T = TypeVar("T")

#: Relative to the stage script (``pipelines/``), as Hydra resolves it.
CONFIG_PATH = "../conf"

#: The exit code of a stage stopped by bad input or configuration.
EXIT_BAD_INPUT = 2


def stage(run: Callable[[DictConfig, ProjectConfig], T]) -> Callable[[], T]:
    """Make ``run`` a Hydra entry point with the product's logging, checks and exit codes."""
    log = logging.getLogger(f"credit_scoring.stage.{Path(inspect.getfile(run)).stem}")

    @functools.wraps(run)
    def main(cfg: DictConfig) -> T:
        setup_logging()
        try:
            return run(cfg, validate_config(cfg))
        except CreditScoringError as exc:
            log.error("%s", exc)
            sys.exit(EXIT_BAD_INPUT)

    return hydra.main(config_path=CONFIG_PATH, config_name="config", version_base=None)(main)
