"""One logging format for every entry point (CLI, stage scripts, servers)."""

from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str | int | None = None) -> None:
    """Configure the root logger once; ``CREDIT_SCORING_LOG_LEVEL`` overrides the level."""
    level = level or os.environ.get("CREDIT_SCORING_LOG_LEVEL", "INFO")
    logging.basicConfig(level=level, format=FORMAT, force=True)
