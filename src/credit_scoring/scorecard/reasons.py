"""Reason codes: the principal reasons behind a score, in plain words, from SHAP values.

LightGBM's ``pred_contrib`` gives one signed contribution (log-odds of default) per
encoded feature. A person does not think in encoded features: the eight one-hot
columns of NAME_EDUCATION_TYPE are one fact about the applicant, and fifty
aggregates of late instalments are one fact about their history. So contributions
are summed per *reason* of a configured catalog (``scorecard.reasons.catalog``):
each entry has a stable ``code``, a sentence written from the data dictionary and
glob patterns naming what it covers. A feature is matched by its *key*: the raw
field of an application feature (``NAME_EDUCATION_TYPE`` for all its one-hot
columns), the ratio's own name for the five ratios, the aggregate's own name for
history features (``INSTAL_DPD_MEAN``). The first entry that matches wins, and every
feature of a model must match one (checked when the model is built, not when it is
serving).

Per applicant, up to ``top`` reasons, largest first, ties in catalog order:

- refused: only reasons that raised the risk (contribution > 0), what a refusal
  notice must state;
- granted: the reasons that moved the score most either way (largest |contribution|,
  signed), so the applicant sees what helped too.

Sums: the contributions of *all* reasons of an applicant (listed or not) add up to
the sum of its feature contributions, so ``base_value`` + Σ reasons = the booster's
raw log-odds of default, before the calibration map; the listed reasons are the
largest terms of that sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import numpy as np

from credit_scoring.features.application import application_features

if TYPE_CHECKING:
    from credit_scoring.config import ReasonsConfig


@dataclass(frozen=True)
class Reason:
    """One catalog entry: a stable code, its sentence and the feature keys it covers."""

    code: str
    reason: str
    patterns: tuple[str, ...]

    def covers(self, key: str) -> bool:
        return any(fnmatchcase(key, pattern) for pattern in self.patterns)


def feature_key(feature: str) -> str:
    """What the catalog matches a feature by: its raw field, or its own name.

    One-hot columns, binary codes and raw numbers give their raw field; ratios and
    history aggregates have no single raw field and give their own name.
    """
    spec = application_features().get(feature)
    if spec is None or spec.kind == "ratio":
        return feature
    return spec.sources[0]


@dataclass(frozen=True)
class ReasonCatalog:
    """The ``scorecard.reasons`` config: how many reasons to give, and the catalog."""

    entries: tuple[Reason, ...]
    top: int = 4

    @classmethod
    def from_config(cls, cfg: ReasonsConfig) -> ReasonCatalog:
        """From the typed ``scorecard.reasons`` block."""
        return cls(tuple(Reason(e.code, e.reason, e.covers) for e in cfg.catalog), cfg.top)

    def coder(self, features: Sequence[str]) -> ReasonCoder:
        """The coder for a model on ``features``; every feature must match an entry."""
        member, unmatched = [], []
        for feature in features:
            key = feature_key(feature)
            index = next((i for i, e in enumerate(self.entries) if e.covers(key)), None)
            if index is None:
                unmatched.append(feature)
            member.append(-1 if index is None else index)
        if unmatched:
            raise ValueError(
                f"scorecard.reasons.catalog covers no entry for {len(unmatched)} features, "
                f"e.g. {unmatched[:5]}: add a pattern for their key "
                f"(e.g. {feature_key(unmatched[0])!r})"
            )
        used = sorted(set(member))
        remap = {old: new for new, old in enumerate(used)}
        return ReasonCoder(
            codes=tuple(self.entries[i].code for i in used),
            sentences=tuple(self.entries[i].reason for i in used),
            member=np.asarray([remap[m] for m in member], dtype=np.intp),
            top=self.top,
        )


@dataclass(frozen=True)
class ReasonCoder:
    """Turns a model's SHAP matrix into reason codes (built by :meth:`ReasonCatalog.coder`).

    ``member[j]`` is the reason of feature ``j``; reasons are in catalog order.
    Small and picklable: it travels inside the served model.
    """

    codes: tuple[str, ...]
    sentences: tuple[str, ...]
    member: np.ndarray
    top: int = 4

    def contributions(self, shap: np.ndarray) -> np.ndarray:
        """(rows, reasons) sums of the (rows, features) contributions ``shap`` per reason."""
        shap = np.asarray(shap, dtype=float)
        if shap.ndim != 2 or shap.shape[1] != len(self.member):
            raise ValueError(
                f"expected contributions of {len(self.member)} features, got shape {shap.shape}"
            )
        grouping = np.zeros((len(self.member), len(self.codes)))
        grouping[np.arange(len(self.member)), self.member] = 1.0
        return shap @ grouping

    def reasons(self, shap: np.ndarray, refused: np.ndarray) -> list[list[dict[str, Any]]]:
        """Per row, up to ``top`` reasons ``{"code", "text", "contribution"}``.

        ``refused`` rows get risk-raising reasons only; the others the largest either
        way (see the module docstring). Zero contributions are never listed.
        """
        totals = self.contributions(shap)
        refused = np.asarray(refused, dtype=bool)[:, None]
        size = np.where(refused, totals, np.abs(totals))
        eligible = np.where(refused, totals > 0, totals != 0)
        # A stable sort on -size keeps catalog order (the column order) among equals;
        # ineligible reasons sort last and are cut below.
        order = np.argsort(np.where(eligible, -size, np.inf), axis=1, kind="stable")
        order = order[:, : self.top]
        keep = np.take_along_axis(eligible, order, axis=1)
        values = np.take_along_axis(totals, order, axis=1)
        return [
            [
                {"code": self.codes[j], "text": self.sentences[j], "contribution": float(v)}
                for j, v, k in zip(idx, vals, ok, strict=True)
                if k
            ]
            for idx, vals, ok in zip(order, values, keep, strict=True)
        ]
