"""``make serve``: both model servers and the API in the foreground; Ctrl-C stops all.

    python pipelines/serve.py
    python pipelines/serve.py serve.api.port=8080 serve.model_servers.full.workers=2

Starts ``mlflow models serve`` for the full (port 5001) and light (5002)
champions with MLFLOW_TRACKING_URI set, waits for their /ping, then the API
under gunicorn (port 8000). Everything comes from conf/serve/default.yaml.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from credit_scoring.api.launcher import serve_forever
from credit_scoring.logs import setup_logging
from credit_scoring.registry import resolve_tracking_uri


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    setup_logging()
    config = OmegaConf.to_container(cfg.serve, resolve=True)
    sys.exit(serve_forever(config, resolve_tracking_uri(cfg.mlflow.tracking_uri)))


if __name__ == "__main__":
    main()
