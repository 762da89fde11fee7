"""Train one model pipeline end to end and record it: ``train_model(conf) -> TrainResult``.

Order of work: hold out a stratified test split; cross-validate on the rest
(out-of-fold probabilities, early stopping inside folds); fit the calibration map
and choose the business threshold on the out-of-fold probabilities; refit on all
training rows with the CV-chosen number of trees; evaluate once on the test rows;
log everything to one MLflow run that spans the work (the training and test rows
as its datasets, metrics, figures, importances, config, the pyfunc model) and,
unless told not to, export the model and its metrics to ``paths.models/NAME`` for DVC.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml
from lightgbm import LGBMClassifier
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.types import ColSpec, Schema
from sklearn.metrics import roc_auc_score

from credit_scoring.contracts.model_io import (
    HISTORY_COLUMN,
    HISTORY_FEATURES,
    history_json,
    input_fields,
)
from credit_scoring.errors import SchemaError
from credit_scoring.features.application import ApplicationEncoder
from credit_scoring.io import atomic_dir, atomic_file
from credit_scoring.models import plots
from credit_scoring.models.calibration import fit_calibrator, reliability_curve
from credit_scoring.models.cost import cost_curve
from credit_scoring.models.cv import cross_validate, holdout_split
from credit_scoring.models.evaluation import evaluate
from credit_scoring.models.pipeline import build_classifier, build_pipeline, resolve_features
from credit_scoring.models.pyfunc import CreditScoringModel, log_pyfunc
from credit_scoring.registry import use_experiment
from credit_scoring.scorecard.outputs import DecisionAids
from credit_scoring.validation.fairness import FairnessGroups, without_fields
from credit_scoring.validation.review import review_model

if TYPE_CHECKING:
    from credit_scoring.config import MlflowConfig, ProjectConfig

log = logging.getLogger(__name__)

#: Tag grouping the trials of one hyper-parameter sweep under their parent run.
SWEEP_TAG = "credit_scoring.sweep"


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: where to find it and how good it is."""

    run_id: str
    model_uri: str
    experiment_id: str
    model_name: str
    registered_name: str
    metrics: dict[str, float]
    output_dir: Path | None = None
    test_ids: list[int] = field(default_factory=list, repr=False)
    #: The validation and fairness record behind the model card (``review.json``).
    review: dict[str, Any] = field(default_factory=dict, repr=False)


def configure_tracking(mlflow_cfg: MlflowConfig) -> None:
    """Point MLflow at the configured store; ``MLFLOW_TRACKING_URI`` in the environment wins."""
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or mlflow_cfg.tracking_uri)
    # Under `mlflow run` the run (and its experiment) already exist: start_run attaches
    # to MLFLOW_RUN_ID, and choosing another experiment here would make that fail.
    if not os.environ.get("MLFLOW_RUN_ID"):
        use_experiment(mlflow_cfg.experiment_name)


def sweep_parent_run(sweep_id: str, model_name: str) -> str:
    """The id of the parent run of sweep ``sweep_id`` in the active experiment.

    The first trial creates it (and closes it at once: it only groups the trials);
    later trials find it by its ``credit_scoring.sweep`` tag.
    """
    found = mlflow.search_runs(
        filter_string=f"tags.`{SWEEP_TAG}` = '{sweep_id}'", output_format="list"
    )
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    if parents:
        return parents[0].info.run_id
    with mlflow.start_run(
        run_name=f"sweep-{model_name}", tags={SWEEP_TAG: sweep_id, "model_name": model_name}
    ) as run:
        return run.info.run_id


def load_training_frame(path: Path, fields: tuple[str, ...]) -> pd.DataFrame:
    """SK_ID_CURR, TARGET and the columns the model reads, from the features stage output."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training features not found; run the features stage")
    wanted = ["SK_ID_CURR", "TARGET", *(f for f in fields if f != HISTORY_COLUMN)]
    if HISTORY_COLUMN in fields:
        wanted += list(HISTORY_FEATURES)
    available = set(pq.read_schema(path).names)
    missing = [c for c in wanted if c not in available]
    if missing:
        raise SchemaError(f"missing {len(missing)} columns, e.g. {missing[:5]}", file=str(path))
    frame = pd.read_parquet(path, columns=wanted)
    bad = ~frame["TARGET"].isin([0, 1])
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise SchemaError("TARGET must be 0 or 1", file=str(path), line=line, column="TARGET")
    return frame.reset_index(drop=True)


def _oracle_auc(path: Path, ids: pd.Series, y: np.ndarray) -> float | None:
    """AUC of the data generator's true probabilities on the same test rows, if known."""
    if not path.is_file():
        return None
    oracle = pd.read_csv(path).set_index("SK_ID_CURR")["probability"]
    if oracle.empty:  # real data: the file exists (a declared input) but knows nothing
        return None
    p = oracle.reindex(ids.to_numpy()).to_numpy(dtype=float)
    known = ~np.isnan(p)
    if known.sum() < len(p):
        log.warning("oracle: %d of %d test rows have no probability", (~known).sum(), len(p))
    return float(roc_auc_score(y[known], p[known])) if known.any() else None


def _data_version(lock: Path, raw: str) -> str:
    """The hash DVC locked for the raw data directory ``raw``, or "unknown".

    The generate stage outputs ``raw``; ``dvc.lock`` holds the md5 of what it wrote
    (or, for the Kaggle files, of what it checked), so two runs with the same tag
    learnt from the same bytes. "unknown" outside a DVC pipeline (no lock yet). Lock
    paths are relative to the lock's directory; both sides are resolved, so an
    absolute or unnormalised ``paths.raw`` names the same directory.
    """
    if not lock.is_file():
        return "unknown"
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages") or {}
    target = Path(raw).resolve()
    for record in stages.values():
        for out in record.get("outs") or []:
            if "path" in out and (lock.parent / str(out["path"])).resolve() == target:
                return str(out.get("md5", "unknown"))
    log.warning("%s records no output %s: the runs' data version is 'unknown'", lock, raw)
    return "unknown"


class _TrainingRows(PandasDataset):
    """MLflow's pandas dataset with the schema read from the dtypes and a digest given.

    MLflow infers a dataset's schema by testing every cell for None in Python (35 s
    for 40,000 rows of 800 columns, minutes at the real scale), and digests the first
    rows' values; the dtypes and a column-wise ``isna`` give the same schema at once,
    and the digest names the data version and the rows' keys, which is what makes two
    runs' datasets the same.
    """

    _KINDS: ClassVar[dict[str, str]] = {"f": "double", "i": "long", "u": "long", "b": "boolean"}

    @cached_property
    def schema(self) -> Schema:
        """Each column's MLflow type from its dtype; required when it has no missing value."""
        missing = self._df.isna().any()
        return Schema(
            [
                ColSpec(
                    self._KINDS.get(dtype.kind, "string"), str(name), required=not missing[name]
                )
                for name, dtype in self._df.dtypes.items()
            ]
        )


def _log_datasets(train: pd.DataFrame, test: pd.DataFrame, source: Path, version: str) -> None:
    """The training and held-out rows as the run's MLflow inputs, named with the data version.

    MLflow keeps each dataset's schema, row count and digest, so two runs on the same
    rows share a dataset and a new data version shows as a new one (the UI's Dataset
    column); the rows themselves stay in the features stage's Parquet file.
    """
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    name = f"train.parquet@{version[:12]}"
    origin = resolve_dataset_source(str(source.resolve()))
    for frame, context in ((train, "training"), (test, "evaluation")):
        keys = np.sort(frame["SK_ID_CURR"].to_numpy(np.int64))
        digest = hashlib.md5(version.encode() + keys.tobytes()).hexdigest()[:8]
        dataset = _TrainingRows(frame, source=origin, targets="TARGET", name=name, digest=digest)
        mlflow.log_input(dataset, context=context)


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip()


def _flat_params(conf: ProjectConfig) -> dict[str, Any]:
    """``model.*`` and ``train.*`` as dotted MLflow params (lists/dicts flattened)."""
    flat = pd.json_normalize(
        {"model": conf.model.model_dump(mode="json"), "train": conf.train.model_dump(mode="json")},
        sep=".",
    )
    return {k: v for k, v in flat.iloc[0].items() if v is not None}


def _importance(model: CreditScoringModel, rows: pd.DataFrame) -> pd.DataFrame:
    """Gain and mean |SHAP| per encoded feature, sorted by mean |SHAP|."""
    encoder, clf = model.pipeline[0], model.pipeline[-1]
    shap = clf.predict(encoder.transform(rows), pred_contrib=True)[:, :-1]
    return (
        pd.DataFrame(
            {
                "feature": list(encoder.get_feature_names_out()),
                "gain": clf.booster_.feature_importance(importance_type="gain"),
                "mean_abs_shap": np.abs(shap).mean(axis=0),
            }
        )
        .sort_values(["mean_abs_shap", "gain"], ascending=False)
        .reset_index(drop=True)
    )


def train_model(
    conf: ProjectConfig, *, parent_run_id: str | None = None, export: bool = True
) -> TrainResult:
    """Train, evaluate and log the model ``conf.model``; export it unless ``export`` is false.

    ``parent_run_id`` makes the run a nested child (hyper-parameter sweep trials).
    """
    m, t = conf.model, conf.train
    costs = {"fn_cost": t.costs.false_negative, "fp_cost": t.costs.false_positive}
    features = without_fields(
        resolve_features(m.feature_set, m.feature_sets_file), t.exclude_fields
    )
    fields = input_fields(features)
    data_path = Path(conf.paths.features) / "train.parquet"
    # The protected fields are read even when the model leaves them out: fairness needs them.
    protected = FairnessGroups.from_config(conf.validation.fairness).columns
    frame = load_training_frame(data_path, tuple(dict.fromkeys([*fields, *protected])))
    train, test = holdout_split(frame, "TARGET", test_size=t.test_size, seed=t.seed)
    y_train, y_test = train["TARGET"].to_numpy(int), test["TARGET"].to_numpy(int)
    log.info(
        "%s: %d features, %d train rows, %d test rows (default rate %.3f)",
        m.name,
        len(features),
        len(train),
        len(test),
        y_train.mean(),
    )

    # The run spans the training it records (its duration is the training's), and
    # names the data it learnt from and was tested on (the UI's Dataset column).
    data_version = _data_version(Path(t.data_version_file), conf.paths.raw)
    with mlflow.start_run(
        run_name=f"train-{m.name}", nested=parent_run_id is not None, parent_run_id=parent_run_id
    ) as run:
        _log_datasets(train, test, data_path, data_version)
        lgbm, constraints = m.lgbm, m.monotone_constraints

        def make_classifier() -> LGBMClassifier:
            return build_classifier(lgbm, features, constraints, seed=t.seed, n_jobs=t.n_jobs)

        # The encoder is stateless (vocabularies come from the schema), so encoding the
        # training rows once for all folds leaks nothing between folds.
        encoded = ApplicationEncoder(features=features).fit_transform(train)
        cv = cross_validate(
            encoded,
            y_train,
            make_classifier,
            folds=t.cv_folds,
            early_stopping_rounds=t.early_stopping_rounds,
            early_stopping_share=t.early_stopping_share,
            seed=t.seed,
        )
        log.info("CV AUC %.4f ± %.4f, refit with %d trees", cv.auc_mean, cv.auc_std, cv.refit_trees)
        calibrator = fit_calibrator(t.calibration, cv.oof, y_train)
        oof = calibrator.predict(cv.oof) if calibrator is not None else cv.oof
        oof_costs = cost_curve(y_train, oof, **costs)

        pipeline = build_pipeline(
            features, make_classifier().set_params(n_estimators=cv.refit_trees)
        )
        start = time.perf_counter()
        pipeline.fit(train, y_train)
        fit_seconds = time.perf_counter() - start
        # The served model predicts on its own thread count: a model server scales with
        # workers, and OpenMP threads competing for busy cores are many times slower.
        pipeline[-1].set_params(n_jobs=t.predict_n_jobs)

        model = CreditScoringModel(
            pipeline,
            calibrator=calibrator,
            threshold=oof_costs.best_threshold,
            registered_name=m.registered_name,
            run_id=run.info.run_id,
            fields=fields,
            aids=DecisionAids.from_config(conf.scorecard, features),
        )
        start = time.perf_counter()
        p_test = model.predict_proba(test)[:, 1]
        predict_seconds = time.perf_counter() - start
        p_train = model.predict_proba(train)[:, 1]
        scores = evaluate(
            y_test,
            p_test,
            threshold=model.threshold,
            beta=t.fbeta_beta,
            calibration_bins=t.calibration_bins,
            **costs,
        )
        metrics = {
            "test_auc": scores.pop("auc"),
            "cv_auc_mean": cv.auc_mean,
            "cv_auc_std": cv.auc_std,
            "train_auc": float(roc_auc_score(y_train, p_train)),
            "threshold": model.threshold,
            **scores,
            "oof_business_cost": oof_costs.best_cost,
            "fit_seconds": fit_seconds,
            "cv_seconds": cv.seconds,
            "predict_seconds": predict_seconds,
            "n_features": float(len(features)),
            "refit_trees": float(cv.refit_trees),
        }
        review = review_model(
            conf.validation,
            title=m.registered_name,
            features=features,
            threshold=model.threshold,
            test=test,
            y_test=y_test,
            p_test=p_test,
            y_train=y_train,
            p_train=p_train,
            oof=cv.oof,
            folds=cv.folds,
            constraints=constraints,
            costs=costs,
            refit=lambda kept: build_pipeline(
                kept,
                build_classifier(lgbm, kept, constraints, seed=t.seed, n_jobs=t.n_jobs).set_params(
                    n_estimators=cv.refit_trees
                ),
            ).fit(train, y_train),
        )
        metrics.update(review.metrics)
        oracle = _oracle_auc(Path(conf.paths.oracle), test["SK_ID_CURR"], y_test)
        if oracle is not None:
            metrics["oracle_auc"] = oracle
        log.info(
            "%s: test AUC %.4f (oracle %s), threshold %.4f, cost/applicant %.4f",
            m.name,
            metrics["test_auc"],
            oracle,
            model.threshold,
            metrics["business_cost"],
        )

        tags = {
            "model_name": m.name,
            "registered_name": m.registered_name,
            "data_version": data_version,
            "git_commit": _git_commit(),
        }
        mlflow.set_tags(tags)
        mlflow.log_params(_flat_params(conf))
        mlflow.log_metrics(metrics)
        for fold, auc in enumerate(cv.fold_aucs, start=1):
            mlflow.log_metric("cv_fold_auc", auc, step=fold)

        reliability = reliability_curve(y_test, p_test, bins=t.calibration_bins)
        curves = plots.curve_data(y_test, p_test, reliability, oof_costs)
        _log_figures(model, curves, y_test, p_test, metrics, test, t.shap_sample, t.importance_top)
        mlflow.log_text("\n".join(features) + "\n", "features.txt")
        resolved = yaml.safe_dump(conf.model_dump(mode="json"), sort_keys=False)
        mlflow.log_text(resolved, "config.yaml")
        example = _input_example(test.head(3), fields)
        info = log_pyfunc(model, example)
        experiment_id = run.info.experiment_id

    result = TrainResult(
        run_id=run.info.run_id,
        model_uri=info.model_uri,
        experiment_id=experiment_id,
        model_name=m.name,
        registered_name=m.registered_name,
        metrics=metrics,
        test_ids=test["SK_ID_CURR"].astype(int).tolist(),
        review=review.record,
    )
    if export:
        out_dir = Path(conf.paths.models) / m.name
        _export(result, curves, out_dir, tags)
        result = TrainResult(**{**result.__dict__, "output_dir": out_dir})
    return result


def _input_example(rows: pd.DataFrame, fields: tuple[str, ...]) -> pd.DataFrame:
    """A few test rows in the record layout (``HISTORY`` as JSON for the full model)."""
    example = rows.reindex(columns=[f for f in fields if f != HISTORY_COLUMN])
    if HISTORY_COLUMN in fields:
        example = pd.concat([example, history_json(rows)], axis=1)
    return example.reset_index(drop=True)


def _log_figures(
    model: CreditScoringModel,
    curves: dict[str, pd.DataFrame],
    y_test: np.ndarray,
    p_test: np.ndarray,
    metrics: dict[str, float],
    test: pd.DataFrame,
    shap_sample: int,
    top: int,
) -> None:
    """ROC, PR, cost, reliability, confusion and importance figures, plus their data."""
    title = model.registered_name
    figures = {
        "plots/roc.png": plots.roc_figure(curves["roc"], title),
        "plots/pr.png": plots.pr_figure(curves["pr"], float(y_test.mean()), title),
        "plots/cost_threshold.png": plots.cost_figure(curves["cost"], model.threshold, title),
        "plots/reliability.png": plots.reliability_figure(
            curves["calibration"], metrics["ece"], title
        ),
        "plots/confusion_matrix.png": plots.confusion_figure(
            y_test, (p_test >= model.threshold).astype(int), title
        ),
    }
    rows = test.sample(n=min(shap_sample, len(test)), random_state=0)
    importance = _importance(model, rows)
    figures["importance/mean_abs_shap.png"] = plots.importance_figure(
        importance.head(top), "mean_abs_shap", title
    )
    figures["importance/gain.png"] = plots.importance_figure(
        importance.sort_values("gain", ascending=False).head(top), "gain", title
    )
    for path, fig in figures.items():
        mlflow.log_figure(fig, path)
    mlflow.log_table(importance, "importance/importance.json")
    mlflow.log_text(importance.to_csv(index=False), "importance/importance.csv")
    for stem, frame in curves.items():
        mlflow.log_text(frame.to_csv(index=False), f"plots/{stem}.csv")


def _export(
    result: TrainResult, curves: dict[str, pd.DataFrame], out_dir: Path, tags: dict[str, str]
) -> None:
    """Write the DVC outputs of ``models/NAME``: model dir, metrics, run record, test ids, plots."""
    with atomic_dir(out_dir / "model") as scratch:
        mlflow.artifacts.download_artifacts(artifact_uri=result.model_uri, dst_path=str(scratch))
    # Run times stay in the MLflow run: metrics.json is a committed DVC metric, and a
    # rerun on another machine (or a busier one) must leave it as it was.
    scores = {k: v for k, v in result.metrics.items() if not k.endswith("_seconds")}
    with atomic_file(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(scores, indent=2, sort_keys=True) + "\n")
    with atomic_file(out_dir / "review.json") as tmp:
        tmp.write_text(json.dumps(result.review, indent=2, default=str) + "\n")
    with atomic_file(out_dir / "test_ids.csv") as tmp:
        pd.DataFrame({"SK_ID_CURR": result.test_ids}).to_csv(tmp, index=False)
    record = {
        "run_id": result.run_id,
        "model_uri": result.model_uri,
        "experiment_id": result.experiment_id,
        "model_name": result.model_name,
        "registered_name": result.registered_name,
        "test_ids": str(out_dir / "test_ids.csv"),
        "metrics": scores,
        "data_version": tags["data_version"],
        "git_commit": tags["git_commit"],
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with atomic_file(out_dir / "run.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    plots.write_plot_data(curves, out_dir / "plots")
    log.info("exported %s to %s", result.model_uri, out_dir)
