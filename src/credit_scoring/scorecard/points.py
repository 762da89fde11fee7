"""Scorecard points and risk grades from a probability of default.

Points follow the industry's log-odds scale: ``points = offset + factor · ln(odds)``
with ``odds = (1 − p) / p`` the odds of repayment. Two configured numbers fix the
scale: the anchor (``anchor_points`` at ``anchor_odds``, e.g. 600 points at 50:1)
and the points to double the odds (``pdo``, e.g. 20), so ``factor = pdo / ln 2`` and
``offset = anchor_points − factor · ln(anchor_odds)``. More points, less risk; every
``pdo`` points the odds of repayment double. Probabilities are clipped to
[``p_min``, 1 − ``p_min``] so certainty gives a finite number of points.

Grades cut the probability at configured upper bounds: grade k is the first whose
bound the probability is strictly below (A best); the last grade has no bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from credit_scoring.config import ScorecardConfig


@dataclass(frozen=True)
class Scorecard:
    """The points scale and the grade cut-offs (``scorecard`` config group)."""

    anchor_points: float
    anchor_odds: float
    pdo: float
    grades: tuple[str, ...]
    #: Upper P(default) bound of every grade but the last, increasing.
    cutoffs: tuple[float, ...]
    decimals: int = 0
    p_min: float = 1e-6

    def __post_init__(self) -> None:
        if self.pdo <= 0 or self.anchor_odds <= 0:
            raise ValueError("scorecard.points: pdo and anchor_odds must be positive")
        if len(self.grades) != len(self.cutoffs) + 1:
            raise ValueError(
                f"scorecard.grades: {len(self.grades)} grades need {len(self.grades) - 1} "
                f"cut-offs, got {len(self.cutoffs)}"
            )
        c = list(self.cutoffs)
        if c != sorted(set(c)) or (c and not (c[0] > 0 and c[-1] < 1)):
            raise ValueError(f"scorecard.grades cut-offs must increase inside (0, 1): {c}")

    @classmethod
    def from_config(cls, cfg: ScorecardConfig) -> Scorecard:
        """From the typed ``scorecard`` group (the last grade's open bound checked there)."""
        return cls(
            anchor_points=cfg.points.anchor_points,
            anchor_odds=cfg.points.anchor_odds,
            pdo=cfg.points.pdo,
            decimals=cfg.points.decimals,
            grades=tuple(g.grade for g in cfg.grades),
            cutoffs=tuple(g.max_probability for g in cfg.grades[:-1]),  # type: ignore[misc]
        )

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """Points at odds 1:1: ``anchor_points − factor · ln(anchor_odds)``."""
        return self.anchor_points - self.factor * math.log(self.anchor_odds)

    def points(self, probability: np.ndarray | float) -> np.ndarray:
        """Points of each P(default), unrounded (strictly decreasing in the probability)."""
        p = np.clip(np.asarray(probability, dtype=float), self.p_min, 1.0 - self.p_min)
        return self.offset + self.factor * (np.log1p(-p) - np.log(p))

    def rounded_points(self, probability: np.ndarray | float) -> np.ndarray:
        """Points as served: rounded to ``decimals`` (0: whole points)."""
        return np.round(self.points(probability), self.decimals)

    def grade(self, probability: np.ndarray | float) -> np.ndarray:
        """The grade of each P(default): the first whose cut-off it is strictly below."""
        p = np.asarray(probability, dtype=float)
        index = np.searchsorted(np.asarray(self.cutoffs), p, side="right")
        return np.asarray(self.grades, dtype=object)[index]

    def probability_at(self, points: float) -> float:
        """The P(default) that scores ``points`` (the inverse of :meth:`points`)."""
        return 1.0 / (1.0 + math.exp((points - self.offset) / self.factor))
