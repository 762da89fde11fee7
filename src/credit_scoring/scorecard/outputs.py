"""What the served model adds to each answer: points, grade and reason codes.

:class:`DecisionAids` is built at training time from the ``scorecard`` config and the
model's encoded features, pickled with the model, and turns a probability, a
decision and the SHAP row of every applicant into the ``points``, ``grade`` and
``reasons`` output columns. ``reasons`` is a JSON list (one string per row, like
``contributions``): ``[{"code", "text", "contribution"}, ...]``, contributions in
log-odds of default, largest first (see :mod:`credit_scoring.scorecard.reasons`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from credit_scoring.scorecard.points import Scorecard
from credit_scoring.scorecard.reasons import ReasonCatalog, ReasonCoder

if TYPE_CHECKING:
    from credit_scoring.config import ScorecardConfig


@dataclass(frozen=True)
class DecisionAids:
    """The points scale, the grades and the reason coder of one model."""

    scorecard: Scorecard
    coder: ReasonCoder

    @classmethod
    def from_config(cls, cfg: ScorecardConfig, features: Sequence[str]) -> DecisionAids:
        """From the typed ``scorecard`` group, for a model on encoded ``features``."""
        return cls(
            Scorecard.from_config(cfg), ReasonCatalog.from_config(cfg.reasons).coder(features)
        )

    def reasons(self, shap: np.ndarray, refused: np.ndarray) -> list[str]:
        """The ``reasons`` column: per row, the JSON list of its principal reasons.

        ``shap`` is the (rows, features) block of LightGBM's ``pred_contrib`` (the bias
        column left out); ``refused`` says which rows were refused.
        """
        return [json.dumps(r) for r in self.coder.reasons(shap, refused)]
