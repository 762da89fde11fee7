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

import hydra
import mlflow
from omegaconf import DictConfig, OmegaConf

from credit_scoring.logs import setup_logging
from credit_scoring.publish import (
    PublishSettings,
    load_champion,
    publish,
    read_clients,
    write_manifest,
)
from credit_scoring.registry import resolve_tracking_uri


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    setup_logging()
    conf = OmegaConf.to_container(cfg.publish, resolve=True)
    mlflow.set_tracking_uri(resolve_tracking_uri(cfg.mlflow.tracking_uri))
    features = Path(cfg.paths.features)
    clients = read_clients(features / "train.parquet", features / "test.parquet")
    champions = {
        name: load_champion(name, registered, conf["alias"])
        for name, registered in conf["registered_names"].items()
    }
    manifest = publish(clients, champions, conf["database_url"], PublishSettings.from_config(conf))
    write_manifest(manifest, conf["manifest"])


if __name__ == "__main__":
    main()
