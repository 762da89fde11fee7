"""Does P(default) move in one direction when one raw field moves, all else fixed?

Used by the behavioural tests and by the registry gate: a model whose risk rises
with income (the prototype's defect) must not reach production.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from credit_scoring.models.pyfunc import batch_predictor

Direction = Literal[-1, 1]


@dataclass(frozen=True)
class MonotonicityReport:
    """Outcome of a sweep of ``feature`` over ``grid`` for ``n_rows`` applicants.

    ``violations`` counts the (applicant, grid step) pairs where the probability moved
    against ``direction`` by more than ``tolerance``; ``worst`` is the largest such move.
    ``finite`` says every probability was a finite number in [0, 1].
    """

    feature: str
    direction: int
    n_rows: int
    grid: tuple[float, ...]
    violations: int
    worst: float
    finite: bool
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.finite and self.violations == 0

    def __str__(self) -> str:
        trend = "non-increasing" if self.direction < 0 else "non-decreasing"
        verdict = "ok" if self.ok else f"{self.violations} violations (worst {self.worst:.3g})"
        return (
            f"P(default) {trend} in {self.feature} over {len(self.grid)} values "
            f"[{min(self.grid):g}, {max(self.grid):g}] for {self.n_rows} applicants: {verdict}"
            + ("" if self.finite else ", non-finite probabilities")
        )


def _probabilities(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """P(default) from a scikit-learn-style model or a loaded MLflow pyfunc model."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(frame))[:, 1]
    return np.asarray(batch_predictor(model)(frame)["probability"], dtype=float)


def check_monotone(
    model: Any,
    frame: pd.DataFrame,
    feature: str,
    direction: Direction,
    grid: Sequence[float],
    *,
    tolerance: float = 1e-9,
) -> MonotonicityReport:
    """Sweep raw field ``feature`` over ``grid`` for every row of ``frame`` and check the trend.

    ``model`` is anything with ``predict_proba(frame)`` (the pipeline, the
    ``CreditScoringModel``) or a loaded pyfunc model (``predict`` returning a
    ``probability`` column). ``direction`` -1 means P(default) must never increase as
    ``feature`` increases; +1 the opposite. All sweeps go through one ``predict`` call.
    """
    values = np.sort(np.asarray(grid, dtype=float))
    n = len(frame)
    swept = frame.loc[frame.index.repeat(len(values))].reset_index(drop=True)
    swept[feature] = np.tile(values, n)
    p = _probabilities(model, swept).reshape(n, len(values))
    steps = np.diff(p, axis=1) * direction
    against = -steps[steps < -tolerance]
    return MonotonicityReport(
        feature=feature,
        direction=int(direction),
        n_rows=n,
        grid=tuple(float(v) for v in values),
        violations=int(against.size),
        worst=float(against.max()) if against.size else 0.0,
        finite=bool(np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))),
        tolerance=tolerance,
    )
