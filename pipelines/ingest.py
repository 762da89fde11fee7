"""DVC stage ``ingest``: raw CSV files -> validated, typed Parquet tables (one per table).

    python pipelines/ingest.py                 # paths.raw -> paths.ingested
    python pipelines/ingest.py data.strict=true

Reads ``cfg.paths.raw``, validates every table (``cfg.data.strict`` turns warnings
into errors) and writes ``cfg.paths.ingested`` (see
:func:`credit_scoring.data.ingest.ingest`): ``<table>.parquet`` for each table
present and ``validation.json``, the warnings and the absent tables.
"""

from __future__ import annotations

from omegaconf import DictConfig

from credit_scoring.config import ProjectConfig
from credit_scoring.data.ingest import ingest
from credit_scoring.stage import stage


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    ingest(conf.paths.raw, conf.paths.ingested, strict=conf.data.strict)


if __name__ == "__main__":
    main()
