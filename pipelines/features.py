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
from credit_scoring.features.build import build_features
from credit_scoring.features.engine import engine_from_config
from credit_scoring.features.history import load_spec
from credit_scoring.stage import stage


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    features = conf.features
    with engine_from_config(features) as engine:  # Spark asked for but absent: exit 2
        build_features(
            conf.paths.ingested,
            conf.paths.features,
            spec=load_spec(features.history),
            engine=engine,
            chunk_rows=features.build.chunk_rows,
            partition_rows=features.build.partition_rows,
        )


if __name__ == "__main__":
    main()
