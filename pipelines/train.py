"""DVC stage ``train@NAME``: train one model pipeline, log it to MLflow, export it.

    python pipelines/train.py model=light            # one run, writes models/light/
    python pipelines/train.py -m model=light hparams_search=optuna   # a sweep

In a sweep every trial is a nested MLflow run under one parent run (found by the
sweep directory) and nothing is exported; the CV AUC returned here is what the
Optuna sweeper maximizes.
"""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from credit_scoring.config import ProjectConfig
from credit_scoring.models.train import configure_tracking, sweep_parent_run, train_model
from credit_scoring.stage import stage


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> float:
    configure_tracking(conf.mlflow)
    hydra_cfg = HydraConfig.get()
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    parent = sweep_parent_run(hydra_cfg.sweep.dir, conf.model.name) if sweeping else None
    result = train_model(conf, parent_run_id=parent, export=not sweeping)
    return result.metrics["cv_auc_mean"]


if __name__ == "__main__":
    main()
