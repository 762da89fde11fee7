"""The model pipeline: ApplicationEncoder -> LGBMClassifier, built from the model config.

The pipeline takes raw application fields (and history aggregates, passed through)
so the model that is logged, registered and served is the one that was evaluated:
there is no separate encoding step a caller could get wrong.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from credit_scoring.data.schema import LIGHT_FIELDS, features_795
from credit_scoring.errors import CreditScoringError
from credit_scoring.features.application import ApplicationEncoder

log = logging.getLogger(__name__)

#: Feature sets the schema defines, used when no selection output is configured.
SCHEMA_FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "full": features_795(),
    "light": LIGHT_FIELDS,
}


class ModelConfigError(CreditScoringError):
    """The model configuration names something that does not exist (a feature, a set, a file)."""


def resolve_features(
    feature_set: str, feature_sets_file: str | Path | None = None
) -> tuple[str, ...]:
    """The ordered encoded feature names of ``feature_set``.

    With ``feature_sets_file`` (the selection stage's ``feature_sets.json``, keys
    ``full``/``light``) the list is read from it; otherwise the schema's list is used,
    so training works before, and without, the selection stage.
    """
    known = set(features_795())
    if feature_sets_file is None:
        if feature_set not in SCHEMA_FEATURE_SETS:
            raise ModelConfigError(
                f"unknown feature set {feature_set!r}; the schema defines "
                f"{sorted(SCHEMA_FEATURE_SETS)} (or configure model.feature_sets_file)"
            )
        return SCHEMA_FEATURE_SETS[feature_set]
    path = Path(feature_sets_file)
    if not path.is_file():
        raise ModelConfigError(f"{path}: feature sets file not found (model.feature_sets_file)")
    sets = json.loads(path.read_text())
    if feature_set not in sets:
        raise ModelConfigError(f"{path}: no key {feature_set!r} (has {sorted(sets)})")
    features = tuple(sets[feature_set])
    unknown = [f for f in features if f not in known]
    if unknown or not features:
        raise ModelConfigError(f"{path}: {feature_set!r} lists unknown features {unknown[:5]}")
    log.info("feature set %r: %d features from %s", feature_set, len(features), path)
    return features


def monotone_vector(features: Sequence[str], constraints: Mapping[str, int]) -> list[int]:
    """LightGBM's ``monotone_constraints`` list, one entry per feature in column order.

    ``constraints`` maps encoded feature names to -1 (P(default) non-increasing in the
    feature) or +1 (non-decreasing). Names must be real feature names (a typo would
    silently drop a constraint); constraints on features outside this set are skipped,
    so one constraint list serves every feature set.
    """
    known = set(features_795())
    for name, direction in constraints.items():
        if name not in known:
            raise ModelConfigError(f"monotone constraint on unknown feature {name!r}")
        if direction not in (-1, 0, 1):
            raise ModelConfigError(f"monotone constraint {name}={direction!r}: use -1, 0 or 1")
    return [int(constraints.get(f, 0)) for f in features]


def build_classifier(
    lgbm_params: Mapping[str, Any],
    features: Sequence[str],
    constraints: Mapping[str, int],
    *,
    seed: int,
    n_jobs: int,
) -> LGBMClassifier:
    """An unfitted LGBMClassifier with the configured parameters and monotone constraints.

    Class weighting (``is_unbalance``/``scale_pos_weight``) is refused: it distorts the
    probabilities the business threshold and the calibration error are computed from.
    """
    params = dict(lgbm_params)
    distorting = {
        "is_unbalance": bool(params.get("is_unbalance")),
        "scale_pos_weight": params.get("scale_pos_weight", 1.0) != 1.0,
        "class_weight": params.get("class_weight") is not None,
    }
    for name, set_ in distorting.items():
        if set_:
            raise ModelConfigError(f"model.lgbm.{name} distorts predicted probabilities; unset it")
    vector = monotone_vector(features, constraints)
    if any(vector):
        params["monotone_constraints"] = vector
    return LGBMClassifier(random_state=seed, n_jobs=n_jobs, **params)


def build_pipeline(features: Sequence[str], classifier: LGBMClassifier) -> Pipeline:
    """Pipeline(ApplicationEncoder(features) -> classifier): raw fields in, P(default) out."""
    return Pipeline(
        [("encoder", ApplicationEncoder(features=list(features))), ("classifier", classifier)]
    )
