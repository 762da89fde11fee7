"""``make serve``: both model servers and the API under supervisord in the foreground.

    python pipelines/serve.py
    python pipelines/serve.py serve.api.port=8080 serve.model_servers.full.workers=2
    python pipelines/serve.py serve.program=light      # one program alone (a Procfile line)

Writes supervisord.conf for ``serve.programs`` (conf/serve/default.yaml) into
``serve.supervisor.run_dir`` and becomes supervisord: a crashed program is
restarted while the others keep serving; Ctrl-C (or SIGTERM) stops them all.
"""

from __future__ import annotations

from omegaconf import DictConfig

from credit_scoring.api.launcher import exec_program, serve_forever
from credit_scoring.config import ProjectConfig
from credit_scoring.registry import resolve_tracking_uri
from credit_scoring.stage import stage


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    # The launcher hands the group on as JSON (gunicorn workers, the dashboard): plain data.
    config = conf.serve.model_dump(mode="json")
    tracking_uri = resolve_tracking_uri(conf.mlflow.tracking_uri)
    if conf.serve.program:
        exec_program(config, tracking_uri, conf.serve.program)
    serve_forever(config, tracking_uri)


if __name__ == "__main__":
    main()
