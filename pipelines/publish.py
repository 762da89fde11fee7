"""DVC stage ``publish``: the clients database the API reads, from the features and the champions.

    python pipelines/publish.py
    python pipelines/publish.py publish.database_url=postgresql+psycopg://app@db/credit

Loads ``models:/credit-scoring-{full,light}@champion`` in process, scores every
known applicant (train and test), and writes the clients, model inputs, model
records and population statistics atomically to ``publish.database_url``, plus
a small manifest (``publish.manifest``).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from omegaconf import DictConfig

from credit_scoring.config import ProjectConfig
from credit_scoring.publish import (
    load_champion,
    publish,
    read_clients,
    write_manifest,
)
from credit_scoring.registry import resolve_tracking_uri
from credit_scoring.stage import stage


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    settings = conf.publish
    mlflow.set_tracking_uri(resolve_tracking_uri(conf.mlflow.tracking_uri))
    features = Path(conf.paths.features)
    clients = read_clients(features / "train.parquet", features / "test.parquet")
    champions = {
        name: load_champion(name, registered, settings.alias)
        for name, registered in settings.registered_names.items()
    }
    manifest = publish(clients, champions, settings.database_url, settings)
    write_manifest(manifest, settings.manifest)


if __name__ == "__main__":
    main()
