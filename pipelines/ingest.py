"""DVC stage ``ingest``: raw CSV files -> validated, typed Parquet tables (one per table).

    python pipelines/ingest.py                 # paths.raw -> paths.ingested
    python pipelines/ingest.py data.strict=true

Reads ``cfg.paths.raw``, validates every table (``cfg.data.strict`` turns warnings
into errors) and writes ``cfg.paths.ingested`` (see
:func:`credit_scoring.data.ingest.ingest`): ``<table>.parquet`` for each table
present and ``validation.json``, the warnings and the absent tables.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from credit_scoring.data.ingest import ingest
from credit_scoring.errors import CreditScoringError
from credit_scoring.logs import setup_logging

log = logging.getLogger("credit_scoring.ingest")


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    setup_logging()
    try:
        ingest(cfg.paths.raw, cfg.paths.ingested, strict=bool(cfg.data.strict))
    except CreditScoringError as exc:  # bad data: one readable message, not a traceback
        log.error("%s", exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
