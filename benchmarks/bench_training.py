"""Training stage: wall time of both model pipelines, and the full model's AUC next to the oracle's.

The oracle is the synthetic generator's own probability of default for each
applicant: no model can rank the test rows better except by chance, so the gap
between the full model's test AUC and the oracle AUC on the same rows is how much
signal training leaves on the table. Targets on the default data set (50,000 train
applicants): full-model test AUC within 0.03 of the oracle AUC, and the light model
(10 counter fields, no external scores or history) clearly below the full one.

Data are generated and featurized once into ``benchmarks/out/training`` and reused;
training runs in-process through ``train_model`` with the default configuration
(``conf/``), without DVC, logging to a scratch MLflow store next to the data.

    python -m benchmarks.bench_training                    # default size
    python -m benchmarks.bench_training --clients 5000     # quicker look
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir

from credit_scoring.logs import setup_logging

log = logging.getLogger("benchmarks.training")

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_ROOT = REPO_ROOT / "benchmarks" / "out" / "training"

#: Largest allowed gap between the oracle AUC and the full model's test AUC.
TARGET_ORACLE_GAP = 0.03


def ensure_features(n_clients: int, seed: int) -> Path:
    """``OUT_ROOT/<n>`` holding raw data, ``oracle.csv`` and ``features/``, built on first use."""
    from credit_scoring.data.synthetic import generate
    from credit_scoring.features.build import build_features

    root = OUT_ROOT / str(n_clients)
    if not (root / "raw" / "application_train.csv").is_file():
        log.info("generating %s train applicants into %s", f"{n_clients:,}", root / "raw")
        generate(root / "raw", n_clients=n_clients, seed=seed, oracle_path=root / "oracle.csv")
    if not (root / "features" / "train.parquet").is_file():
        build_features(root / "raw", root / "features")
    return root


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=None, help="default: conf/data/synthetic")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.cv_folds=3")
    args = parser.parse_args(argv)
    setup_logging()
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base=None):
        base = compose(config_name="config")
        n_clients = args.clients or base.data.n_clients
        root = ensure_features(n_clients, base.data.seed)
        overrides = [
            f"paths.features={root / 'features'}",
            f"paths.oracle={root / 'oracle.csv'}",
            f"paths.models={root / 'models'}",
            f"mlflow.tracking_uri=sqlite:///{root / 'mlflow.db'}",
            "model.feature_sets_file=null",  # the schema's own lists: no selection stage here
            *args.overrides,
        ]
        configs = {
            name: compose(config_name="config", overrides=[f"model={name}", *overrides])
            for name in ("full", "light")
        }

    from credit_scoring.models.train import configure_tracking, train_model

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.chdir(root)  # the scratch store's artifacts (./mlruns) land next to the data
    results, walls = {}, {}
    for name, cfg in configs.items():
        configure_tracking(cfg.mlflow)
        start = time.perf_counter()
        results[name] = train_model(cfg).metrics
        walls[name] = time.perf_counter() - start

    rows = [
        f"training, {n_clients:,} applicants, {configs['full'].train.cv_folds}-fold CV",
        f"{'model':<6} {'wall s':>8} {'fit s':>7} {'cv AUC':>7} {'test AUC':>9} "
        f"{'oracle AUC':>11} {'gap':>7} {'threshold':>10} {'cost/app':>9}",
    ]
    for name, m in results.items():
        oracle = m.get("oracle_auc", float("nan"))
        rows.append(
            f"{name:<6} {walls[name]:>8.1f} {m['fit_seconds']:>7.1f} {m['cv_auc_mean']:>7.4f} "
            f"{m['test_auc']:>9.4f} {oracle:>11.4f} {oracle - m['test_auc']:>7.4f} "
            f"{m['threshold']:>10.4f} {m['business_cost']:>9.4f}"
        )
    gap = results["full"].get("oracle_auc", float("nan")) - results["full"]["test_auc"]
    margin = results["full"]["test_auc"] - results["light"]["test_auc"]
    rows.append(
        f"target: full within {TARGET_ORACLE_GAP} of oracle -> gap {gap:.4f} "
        f"({'met' if gap <= TARGET_ORACLE_GAP else 'NOT met'}); "
        f"light below full -> margin {margin:.4f} ({'met' if margin > 0.02 else 'NOT met'})"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
