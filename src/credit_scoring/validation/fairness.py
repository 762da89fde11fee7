"""Fairness of a model's decisions across protected groups (gender, age band).

Per group: how many applicants, how many the model approves (P(default) below the
business threshold), the observed default rate, the mean predicted probability
(calibration by group) and the AUC within the group. Per attribute: the
disparate-impact ratio, the lowest group approval rate over the highest (the
"four-fifths rule" of US employment law, used by lenders as a screening test: below
0.8 the gap needs a business justification). Groups smaller than ``min_group_size``
are reported but left out of the ratio: three applicants say nothing about a group.

The same functions feed the training run's ``fairness/`` artifacts and the registry
gate, so what a reviewer reads is what the gate decided on.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from credit_scoring.features.application import application_features

if TYPE_CHECKING:
    from credit_scoring.config import FairnessConfig

#: Days per year used to turn DAYS_BIRTH into an age (the API's convention too).
DAYS_PER_YEAR = 365.25
#: Group label of applicants whose attribute is missing (or outside the vocabulary).
UNKNOWN_GROUP = "unknown"


@dataclass(frozen=True)
class Attribute:
    """One protected attribute: the raw field it is read from and, for ages, the bands.

    ``bands`` (years) turn DAYS_BIRTH into age bands: ``[25, 35]`` gives "<25",
    "25-35", "35+"; a band includes its lower bound. Without bands the field's values
    are the groups (CODE_GENDER "F", "M"); ``groups`` lists the values that count as
    groups, anything else is "unknown".
    """

    name: str
    column: str
    bands: tuple[float, ...] = ()
    groups: tuple[str, ...] = ()

    def labels(self) -> list[str]:
        """The group labels in display order (age bands ascending, else as configured)."""
        if not self.bands:
            return list(self.groups)
        b = [f"{v:g}" for v in self.bands]
        return [f"<{b[0]}", *(f"{lo}-{hi}" for lo, hi in itertools.pairwise(b)), f"{b[-1]}+"]

    def assign(self, frame: pd.DataFrame) -> pd.Series:
        """The group label of every row of ``frame`` (``"unknown"`` when it cannot be told)."""
        if self.column not in frame.columns:
            raise KeyError(f"fairness attribute {self.name!r} needs column {self.column}")
        values = frame[self.column]
        if self.bands:
            years = -pd.to_numeric(values, errors="coerce").astype(float) / DAYS_PER_YEAR
            codes = np.searchsorted(np.asarray(self.bands, dtype=float), years, side="right")
            labels = np.asarray(self.labels(), dtype=object)[codes]
            labels[np.isnan(years.to_numpy())] = UNKNOWN_GROUP
            return pd.Series(labels, index=frame.index, dtype=object)
        text = values.astype(object).where(values.notna(), None)
        return text.map(lambda v: v if v in self.groups else UNKNOWN_GROUP).astype(object)


@dataclass(frozen=True)
class FairnessGroups:
    """The protected attributes of ``validation.fairness`` and the smallest group compared."""

    attributes: tuple[Attribute, ...]
    min_group_size: int = 50

    @classmethod
    def from_config(cls, cfg: FairnessConfig) -> FairnessGroups:
        """From the typed ``validation.fairness`` group (checked there)."""
        attributes = cfg.attributes.items()
        return cls(
            tuple(Attribute(n, a.column, a.bands_years, a.groups) for n, a in attributes),
            cfg.min_group_size,
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The raw fields the attributes are read from (loaded even if not model inputs)."""
        return tuple(dict.fromkeys(a.column for a in self.attributes))


@dataclass(frozen=True)
class DisparateImpact:
    """Lowest over highest group approval rate of one attribute, naming both groups."""

    attribute: str
    ratio: float
    lowest: str
    highest: str
    lowest_rate: float
    highest_rate: float
    lowest_count: int = 0
    highest_count: int = 0

    def describe(self) -> str:
        return (
            f"{self.attribute}: approval rate of {self.lowest} {self.lowest_rate:.3f} vs "
            f"{self.highest} {self.highest_rate:.3f}, disparate impact {self.ratio:.3f}"
        )

    def upper_bound(self, confidence: float) -> float:
        """One-sided upper confidence bound of the ratio (Katz log method, +0.5 correction).

        A gate that fails a model on the point estimate alone would fail a fair model
        one time in three on a few hundred test rows; failing only when even the upper
        bound is below the minimum keeps the false alarms at ``1 − confidence``.
        """
        if not self.lowest_count or not self.highest_count:
            return self.ratio
        a, n1 = self.lowest_rate * self.lowest_count + 0.5, self.lowest_count + 0.5
        b, n2 = self.highest_rate * self.highest_count + 0.5, self.highest_count + 0.5
        log_ratio = np.log((a / n1) / (b / n2))
        se = np.sqrt(1 / a - 1 / n1 + 1 / b - 1 / n2)
        return float(min(np.exp(log_ratio + norm.ppf(confidence) * se), 1.0))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def group_table(
    attribute: Attribute,
    frame: pd.DataFrame,
    probability: np.ndarray,
    threshold: float,
    *,
    y: np.ndarray | None = None,
    min_group_size: int = 50,
) -> pd.DataFrame:
    """One row per group of ``attribute`` (configured groups first, then "unknown").

    Columns: ``attribute``, ``group``, ``count``, ``share``, ``approval_rate``,
    ``mean_predicted``, ``in_ratio`` (large enough to enter the disparate-impact ratio)
    and ``approval_ratio`` (its approval rate over the best group's); with outcomes
    ``y`` also ``default_rate``, ``calibration_gap`` (mean predicted − observed) and
    ``auc`` (NaN when the group holds one class only). Empty groups are left out.
    """
    groups = attribute.assign(frame).to_numpy()
    p = np.asarray(probability, dtype=float)
    approved = p < threshold
    rows = []
    for label in [*attribute.labels(), UNKNOWN_GROUP]:
        mask = groups == label
        n = int(mask.sum())
        if n == 0:
            continue
        row: dict[str, Any] = {
            "attribute": attribute.name,
            "group": label,
            "count": n,
            "share": n / len(p),
            "approval_rate": float(approved[mask].mean()),
            "mean_predicted": float(p[mask].mean()),
            "in_ratio": n >= min_group_size and label != UNKNOWN_GROUP,
        }
        if y is not None:
            yy = np.asarray(y, dtype=int)[mask]
            row["default_rate"] = float(yy.mean())
            row["calibration_gap"] = row["mean_predicted"] - row["default_rate"]
            row["auc"] = _auc(yy, p[mask])
        rows.append(row)
    table = pd.DataFrame(rows)
    best = (
        table.loc[table["in_ratio"], "approval_rate"].max() if table["in_ratio"].any() else np.nan
    )
    table["approval_ratio"] = table["approval_rate"] / best if best and best > 0 else np.nan
    return table


def disparate_impact(table: pd.DataFrame) -> DisparateImpact | None:
    """The ratio of one attribute's :func:`group_table`; ``None`` with fewer than two groups.

    With no approvals at all in every group the ratio is 1 (nobody is favoured).
    """
    counted = table[table["in_ratio"]]
    if len(counted) < 2:
        return None
    low = counted.loc[counted["approval_rate"].idxmin()]
    high = counted.loc[counted["approval_rate"].idxmax()]
    ratio = 1.0 if high["approval_rate"] == 0 else low["approval_rate"] / high["approval_rate"]
    return DisparateImpact(
        attribute=str(table["attribute"].iloc[0]),
        ratio=float(ratio),
        lowest=str(low["group"]),
        highest=str(high["group"]),
        lowest_rate=float(low["approval_rate"]),
        highest_rate=float(high["approval_rate"]),
        lowest_count=int(low["count"]),
        highest_count=int(high["count"]),
    )


@dataclass(frozen=True)
class FairnessReport:
    """The group tables of every attribute (one long table) and each attribute's ratio."""

    table: pd.DataFrame
    ratios: dict[str, DisparateImpact]

    @property
    def metrics(self) -> dict[str, float]:
        """``disparate_impact_NAME`` per attribute, for the run and metrics.json."""
        return {f"disparate_impact_{name}": di.ratio for name, di in self.ratios.items()}


def fairness_report(
    config: FairnessGroups,
    frame: pd.DataFrame,
    probability: np.ndarray,
    threshold: float,
    *,
    y: np.ndarray | None = None,
) -> FairnessReport:
    """Group tables and disparate-impact ratios of every configured attribute."""
    tables, ratios = [], {}
    for attribute in config.attributes:
        table = group_table(
            attribute, frame, probability, threshold, y=y, min_group_size=config.min_group_size
        )
        tables.append(table)
        di = disparate_impact(table)
        if di is not None:
            ratios[attribute.name] = di
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return FairnessReport(table, ratios)


def fairness_figure(report: FairnessReport, title: str) -> Figure:
    """Per attribute: approval rate, observed default rate and mean predicted, by group."""
    names = list(dict.fromkeys(report.table["attribute"]))
    fig = Figure(figsize=(6 * len(names), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(names), squeeze=False)[0])
    for ax, name in zip(axes, names, strict=True):
        t = report.table[report.table["attribute"] == name]
        x = np.arange(len(t))
        ax.bar(x - 0.27, t["approval_rate"], width=0.27, label="approval rate")
        if "default_rate" in t:
            ax.bar(x, t["default_rate"], width=0.27, label="observed default rate")
        ax.bar(x + 0.27, t["mean_predicted"], width=0.27, label="mean P(default)")
        ax.set_xticks(x, [f"{g}\n(n={n})" for g, n in zip(t["group"], t["count"], strict=True)])
        di = report.ratios.get(name)
        ax.set_title(f"{name}: disparate impact {di.ratio:.3f}" if di else name)
        ax.set_ylim(0, 1.2)
        ax.legend(loc="upper center", ncols=3, fontsize="small")
    fig.suptitle(f"Decisions by group - {title}")
    fig.tight_layout()
    return fig


def log_fairness(report: FairnessReport, title: str) -> None:
    """Log the table (CSV), the ratios (JSON) and the chart under ``fairness/`` in the run."""
    mlflow.log_text(report.table.to_csv(index=False), "fairness/groups.csv")
    mlflow.log_dict(
        {name: di.__dict__ for name, di in report.ratios.items()}, "fairness/disparate_impact.json"
    )
    mlflow.log_figure(fairness_figure(report, title), "fairness/groups.png")


def derived_from(features: Sequence[str], fields: Sequence[str]) -> tuple[str, ...]:
    """The encoded ``features`` computed from any raw field in ``fields``.

    CODE_GENDER gives its binary code; DAYS_BIRTH gives itself and DAYS_EMPLOYED_PERC
    (employment over age), a proxy of age that leaving DAYS_BIRTH out would keep.
    """
    wanted = set(fields)
    derived = application_features()
    return tuple(f for f in features if f in derived and wanted.intersection(derived[f].sources))


def without_fields(features: Sequence[str], fields: Sequence[str]) -> tuple[str, ...]:
    """``features`` without those computed from ``fields`` (the protected-field switch)."""
    drop = set(derived_from(features, fields))
    return tuple(f for f in features if f not in drop)
