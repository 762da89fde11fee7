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
from pathlib import Path

from omegaconf import DictConfig

from credit_scoring.config import ProjectConfig
from credit_scoring.io import atomic_file
from credit_scoring.monitoring.monitor import headline, run_monitor
from credit_scoring.registry import resolve_tracking_uri
from credit_scoring.stage import stage


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    settings = conf.monitoring
    features, out = Path(conf.paths.features), Path(settings.out)
    summary = {}
    for model in settings.models:
        result = run_monitor(
            settings,
            model=model,
            current=str(features),
            reference=features,
            out=out / model,
            tracking_uri=resolve_tracking_uri(conf.mlflow.tracking_uri),
            experiment_name=conf.mlflow.experiment_name,
            current_tables=settings.current_tables,
            models_dir=Path(conf.paths.models),
        )
        summary[model] = headline(result)
    with atomic_file(out / "drift.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
