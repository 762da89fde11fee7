"""The served model: an MLflow ``PythonModel`` over the fitted pipeline, and its logging.

Input (raw fields, the dataset's own names and units; any optional field may be
missing or null):

* light model: the 10 ``LIGHT_FIELDS``; the 4 ``MANDATORY_FIELDS`` amounts are
  required, the 6 others optional. Numbers as double; CODE_GENDER, FLAG_OWN_CAR and
  FLAG_OWN_REALTY as strings ("F", "Y").
* full model: every raw application column of ``application_train`` except
  SK_ID_CURR and TARGET (120 columns, same required/optional split), plus one
  optional string column ``HISTORY``: a JSON object mapping history aggregate names
  (as in ``features_795``, e.g. ``"BURO_DAYS_CREDIT_MIN"``) to numbers; an absent key
  or an absent column means "no history" (NaN). One string instead of 550 numeric
  columns keeps MLflow's per-column schema enforcement at a few milliseconds per
  call (it costs ~45 ms for ~800 columns). Build it with :func:`history_json`.

Output: one row per input row with ``probability`` (P(default), calibrated),
``score`` (round((1 - p) * 100, 1)), ``decision`` ("granted" if p < threshold else
"refused"), ``threshold``, ``model_name`` ("credit-scoring-NAME") and
``model_version`` (the training run id). Params ``explain`` (bool, default false)
and ``top`` (int, default 10): with explain, ``base_value`` (log-odds) and
``contributions`` (JSON list of {"feature", "value", "contribution"} for the ``top``
encoded features with the largest |SHAP|, sorted). SHAP values come from LightGBM's
``pred_contrib`` and explain the booster's raw log-odds: ``base_value`` + the sum of
all contributions = the raw log-odds, before any calibration map.

The pickled model refers to the installed ``credit_scoring`` package (the
encoder's code); serve it with ``--env-manager local`` from this project's venv.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from sklearn.isotonic import IsotonicRegression
from sklearn.pipeline import Pipeline

from credit_scoring.data.schema import MANDATORY_FIELDS, TABLES, features_795
from credit_scoring.errors import SchemaError

#: The optional JSON column carrying a client's history aggregates (full model).
HISTORY_COLUMN = "HISTORY"

_HISTORY_PREFIXES = (
    "BURO_",
    "ACTIVE_",
    "CLOSED_",
    "PREV_",
    "APPROVED_",
    "REFUSED_",
    "POS_",
    "INSTAL_",
    "CC_",
)
#: The 550 history aggregates of the 795 features (everything not built from the application).
HISTORY_FEATURES: tuple[str, ...] = tuple(
    f for f in features_795() if f.startswith(_HISTORY_PREFIXES)
)

_APPLICATION = TABLES["application_train"]
#: Raw application fields a model can take, in schema order, with their kind.
APPLICATION_FIELDS: dict[str, str] = {
    c.name: c.kind for c in _APPLICATION.columns if c.name not in ("SK_ID_CURR", "TARGET")
}

#: Packages the pickled model needs; pinned to the training environment's versions so
#: MLflow does not have to infer them (which loads the model in a subprocess).
_REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow")


def input_fields(features: Sequence[str]) -> tuple[str, ...]:
    """The raw input columns a model on ``features`` declares (see the module docstring).

    A feature set made only of raw application fields (the light model) takes exactly
    those fields; any other set takes every application field, plus ``HISTORY`` when it
    uses history aggregates.
    """
    if all(f in APPLICATION_FIELDS for f in features):
        return tuple(features)
    history = any(f in HISTORY_FEATURES for f in features)
    return (*APPLICATION_FIELDS, *((HISTORY_COLUMN,) if history else ()))


def model_signature(fields: Sequence[str]) -> ModelSignature:
    """The MLflow signature of a model taking ``fields`` (see the module docstring)."""

    def spec(name: str) -> ColSpec:
        kind = "string" if name == HISTORY_COLUMN or APPLICATION_FIELDS[name] == "str" else "double"
        return ColSpec(kind, name, required=name in MANDATORY_FIELDS)

    outputs = Schema(
        [
            ColSpec("double", "probability"),
            ColSpec("double", "score"),
            ColSpec("string", "decision"),
            ColSpec("double", "threshold"),
            ColSpec("string", "model_name"),
            ColSpec("string", "model_version"),
            ColSpec("double", "base_value", required=False),
            ColSpec("string", "contributions", required=False),
        ]
    )
    params = ParamSchema([ParamSpec("explain", "boolean", False), ParamSpec("top", "long", 10)])
    return ModelSignature(inputs=Schema([spec(f) for f in fields]), outputs=outputs, params=params)


def history_json(frame: pd.DataFrame) -> pd.Series:
    """The ``HISTORY`` column for ``frame``'s history aggregate columns (NaN keys left out)."""
    present = [f for f in HISTORY_FEATURES if f in frame.columns]
    values = frame[present].to_numpy(dtype=float)
    rows = (
        json.dumps({k: v for k, v in zip(present, row, strict=True) if not math.isnan(v)})
        for row in values
    )
    return pd.Series(list(rows), index=frame.index, name=HISTORY_COLUMN, dtype=object)


class CreditScoringModel(mlflow.pyfunc.PythonModel):
    """P(default), score and decision from raw fields; optional SHAP explanations.

    Wraps the fitted Pipeline(ApplicationEncoder -> LGBMClassifier), the optional
    isotonic calibration map and the business threshold, so that one artifact holds
    everything a decision depends on.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        calibrator: IsotonicRegression | None,
        threshold: float,
        registered_name: str,
        run_id: str,
        fields: Sequence[str],
    ) -> None:
        self.pipeline = pipeline
        self.calibrator = calibrator
        self.threshold = float(threshold)
        self.registered_name = registered_name
        self.run_id = run_id
        self.fields = tuple(fields)

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Move everything loaded so far out of the garbage collector's reach.

        A model server's heap (MLflow, pandas, scikit-learn, the model) holds
        millions of objects; every full collection walked them all and stalled one
        request in a hundred by about 100 ms. This hook is the only one this code
        has inside MLflow's server process, so it also runs wherever the model is
        loaded (publish, registry, notebooks): there, objects that existed at load
        time are only skipped by the cycle collector; reference counting still
        frees them.
        """
        gc.freeze()

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with its ``HISTORY`` JSON column (if any) expanded into aggregate columns.

        MLflow's schema enforcement drops absent optional columns instead of filling
        them; the encoder treats an absent field as missing, so nothing else is needed.
        """
        if HISTORY_COLUMN not in frame.columns:
            return frame
        return pd.concat([frame.drop(columns=HISTORY_COLUMN), self._history(frame)], axis=1)

    def _history(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The history aggregates held as JSON objects in the ``HISTORY`` column."""
        known = set(HISTORY_FEATURES)
        records = []
        for line, text in enumerate(frame[HISTORY_COLUMN], start=1):
            record = json.loads(text) if isinstance(text, str) and text else {}
            unknown = set(record) - known
            if unknown:
                raise SchemaError(
                    "unknown history features",
                    line=line,
                    column=HISTORY_COLUMN,
                    key=sorted(unknown),
                )
            records.append(record)
        history = pd.DataFrame.from_records(records, columns=list(HISTORY_FEATURES))
        return history.set_axis(frame.index).astype(float)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """scikit-learn-style (n, 2) probabilities of raw rows, calibrated when configured."""
        return self._proba(self.prepare(frame))

    def _proba(self, prepared: pd.DataFrame) -> np.ndarray:
        raw = self.pipeline.predict_proba(prepared)[:, 1]
        p = self.calibrator.predict(raw) if self.calibrator is not None else raw
        return np.column_stack([1.0 - p, p])

    def predict(
        self,
        context: Any,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Score ``model_input`` (see the module docstring for columns and params)."""
        params = params or {}
        prepared = self.prepare(model_input)
        p = self._proba(prepared)[:, 1]
        out = pd.DataFrame(
            {
                "probability": p,
                "score": np.round((1.0 - p) * 100.0, 1),
                "decision": np.where(p < self.threshold, "granted", "refused"),
                "threshold": self.threshold,
                "model_name": self.registered_name,
                "model_version": self.run_id,
            },
            index=model_input.index,
        )
        if params.get("explain"):
            base, contributions = self.explain(prepared, top=int(params.get("top", 10)))
            out["base_value"] = base
            out["contributions"] = contributions
        return out

    def explain(self, prepared: pd.DataFrame, *, top: int) -> tuple[np.ndarray, list[str]]:
        """Base log-odds and the ``top`` largest |SHAP| contributions per row, as JSON."""
        encoder, classifier = self.pipeline[0], self.pipeline[-1]
        values = encoder.transform(prepared)
        contrib = classifier.predict(values, pred_contrib=True)
        names = list(encoder.get_feature_names_out())
        shap = contrib[:, :-1]
        order = np.argsort(-np.abs(shap), axis=1, kind="stable")[:, : max(top, 0)]
        texts = []
        for i, idx in enumerate(order):
            texts.append(
                json.dumps(
                    [
                        {
                            "feature": names[j],
                            "value": None if math.isnan(values[i, j]) else float(values[i, j]),
                            "contribution": float(shap[i, j]),
                        }
                        for j in idx
                    ]
                )
            )
        return contrib[:, -1], texts


def log_pyfunc(model: CreditScoringModel, example: pd.DataFrame) -> ModelInfo:
    """Log ``model`` as ``name="model"`` in the active run, with signature and input example.

    ``example`` holds a few raw rows in the model's input layout (``HISTORY`` included
    for the full model); the logged ``serving_input_example.json`` can be POSTed as is.
    """
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        signature=model_signature(model.fields),
        input_example=(example, {"explain": True, "top": 5}),
        pip_requirements=[f"{name}=={version(name)}" for name in _REQUIREMENTS],
    )
