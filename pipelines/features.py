"""DVC stage ``features``: ingested tables -> train/test feature tables and the 795-column matrix.

    python pipelines/features.py                          # paths.ingested -> paths.features
    python pipelines/features.py features.engine.threads=4

Reads the ingest stage's ``cfg.paths.ingested`` (validated Parquet), writes
``cfg.paths.features`` (see :func:`credit_scoring.features.build.build_features`):
the history spec is ``cfg.features.history``, the SQL engine ``cfg.features.engine``.
Validation (and ``data.strict``) is the ingest stage's business.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from credit_scoring.errors import CreditScoringError
from credit_scoring.features.build import build_features
from credit_scoring.features.engine import open_engine
from credit_scoring.features.history import load_spec
from credit_scoring.logs import setup_logging

log = logging.getLogger("credit_scoring.features")


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    setup_logging()
    options = dict(cfg.features.engine)
    engine = open_engine(options.pop("name"), **options)
    try:
        build_features(
            cfg.paths.ingested,
            cfg.paths.features,
            spec=load_spec(cfg.features.history),
            engine=engine,
            chunk_rows=int(cfg.features.build.chunk_rows),
        )
    except CreditScoringError as exc:  # bad data: one readable message, not a traceback
        log.error("%s", exc)
        sys.exit(2)
    finally:
        engine.close()


if __name__ == "__main__":
    main()
