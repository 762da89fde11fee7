"""The validation report of a trained model: the tables and curves a model-risk team reads.

On the held-out test split: Gini and KS (with their spread over the CV folds, from
the out-of-fold probabilities), the gains table, the KS and CAP curves, and the
stability of the score between the training and the test population (score PSI).
:func:`validation_report` computes it (pure), :func:`log_validation` writes it to
the active MLflow run under ``validation/`` as CSV tables and PNG figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from credit_scoring.validation.stats import (
    cap_curve,
    gains_table,
    gini,
    ks_curve,
    ks_statistic,
    psi_table,
)

if TYPE_CHECKING:
    from credit_scoring.config import ReportConfig


@dataclass(frozen=True)
class ValidationReport:
    """Summary metrics and the tables behind them (see the module docstring)."""

    metrics: dict[str, float]
    gains: pd.DataFrame
    score_psi: pd.DataFrame
    ks: pd.DataFrame
    cap: pd.DataFrame
    folds: pd.DataFrame


def _fold_metrics(y_train: np.ndarray, oof: np.ndarray, folds: np.ndarray | None) -> pd.DataFrame:
    """Gini and KS of each CV fold's out-of-fold probabilities."""
    if folds is None:
        return pd.DataFrame(columns=["fold", "gini", "ks"])
    rows = []
    for fold in np.unique(folds):
        mask = folds == fold
        rows.append(
            {
                "fold": int(fold),
                "gini": gini(y_train[mask], oof[mask]),
                "ks": ks_statistic(y_train[mask], oof[mask]),
            }
        )
    return pd.DataFrame(rows)


def validation_report(
    y_test: np.ndarray,
    p_test: np.ndarray,
    p_train: np.ndarray,
    *,
    y_train: np.ndarray,
    oof: np.ndarray,
    folds: np.ndarray | None,
    config: ReportConfig,
) -> ValidationReport:
    """The report of a model with test probabilities ``p_test`` and training ones ``p_train``.

    ``oof`` are the out-of-fold probabilities of the training rows and ``folds`` the
    CV fold of each row (``None`` skips the CV spread). The score PSI compares the
    model's probabilities on the training rows (the reference, whose deciles fix the
    bins) with those on the test rows: a large value means the two populations
    differ, so the test figures may not speak for the population the model learned.
    """
    folds_table = _fold_metrics(np.asarray(y_train, dtype=int), np.asarray(oof), folds)
    psi = psi_table(p_train, p_test, bins=config.psi_bins)
    gains = gains_table(y_test, p_test, bins=config.gains_bins)
    metrics = {
        "gini": gini(y_test, p_test),
        "ks": ks_statistic(y_test, p_test),
        "score_psi": float(psi["psi"].sum()),
        "top_decile_capture": float(gains["cum_defaults_share"].iloc[0]),
        "top_decile_lift": float(gains["lift"].iloc[0]),
    }
    if len(folds_table):
        for name in ("gini", "ks"):
            metrics[f"cv_{name}_mean"] = float(folds_table[name].mean())
            # Population std over the folds, as the CV AUC spread is computed.
            metrics[f"cv_{name}_std"] = float(folds_table[name].std(ddof=0))
    return ValidationReport(
        metrics=metrics,
        gains=gains,
        score_psi=psi,
        ks=ks_curve(y_test, p_test),
        cap=cap_curve(y_test, p_test),
        folds=folds_table,
    )


def ks_figure(curve: pd.DataFrame, ks: float, title: str) -> Figure:
    """Cumulative share of defaulters and of non-defaulters by P(default), KS marked."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.plot(curve["threshold"], curve["cum_non_defaults"], label="non-defaulters", color="C0")
    ax.plot(curve["threshold"], curve["cum_defaults"], label="defaulters", color="C3")
    at = int(curve["gap"].abs().to_numpy().argmax())
    x = curve["threshold"].iloc[at]
    ax.vlines(
        x,
        curve["cum_defaults"].iloc[at],
        curve["cum_non_defaults"].iloc[at],
        color="black",
        linestyle="--",
        label=f"KS {ks:.3f} at p = {x:.3f}",
    )
    ax.set(
        xlabel="P(default) threshold",
        ylabel="cumulative share with P(default) ≤ threshold",
        title=f"Kolmogorov–Smirnov - {title}",
        ylim=(0, 1.01),
    )
    ax.legend(loc="lower right")
    return fig


def cap_figure(cap: pd.DataFrame, default_rate: float, gini_value: float, title: str) -> Figure:
    """CAP curve against the random and the perfect model, accuracy ratio (Gini) shown."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot(cap["population_share"], cap["defaults_share"], label=f"model (AR {gini_value:.3f})")
    ax.plot([0, default_rate, 1], [0, 1, 1], color="green", linewidth=1, label="perfect")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="random")
    ax.set(
        xlabel="share of applicants refused (riskiest first)",
        ylabel="share of defaults caught",
        title=f"Cumulative accuracy profile - {title}",
    )
    ax.legend(loc="lower right")
    return fig


def gains_figure(gains: pd.DataFrame, title: str) -> Figure:
    """Observed default rate vs mean predicted P(default) per bin, and the lift."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    x = gains["bin"].to_numpy()
    ax.bar(x - 0.2, gains["default_rate"], width=0.4, label="observed default rate")
    ax.bar(x + 0.2, gains["mean_predicted"], width=0.4, label="mean predicted P(default)")
    ax.set(
        xlabel="bin (1 = riskiest)",
        ylabel="default rate",
        xticks=x,
        title=f"Gains table - {title}",
    )
    lift = ax.twinx()
    lift.plot(x, gains["lift"], color="black", marker="o", label="lift")
    lift.set_ylabel("lift (bin rate / overall rate)")
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = lift.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, loc="upper right")
    return fig


def psi_figure(table: pd.DataFrame, value: float, title: str) -> Figure:
    """Share of training and test applicants per training-score bin."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["reference_share"], width=0.4, label="train")
    ax.bar(x + 0.2, table["current_share"], width=0.4, label="test")
    ax.set_xticks(x, table["bin"], rotation=45, ha="right", fontsize="small")
    ax.set(ylabel="share of applicants", title=f"Score stability, PSI {value:.4f} - {title}")
    ax.legend()
    fig.tight_layout()
    return fig


def log_validation(report: ValidationReport, y_test: np.ndarray, title: str) -> None:
    """Log the report's tables (CSV) and figures (PNG) under ``validation/`` in the active run."""
    tables = {
        "gains": report.gains,
        "score_psi": report.score_psi,
        "ks_curve": report.ks,
        "cap_curve": report.cap,
        "cv_folds": report.folds,
    }
    for stem, table in tables.items():
        mlflow.log_text(table.to_csv(index=False), f"validation/{stem}.csv")
    m = report.metrics
    figures = {
        "ks.png": ks_figure(report.ks, m["ks"], title),
        "cap.png": cap_figure(report.cap, float(np.mean(y_test)), m["gini"], title),
        "gains.png": gains_figure(report.gains, title),
        "score_psi.png": psi_figure(report.score_psi, m["score_psi"], title),
    }
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"validation/{name}")
