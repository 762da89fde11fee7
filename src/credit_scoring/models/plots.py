"""Evaluation figures for the MLflow run and plot data files for ``dvc plots``.

Figures are plain ``matplotlib.figure.Figure`` objects, not pyplot ones: no global
figure registry to leak memory in long sweeps, no GUI backend needed on a headless
machine. They are returned, not saved: the caller logs them with ``mlflow.log_figure``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    auc,
    precision_recall_curve,
    roc_curve,
)

from credit_scoring.io import atomic_file
from credit_scoring.models.calibration import ReliabilityCurve
from credit_scoring.models.cost import CostCurve


def curve_data(
    y_true: np.ndarray, probability: np.ndarray, reliability: ReliabilityCurve, costs: CostCurve
) -> dict[str, pd.DataFrame]:
    """The points behind each curve, keyed by file stem (roc, pr, calibration, cost)."""
    fpr, tpr, _ = roc_curve(y_true, probability)
    precision, recall, _ = precision_recall_curve(y_true, probability)
    # A cost curve has one point per distinct probability; 500 evenly spaced ones draw it.
    keep = np.unique(np.linspace(0, len(costs.thresholds) - 1, 500).astype(int))
    return {
        "roc": pd.DataFrame({"fpr": fpr, "tpr": tpr}),
        "pr": pd.DataFrame({"recall": recall, "precision": precision}),
        "calibration": pd.DataFrame(
            {
                "mean_predicted": reliability.mean_predicted,
                "fraction_positive": reliability.fraction_positive,
                "count": reliability.count,
            }
        ),
        "cost": pd.DataFrame(
            {
                "threshold": costs.thresholds[keep],
                "cost_per_applicant": costs.cost_per_applicant[keep],
            }
        ),
    }


def write_plot_data(curves: dict[str, pd.DataFrame], out_dir: Path) -> None:
    """Write each curve as ``out_dir/<stem>.csv`` (one atomic file each)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stem, frame in curves.items():
        with atomic_file(out_dir / f"{stem}.csv") as tmp:
            frame.to_csv(tmp, index=False)


def roc_figure(roc: pd.DataFrame, title: str) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot(roc["fpr"], roc["tpr"], label=f"AUC {auc(roc['fpr'], roc['tpr']):.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC - {title}")
    ax.legend(loc="lower right")
    return fig


def pr_figure(pr: pd.DataFrame, base_rate: float, title: str) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot(pr["recall"], pr["precision"])
    ax.axhline(base_rate, linestyle="--", color="grey", linewidth=1, label="default rate")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall - {title}")
    ax.legend(loc="upper right")
    return fig


def cost_figure(cost: pd.DataFrame, threshold: float, title: str) -> Figure:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(cost["threshold"], cost["cost_per_applicant"])
    ax.axvline(threshold, color="red", linestyle="--", label=f"chosen {threshold:.3f}")
    ax.axvline(0.5, color="grey", linestyle=":", label="0.5")
    ax.set(
        xlabel="threshold (refuse if P(default) >= threshold)",
        ylabel="business cost per applicant",
        title=f"Cost vs threshold (out-of-fold) - {title}",
    )
    ax.legend()
    return fig


def reliability_figure(calibration: pd.DataFrame, ece: float, title: str) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    ax.plot(
        calibration["mean_predicted"],
        calibration["fraction_positive"],
        marker="o",
        label=f"model (ECE {ece:.4f})",
    )
    ax.set(xlabel="mean predicted P(default)", ylabel="observed default rate")
    ax.set_title(f"Reliability - {title}")
    ax.legend(loc="upper left")
    return fig


def confusion_figure(y_true: np.ndarray, refused: np.ndarray, title: str) -> Figure:
    fig = Figure(figsize=(4.5, 4))
    ax = fig.subplots()
    ConfusionMatrixDisplay.from_predictions(
        y_true, refused, labels=[0, 1], display_labels=["repaid", "default"], ax=ax, colorbar=False
    )
    ax.set(xlabel="predicted (refused = default)", ylabel="actual")
    ax.set_title(f"Confusion at threshold - {title}")
    return fig


def importance_figure(importance: pd.DataFrame, column: str, title: str) -> Figure:
    """Horizontal bars of ``importance[column]`` (already sorted, top rows only)."""
    fig = Figure(figsize=(7, max(3.0, 0.25 * len(importance))))
    ax = fig.subplots()
    ax.barh(importance["feature"][::-1], importance[column][::-1])
    ax.set(xlabel=column)
    # A figure title spans the whole width: long feature names squeeze the axes title.
    fig.suptitle(f"Feature importance ({column}) - {title}", fontsize="medium")
    fig.tight_layout()
    return fig
