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
    python -m benchmarks.bench_training --explain-gap      # and where the gap comes from
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from credit_scoring.config import ProjectConfig, compose_config
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
    parser.add_argument(
        "--explain-gap", action="store_true", help="also split the full model's gap to the oracle"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.cv_folds=3")
    args = parser.parse_args(argv)
    setup_logging()
    base = compose_config(conf_dir=REPO_ROOT / "conf")[1]
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
        name: compose_config([f"model={name}", *overrides], REPO_ROOT / "conf")[1]
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
    if args.explain_gap:
        print("\n".join(explain_gap(root, configs["full"], results["full"]["test_auc"])))


def explain_gap(root: Path, cfg: ProjectConfig, model_auc: float) -> list[str]:
    """Where the full model's distance to the oracle comes from, on its own test rows.

    The oracle file also holds each applicant's latent history risk ``h``. The full
    model's classifier (``build_classifier``: its parameters and monotone constraints;
    early stopping as in a CV fold, no calibration) is fitted
    on the 795 encoded features, once as they are and once with the true ``h`` as an
    extra column. Oracle minus "with h" is what learning the application part of the
    risk costs at this size; "with h" minus "as they are" is what estimating ``h`` from
    the history rows costs. The oracle without its history term shows how much of the
    ranking ``h`` carries.
    """
    import lightgbm
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from credit_scoring.models.pipeline import build_classifier

    oracle = pd.read_csv(root / "oracle.csv", index_col="SK_ID_CURR")
    if "history_risk" not in oracle.columns:
        raise SystemExit(f"{root / 'oracle.csv'} has no history_risk: delete {root} to regenerate")
    matrix = pd.read_parquet(root / "features" / "features_795.parquet")
    test_ids = pd.read_csv(root / "models" / "full" / "test_ids.csv")["SK_ID_CURR"]
    is_test = matrix["SK_ID_CURR"].isin(test_ids).to_numpy()
    truth = oracle.reindex(matrix["SK_ID_CURR"])
    h = truth["history_risk"].to_numpy()
    p = truth["probability"].clip(1e-12, 1 - 1e-12).to_numpy()
    y = matrix["TARGET"].to_numpy()
    features = matrix.drop(columns=["SK_ID_CURR", "TARGET"])
    t = cfg.train

    def fitted_auc(x: pd.DataFrame) -> float:
        x_fit, x_stop, y_fit, y_stop = train_test_split(
            x[~is_test],
            y[~is_test],
            test_size=t.early_stopping_share,
            stratify=y[~is_test],
            random_state=t.seed,
        )
        model = build_classifier(
            cfg.model.lgbm,
            list(x.columns),
            cfg.model.monotone_constraints,
            seed=t.seed,
            n_jobs=t.n_jobs,
        )
        model.fit(
            x_fit,
            y_fit,
            eval_X=x_stop,
            eval_y=y_stop,
            eval_metric="auc",
            callbacks=[lightgbm.early_stopping(t.early_stopping_rounds, verbose=False)],
        )
        return float(roc_auc_score(y[is_test], model.predict_proba(x[is_test])[:, 1]))

    without_history = np.log(p / (1 - p)) - cfg.data.risk.history * h
    aucs = {
        "oracle": roc_auc_score(y[is_test], p[is_test]),
        "oracle without its history term": roc_auc_score(y[is_test], without_history[is_test]),
        "LightGBM, 795 features + true h": fitted_auc(features.assign(TRUE_H=h)),
        "LightGBM, 795 features": fitted_auc(features),
        "the full model (product pipeline)": model_auc,
    }
    lines = [f"where the gap comes from ({int(is_test.sum()):,} test rows, AUC):"]
    lines += [f"  {name:<36} {auc:.4f}" for name, auc in aucs.items()]
    return lines


if __name__ == "__main__":
    main()
