"""``make serve``: both model servers and the API under supervisord in the foreground.

    python pipelines/serve.py
    python pipelines/serve.py serve.api.port=8080 serve.model_servers.full.workers=2
    python pipelines/serve.py serve.program=light      # one program alone (a Procfile line)

Writes supervisord.conf for ``serve.programs`` (conf/serve/default.yaml) into
``serve.supervisor.run_dir`` and becomes supervisord: a crashed program is
restarted while the others keep serving; Ctrl-C (or SIGTERM) stops them all.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from credit_scoring.api.launcher import exec_program, serve_forever
from credit_scoring.logs import setup_logging
from credit_scoring.registry import resolve_tracking_uri


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    setup_logging()
    config = OmegaConf.to_container(cfg.serve, resolve=True)
    tracking_uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    if cfg.serve.program:
        exec_program(config, tracking_uri, str(cfg.serve.program))
    serve_forever(config, tracking_uri)


if __name__ == "__main__":
    main()
