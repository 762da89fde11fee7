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
from pathlib import Path

from omegaconf import DictConfig

from credit_scoring.config import ProjectConfig
from credit_scoring.features.selection import (
    load_feature_matrix,
    log_selection_run,
    select_features,
    summary_markdown,
    write_selection,
)
from credit_scoring.stage import stage

log = logging.getLogger("credit_scoring.select")


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> float:
    config = conf.selection
    X, y = load_feature_matrix(Path(conf.paths.features) / "features_795.parquet")
    result = select_features(X, y, config)
    out = write_selection(result, conf.paths.selection, plot_top=config.plot_top)
    log.info("\n%s", summary_markdown(result))
    log_selection_run(result, config, out, conf.mlflow)
    return result.report["light"]["cv_auc_mean"]


if __name__ == "__main__":
    main()
