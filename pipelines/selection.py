"""DVC stage ``select``: rank the 795 encoded features and choose the light set.

    python pipelines/selection.py                                     # light = LIGHT_FIELDS
    python pipelines/selection.py selection.strategy=top_k selection.k=12

Writes feature_ranking.csv, feature_sets.json, report.json, summary.md and
top_features.png to paths.selection, and logs them to an MLflow run named ``select``.
(Not ``select.py``: a script's directory comes first on ``sys.path``, and a file
named ``select`` there would shadow the standard library module for every stage.)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import mlflow
from omegaconf import DictConfig, OmegaConf

from credit_scoring.errors import CreditScoringError
from credit_scoring.features.selection import (
    SelectionConfig,
    load_feature_matrix,
    select_features,
    summary_markdown,
    write_selection,
)
from credit_scoring.logs import setup_logging
from credit_scoring.registry import resolve_tracking_uri, use_experiment

log = logging.getLogger("credit_scoring.select")


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> float:
    setup_logging()
    try:
        config = SelectionConfig.from_mapping(OmegaConf.to_container(cfg.selection, resolve=True))
        X, y = load_feature_matrix(Path(cfg.paths.features) / "features_795.parquet")
        result = select_features(X, y, config)
    except CreditScoringError as exc:  # bad data or config: one readable message
        log.error("%s", exc)
        sys.exit(2)
    out = write_selection(result, cfg.paths.selection, plot_top=config.plot_top)
    summary = summary_markdown(result)
    log.info("\n%s", summary)

    mlflow.set_tracking_uri(resolve_tracking_uri(cfg.mlflow.tracking_uri))
    use_experiment(cfg.mlflow.experiment_name)
    report = result.report
    with mlflow.start_run(run_name="select", tags={"stage": "select"}):
        mlflow.log_params({k: v for k, v in vars(config).items() if k != "counter_fields"})
        mlflow.log_metrics(
            {
                "full_cv_auc_mean": report["full"]["cv_auc_mean"],
                "light_cv_auc_mean": report["light"]["cv_auc_mean"],
                "auc_ratio": report["auc_ratio"],
            }
        )
        mlflow.log_artifacts(str(out), artifact_path="selection")
    return report["light"]["cv_auc_mean"]


if __name__ == "__main__":
    main()
