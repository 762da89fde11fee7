"""Rank the 795 encoded features and choose the light model's feature set.

Two importances answer two questions. LightGBM gain, averaged over stratified CV
folds, is cheap and covers every feature: it says what the trees lean on.
Permutation importance (drop in held-out ROC AUC when a column is shuffled) says
what the model actually *needs*, but costs one prediction per feature and repeat,
so it is computed only for the best ``top_n`` features by gain.

Ranking is a quick look, not a model: it runs on a seeded stratified sample of at
most ``max_rows`` rows (the report says how many), binned once into one LightGBM
``Dataset`` that every fold trains on subsets of, as training's CV does. At the real
scale that is what keeps the stage a small share of the pipeline: binning 795
columns per fold and the full row count bought a few thousandths of AUC in a
report whose ranking stays the same.

The light set is either the seed's ten counter fields (``strategy="fixed"``) or
the ``k`` best-ranked features an applicant can state at the counter
(``strategy="top_k"``). Both sets are then scored on the *same* folds, so the
report's "share of the full model's AUC the light set keeps" compares like with like.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from tqdm import tqdm

from credit_scoring.data.schema import LIGHT_FIELDS, TABLES, feature_name, features_795
from credit_scoring.errors import CreditScoringError, SchemaError
from credit_scoring.io import atomic_dir
from credit_scoring.models.cv import train_params

if TYPE_CHECKING:
    from credit_scoring.config import MlflowConfig, SelectionConfig, SelectionStrategy

log = logging.getLogger(__name__)


RANKING_FILE = "feature_ranking.csv"
FEATURE_SETS_FILE = "feature_sets.json"
REPORT_FILE = "report.json"
SUMMARY_FILE = "summary.md"
PLOT_FILE = "top_features.png"


class SelectionConfigError(CreditScoringError):
    """The selection config names something the feature set does not have."""


@dataclass(frozen=True)
class SelectionResult:
    """What the stage writes: the ranking table, the named feature sets, the report."""

    ranking: pd.DataFrame
    feature_sets: dict[str, list[str]]
    report: dict[str, Any]


def counter_features(fields: Sequence[str], features: Sequence[str]) -> list[str]:
    """Expand counter fields into encoded feature names, in ``features`` order.

    An encoded name (``AMT_CREDIT``, ``CODE_GENDER``, ``PAYMENT_RATE``) stands for
    itself; a categorical application column stands for its one-hot features, named
    from the schema's vocabulary (never from the data). Anything else is a typo in
    the config and is refused rather than silently ignored.
    """
    known = set(features)
    application = TABLES["application_train"]
    wanted: set[str] = set()
    for name in fields:
        if name in known:
            wanted.add(name)
            continue
        try:
            column = application.column(name)
        except KeyError:
            column = None
        if column is None or column.vocabulary is None:
            raise SelectionConfigError(
                f"selection.counter_fields: {name!r} is neither one of the 795 features "
                "nor a categorical application column"
            )
        wanted.update(
            one_hot
            for one_hot in (feature_name(f"{name}_{value}") for value in column.vocabulary)
            if one_hot in known
        )
    return [f for f in features if f in wanted]


def load_feature_matrix(path: Path | str) -> tuple[pd.DataFrame, pd.Series]:
    """Read ``features_795.parquet`` as (X with the 795 columns in order, TARGET).

    Raises ``SchemaError`` naming the file and the first missing column, so a stale
    or foreign file fails here rather than as a shape error deep in LightGBM.

    The values go from Parquet straight into one float32 block, a row group at a
    time: read through pandas, the full-scale matrix (307k x 795) was first a float64
    frame, then copied to float32, which took several times the block's memory and
    most of the stage's load time. float32 because LightGBM bins the values anyway;
    column-major because each column's values are then one contiguous write, and
    LightGBM takes such a block without copying it.
    """
    path = Path(path)
    if not path.exists():
        raise SchemaError("feature matrix not found (run the features stage)", file=str(path))
    names = list(features_795())
    matrix = pq.ParquetFile(path)
    present = set(matrix.schema_arrow.names)
    for column in ("SK_ID_CURR", "TARGET", *names):
        if column not in present:
            raise SchemaError("missing column", file=str(path), column=column)
    n_rows = matrix.metadata.num_rows
    block = np.empty((n_rows, len(names)), dtype=np.float32, order="F")
    target = np.empty(n_rows, dtype=np.int8)
    start = 0
    for group in range(matrix.metadata.num_row_groups):
        table = matrix.read_row_group(group, columns=["TARGET", *names])
        stop = start + table.num_rows
        # One Array per column: ChunkedArray.to_numpy takes a path some 50x slower.
        labels = table.column(0).combine_chunks()
        if labels.null_count:
            row = start + int(np.flatnonzero(labels.is_null().to_numpy(zero_copy_only=False))[0])
            raise SchemaError(f"TARGET is missing on row {row}", file=str(path), column="TARGET")
        target[start:stop] = labels.to_numpy()
        for j, values in enumerate(table.columns[1:]):
            block[start:stop, j] = values.combine_chunks().to_numpy(zero_copy_only=False)
        start = stop
    # copy=False: the frame is a view of the block (pandas would otherwise copy it).
    X = pd.DataFrame(block, columns=names, copy=False)
    return X, pd.Series(target, name="TARGET")


def ranking_rows(y: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """The rows ranking uses: all of them, or a seeded stratified sample of ``max_rows``.

    Stratified, so the sample keeps the default rate (a few percent: an unlucky plain
    sample would move the AUCs); sorted, so the rows keep the file's order and the
    same inputs always give the same sample.
    """
    everything = np.arange(len(y))
    if max_rows is None or max_rows >= len(y):
        return everything
    sample, _ = train_test_split(everything, train_size=max_rows, random_state=seed, stratify=y)
    return np.sort(sample)


class _ColumnsOverContext(ClassifierMixin, BaseEstimator):
    """A fitted booster that sees ``context`` with only some columns replaced by ``X``'s.

    ``permutation_importance`` shuffles every column it is given; handing it just the
    top-N columns through this view keeps the model's 795 inputs intact while only
    those N are permuted, which is what makes the permutation step cheap.
    """

    def __init__(self, booster: lgb.Booster, context: np.ndarray, columns: list[int]) -> None:
        self.booster = booster
        self.context = context
        self.columns = columns

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def fit(self, X: np.ndarray, y: np.ndarray) -> _ColumnsOverContext:
        """No-op: the wrapped booster is already trained; sklearn's API check requires ``fit``."""
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class) of the wrapped booster on ``context`` with ``X``'s columns swapped in."""
        full = self.context.copy(order="F")
        full[:, self.columns] = X
        positive = self.booster.predict(full)
        return np.column_stack([1 - positive, positive])


def _cv_auc(
    values: np.ndarray,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    config: SelectionConfig,
    label: str,
) -> tuple[list[float], list[lgb.Booster]]:
    """Train one quick model per fold; return the held-out AUCs and the boosters.

    The rows are binned once, into one ``Dataset``, and each fold trains on a subset
    of it (as ``lgb.cv`` and training's CV do): binning 795 columns again for every
    fold was most of the stage's time. The bin boundaries then come from every
    ranked row's values (never the target), the same for every fold.
    """
    classifier = lgb.LGBMClassifier(**config.lgbm, random_state=config.seed)
    params, rounds = train_params(classifier)
    binned = lgb.Dataset(values, y, params=params, free_raw_data=False).construct()
    aucs, boosters = [], []
    for train_idx, valid_idx in tqdm(folds, desc=f"CV {label}", unit="fold", leave=False):
        booster = lgb.train(params, binned.subset(train_idx), num_boost_round=rounds)
        proba = booster.predict(values[valid_idx])
        aucs.append(float(roc_auc_score(y[valid_idx], proba)))
        boosters.append(booster)
    return aucs, boosters


def choose_light(
    ranking: pd.DataFrame, strategy: SelectionStrategy, k: int, counter: Sequence[str]
) -> list[str]:
    """The light feature set: the seed's ten fields, or the ``k`` best-ranked counter features."""
    if strategy == "fixed":
        return list(LIGHT_FIELDS)
    eligible = ranking[ranking["feature"].isin(set(counter))].sort_values("rank")
    if len(eligible) < k:
        raise SelectionConfigError(
            f"selection.k={k} but only {len(eligible)} counter features exist"
        )
    return eligible["feature"].head(k).tolist()


def select_features(X: pd.DataFrame, y: pd.Series, config: SelectionConfig) -> SelectionResult:
    """Rank ``X``'s features, choose the light set and measure what it keeps of the full AUC."""
    started = time.perf_counter()
    features = list(X.columns)
    counter = counter_features(config.counter_fields, features)
    rows = ranking_rows(y.to_numpy(), config.max_rows, config.seed)
    # One float32 block (no copy for load_feature_matrix's frame), then the sampled rows.
    values = X.to_numpy(dtype=np.float32)
    if len(rows) < len(values):
        values = values[rows]
    target = y.to_numpy()[rows]
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    folds = list(splitter.split(np.zeros(len(target)), target))

    full_aucs, full_boosters = _cv_auc(values, target, folds, config, "full")
    gains = np.vstack([b.feature_importance(importance_type="gain") for b in full_boosters])
    ranking = pd.DataFrame(
        {
            "feature": features,
            "gain_mean": gains.mean(axis=0),
            # n-1: the folds are a sample of the splits we could have drawn.
            "gain_std": gains.std(axis=0, ddof=1),
        }
    )
    # A stable sort keeps the declared feature order among ties (e.g. unused features).
    ranking = ranking.sort_values("gain_mean", ascending=False, kind="stable")
    ranking["rank"] = np.arange(1, len(ranking) + 1)

    # The first fold's validation rows are the held-out split: its model never saw them.
    top = ranking["feature"].head(config.permutation.top_n).tolist()
    top_columns = [features.index(f) for f in top]
    _, valid_idx = folds[0]
    holdout = values[valid_idx]
    permuted = permutation_importance(
        _ColumnsOverContext(full_boosters[0], holdout, top_columns),
        holdout[:, top_columns],
        target[valid_idx],
        scoring="roc_auc",
        n_repeats=config.permutation.n_repeats,
        random_state=config.seed,
    )
    perm = pd.DataFrame(
        {
            "feature": top,
            "permutation_importance_mean": permuted.importances_mean,
            "permutation_importance_std": permuted.importances_std,
        }
    )
    ranking = ranking.merge(perm, on="feature", how="left").reset_index(drop=True)

    light = choose_light(ranking, config.strategy, config.k, counter)
    missing = [f for f in light if f not in X.columns]
    if missing:
        raise SelectionConfigError(f"light features absent from the feature matrix: {missing}")
    light_columns = [features.index(f) for f in light]
    light_aucs, _ = _cv_auc(values[:, light_columns], target, folds, config, "light")

    full_mean, light_mean = float(np.mean(full_aucs)), float(np.mean(light_aucs))
    report = {
        "strategy": config.strategy,
        # The rows every figure below comes from, and how many the matrix has.
        "n_rows": len(target),
        "n_rows_available": len(y),
        "positive_rate": float(target.mean()),
        "folds": config.folds,
        "full": {
            "n_features": len(features),
            "cv_auc_mean": full_mean,
            "cv_auc_std": float(np.std(full_aucs, ddof=1)),
            "cv_auc_folds": full_aucs,
        },
        "light": {
            "n_features": len(light),
            "features": light,
            "cv_auc_mean": light_mean,
            "cv_auc_std": float(np.std(light_aucs, ddof=1)),
            "cv_auc_folds": light_aucs,
        },
        "auc_ratio": light_mean / full_mean,
        # AUC 0.5 is chance: the share of the full model's lift over chance is the
        # fairer "how much does the light set keep" figure.
        "lift_retained": (light_mean - 0.5) / (full_mean - 0.5) if full_mean > 0.5 else None,
    }
    # The run time goes to the log, not the report: report.json is a committed DVC
    # metric, and a rerun on another machine must leave it as it was.
    log.info(
        "light set (%s, %d features) keeps CV AUC %.4f of the full set's %.4f (%.1f s)",
        config.strategy,
        len(light),
        light_mean,
        full_mean,
        time.perf_counter() - started,
    )
    return SelectionResult(ranking, {"full": features, "light": light}, report)


def summary_markdown(result: SelectionResult, top: int = 10) -> str:
    """A short human summary of the report, for the log and the MLflow run."""
    rep = result.report
    lift = rep["lift_retained"]
    available = rep.get("n_rows_available", rep["n_rows"])
    sampled = f" of {available:,}, a stratified sample" if available > rep["n_rows"] else ""
    lines = [
        "# Feature selection",
        "",
        f"- rows: {rep['n_rows']:,}{sampled} (positive rate {rep['positive_rate']:.2%}), "
        f"{rep['folds']}-fold CV",
        f"- full set: {rep['full']['n_features']} features, CV AUC "
        f"{rep['full']['cv_auc_mean']:.4f} ± {rep['full']['cv_auc_std']:.4f}",
        f"- light set ({rep['strategy']}): {rep['light']['n_features']} features, CV AUC "
        f"{rep['light']['cv_auc_mean']:.4f} ± {rep['light']['cv_auc_std']:.4f}",
        f"- light / full AUC: {rep['auc_ratio']:.1%}"
        + (f"; lift over chance kept: {lift:.1%}" if lift is not None else ""),
        "",
        "| rank | feature | gain (mean) | permutation ΔAUC |",
        "| ---: | --- | ---: | ---: |",
    ]
    for row in result.ranking.head(top).itertuples():
        perm = row.permutation_importance_mean
        perm_text = "" if pd.isna(perm) else f"{perm:.4f}"
        lines.append(f"| {row.rank} | {row.feature} | {row.gain_mean:.1f} | {perm_text} |")
    return "\n".join(lines) + "\n"


def importance_figure(ranking: pd.DataFrame, top: int) -> Figure:
    """Horizontal bar chart of the ``top`` features by mean gain, with fold spread."""
    head = ranking.head(top).iloc[::-1]
    fig = Figure(figsize=(8, max(3.0, 0.28 * len(head) + 1)), layout="constrained")
    ax = fig.subplots()
    ax.barh(head["feature"], head["gain_mean"], xerr=head["gain_std"], color="#3b6ea5")
    ax.set_xlabel("LightGBM gain, mean over CV folds")
    ax.set_title(f"Top {len(head)} features by gain")
    ax.tick_params(axis="y", labelsize=7)
    return fig


def write_selection(result: SelectionResult, out_dir: Path | str, plot_top: int = 30) -> Path:
    """Write ranking, feature sets, report, summary and chart, all or nothing."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        result.ranking.to_csv(tmp / RANKING_FILE, index=False)
        (tmp / FEATURE_SETS_FILE).write_text(json.dumps(result.feature_sets, indent=2) + "\n")
        (tmp / REPORT_FILE).write_text(json.dumps(result.report, indent=2) + "\n")
        (tmp / SUMMARY_FILE).write_text(summary_markdown(result))
        importance_figure(result.ranking, plot_top).savefig(tmp / PLOT_FILE, dpi=110)
    return out_dir


def log_selection_run(
    result: SelectionResult, config: SelectionConfig, out_dir: Path, mlflow_cfg: MlflowConfig
) -> None:
    """Record the selection as an MLflow run named ``select``: settings, AUCs, every output."""
    import mlflow

    from credit_scoring.registry import resolve_tracking_uri, use_experiment

    mlflow.set_tracking_uri(resolve_tracking_uri(mlflow_cfg.tracking_uri))
    use_experiment(mlflow_cfg.experiment_name)
    report = result.report
    params = config.model_dump(exclude={"counter_fields", "permutation", "lgbm"})
    params |= {f"permutation_{k}": v for k, v in config.permutation.model_dump().items()}
    params |= {f"lgbm_{k}": v for k, v in config.lgbm.items()}
    with mlflow.start_run(run_name="select", tags={"stage": "select"}):
        mlflow.log_params(params)
        mlflow.log_metrics(
            {
                "full_cv_auc_mean": report["full"]["cv_auc_mean"],
                "light_cv_auc_mean": report["light"]["cv_auc_mean"],
                "auc_ratio": report["auc_ratio"],
            }
        )
        mlflow.log_artifacts(str(out_dir), artifact_path="selection")
