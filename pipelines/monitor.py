"""DVC stage ``monitor``: the champions' training population against the test applicants.

    python pipelines/monitor.py
    python pipelines/monitor.py monitoring.alerts.score_psi=0.2

For each model of ``monitoring.models``: the reference is ``train.parquet`` of
``paths.features`` (what the champion learnt from), the current population the
``monitoring.current_tables`` of the same directory (``test.parquet``: the new
applicants of ``data/raw``). Writes ``monitoring.out/NAME/`` (report, charts,
Evidently files) and ``monitoring.out/drift.json`` (the headline numbers of
both, DVC metrics), and logs a ``monitor-NAME`` MLflow run each. An alert is a
finding, not a failure: the stage succeeds and ``drift.json`` says ``alert: 1``;
``credit-scoring monitor`` is the command whose exit code a scheduler acts on.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from credit_scoring.errors import CreditScoringError
from credit_scoring.io import atomic_file
from credit_scoring.logs import setup_logging
from credit_scoring.monitoring.monitor import MonitorSettings, headline, run_monitor
from credit_scoring.registry import resolve_tracking_uri

log = logging.getLogger("credit_scoring.monitor")


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    setup_logging()
    settings = MonitorSettings.from_config(OmegaConf.to_container(cfg.monitoring, resolve=True))
    features, out = Path(cfg.paths.features), Path(settings.out)
    summary = {}
    try:
        for model in settings.models:
            result = run_monitor(
                settings,
                model=model,
                current=str(features),
                reference=features,
                out=out / model,
                tracking_uri=resolve_tracking_uri(cfg.mlflow.tracking_uri),
                experiment_name=cfg.mlflow.experiment_name,
                current_tables=settings.current_tables,
                models_dir=Path(cfg.paths.models),
            )
            summary[model] = headline(result)
    except CreditScoringError as exc:
        log.error("%s", exc)
        sys.exit(2)
    with atomic_file(out / "drift.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
