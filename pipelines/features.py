"""DVC stage ``features``: ingested tables -> train/test feature tables and the 795-column matrix.

    python pipelines/features.py                          # paths.ingested -> paths.features
    python pipelines/features.py features.duckdb.threads=4
    python pipelines/features.py features.engine=spark features.spark.master=spark://host:7077

Reads the ingest stage's ``cfg.paths.ingested`` (validated Parquet), writes
``cfg.paths.features`` (see :func:`credit_scoring.features.build.build_features`):
the history spec is ``cfg.features.history``, the SQL engine ``cfg.features.engine``
(``duckdb`` or ``spark``, each with its own block of settings). Validation (and
``data.strict``) is the ingest stage's business.
"""

from __future__ import annotations

from omegaconf import DictConfig

from credit_scoring.config import ProjectConfig
from credit_scoring.features.build import build_configured
from credit_scoring.stage import stage


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    build_configured(conf.paths.ingested, conf.paths.features, conf.features)


if __name__ == "__main__":
    main()
