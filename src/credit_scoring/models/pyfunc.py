"""The served model: an MLflow ``PythonModel`` over the fitted pipeline, and its logging.

Its input and output are declared in :mod:`credit_scoring.contracts.model_io` (fields,
kinds, required vs optional, the two forms of the history, the output columns); this
module only scores what that contract's one conversion hands it.

Two ways in, one computation:

* ``mlflow.pyfunc.load_model(uri).predict(frame, params)``: MLflow checks that the
  required columns are present, then :meth:`CreditScoringModel.predict` conforms and
  scores; bad input raises an ``MlflowException`` naming the column (HTTP 400 from
  ``mlflow models serve``).
* :func:`batch_predictor`: the same model object without MLflow's per-cell schema
  enforcement, for batches (publish, the registry gate, ``credit-scoring score``).

Models trained with a scorecard (``aids``) add ``points`` and ``grade`` to every answer,
and ``reasons`` unless the param ``reasons`` is false (see :mod:`credit_scoring.scorecard`).
Params ``explain`` (bool, default false) and ``top`` (int, default 10): with explain,
``base_value`` (log-odds) and ``contributions`` (JSON list of {"feature", "value",
"contribution"} for the ``top`` encoded features with the largest |SHAP|, sorted). SHAP
values come from LightGBM's ``pred_contrib`` and explain the booster's raw log-odds:
``base_value`` + the sum of all contributions = the raw log-odds, before calibration.

The logged model carries this package's code (MLflow ``code_paths``), so it loads and
serves in any environment holding its pinned ``requirements.txt``, without the project
installed.
"""

from __future__ import annotations

import functools
import gc
import json
import math
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PyFuncModel
from sklearn.isotonic import IsotonicRegression
from sklearn.pipeline import Pipeline

import credit_scoring
from credit_scoring.contracts import model_io
from credit_scoring.contracts.model_io import ModelInput
from credit_scoring.errors import SchemaError
from credit_scoring.io import usable_cpus
from credit_scoring.scorecard.outputs import DecisionAids

#: Packages the pickled model needs; pinned to the training environment's versions so
#: MLflow does not have to infer them (which loads the model in a subprocess).
_REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow")

#: A batch predictor: any caller's frame in, the contract's output frame out.
Predictor = Callable[[pd.DataFrame], pd.DataFrame]


class CreditScoringModel(mlflow.pyfunc.PythonModel):
    """P(default), score and decision from raw fields; optional SHAP explanations.

    Wraps the fitted Pipeline(ApplicationEncoder -> LGBMClassifier), the optional
    isotonic calibration map and the business threshold, so that one artifact holds
    everything a decision depends on. ``fields`` are the model's record fields
    (:func:`credit_scoring.contracts.model_io.input_fields`); ``aids`` the scorecard
    (points, grades, reason codes) its answers carry.
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
        aids: DecisionAids | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.aids = aids
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

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The classifier's float64 matrix for any caller's ``frame`` (conformed first).

        The encoder turns the application fields into their features (history features
        come out missing, their columns being absent); the history aggregates are then
        written into their columns straight from the conformed matrix, without ever
        building a 670-column DataFrame.
        """
        conformed = model_io.conform(frame, self.fields)
        return self._encode(conformed)

    def _encode(self, conformed: ModelInput) -> np.ndarray:
        encoder = self.pipeline[0]
        values = encoder.transform(conformed.application)
        if conformed.history is not None:
            out, source = self._history_positions()
            if out.size:
                values[:, out] = conformed.history[:, source]
        return values

    def _history_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Columns of the encoded matrix holding history aggregates, and their source columns."""
        cached = getattr(self, "_positions", None)
        if cached is None:
            names = list(self.pipeline[0].get_feature_names_out())
            position = {name: j for j, name in enumerate(model_io.HISTORY_FEATURES)}
            pairs = [(i, position[n]) for i, n in enumerate(names) if n in position]
            cached = (
                np.asarray([i for i, _ in pairs], dtype=np.intp),
                np.asarray([j for _, j in pairs], dtype=np.intp),
            )
            self._positions = cached
        return cached

    def _probability(self, values: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Calibrated P(default) of encoded rows, straight from the booster.

        ``LGBMClassifier.predict_proba`` re-processes and stringifies every training
        parameter on each call (the 795 monotone constraints included): ~1 ms, most of a
        one-row call. The booster gives the same probabilities (same trees, same best
        iteration) without that, with ``threads`` threads (``None``: the classifier's
        own count, the served model's). Each row's answer is the same for any count.
        """
        classifier = self.pipeline[-1]
        if threads is None:
            threads = classifier.n_jobs if classifier.n_jobs and classifier.n_jobs > 0 else 0
        raw = classifier.booster_.predict(values, num_threads=threads)
        return self.calibrator.predict(raw) if self.calibrator is not None else raw

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """scikit-learn-style (n, 2) probabilities of any caller's rows, calibrated if set."""
        p = self._probability(self.encode(frame))
        return np.column_stack([1.0 - p, p])

    def score(
        self,
        frame: pd.DataFrame,
        *,
        explain: bool = False,
        top: int = 10,
        reasons: bool = False,
        threads: int | None = None,
    ) -> pd.DataFrame:
        """The contract's output for any caller's ``frame``; bad input raises ``SchemaError``.

        ``reasons`` adds the reason codes (one SHAP pass, shared with ``explain``); off by
        default here, where batch callers (publish, the gate) need no explanations.
        ``threads``: the booster's threads (``None``: the served model's setting).
        """
        values = self.encode(frame)
        p = self._probability(values, threads)
        out = model_io.decision_frame(
            p,
            threshold=self.threshold,
            model_name=self.registered_name,
            model_version=self.run_id,
            index=frame.index,
        )
        aids: DecisionAids | None = getattr(self, "aids", None)
        reasons = reasons and aids is not None
        contrib = (
            self.pipeline[-1].predict(values, pred_contrib=True) if explain or reasons else None
        )
        if aids is not None:
            out["points"] = aids.scorecard.rounded_points(p)
            out["grade"] = aids.scorecard.grade(p)
            if reasons:
                out["reasons"] = aids.reasons(contrib[:, :-1], p >= self.threshold)
        if explain:
            out["base_value"], out["contributions"] = self.explain(values, top=top, contrib=contrib)
        return out

    def predict(
        self,
        context: Any,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Score ``model_input`` (see :mod:`credit_scoring.contracts.model_io`).

        A ``SchemaError`` becomes an ``MlflowException`` with ``INVALID_PARAMETER_VALUE``,
        which the model server answers with HTTP 400 and the message naming the column.
        """
        params = params or {}
        try:
            return self.score(
                model_input,
                explain=bool(params.get("explain")),
                top=int(params.get("top", 10)),
                reasons=bool(params.get("reasons", True)),
            )
        except SchemaError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc

    def explain(
        self, values: np.ndarray, *, top: int, contrib: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """Base log-odds and the ``top`` largest |SHAP| contributions per encoded row, as JSON.

        ``contrib`` is the booster's ``pred_contrib`` of ``values`` if already computed.
        """
        encoder, classifier = self.pipeline[0], self.pipeline[-1]
        if contrib is None:
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


def batch_predictor(model: PyFuncModel, threads: int | None = None) -> Predictor:
    """The fastest faithful way to score frames with a loaded pyfunc ``model``.

    For this product's models: the model's own :meth:`CreditScoringModel.score`, which
    checks every field itself, without MLflow's element-by-element enforcement of the
    ``AnyType`` columns (~2 µs a cell, more than the booster), on ``threads`` booster
    threads (``None``: every usable core; a served model keeps one thread a request,
    its server scaling by workers, but a batch is one long job). Any other pyfunc
    model: its ``predict``.
    """
    python_model = getattr(model, "unwrap_python_model", None)
    try:
        inner = python_model() if python_model is not None else None
    except MlflowException:
        inner = None
    if isinstance(inner, CreditScoringModel):
        return functools.partial(inner.score, threads=threads or usable_cpus())
    return model.predict


def log_pyfunc(model: CreditScoringModel, example: pd.DataFrame) -> ModelInfo:
    """Log ``model`` as ``name="model"`` in the active run, with signature and input example.

    ``example`` holds a few raw rows in the record layout (``HISTORY`` included for the
    full model); the logged ``serving_input_example.json`` can be POSTed as is. The
    package's code goes with the model (``code_paths``): the pickle refers to its classes.
    """
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        signature=model_io.model_signature(model.fields),
        input_example=(example, {"explain": True, "top": 5}),
        pip_requirements=[f"{name}=={version(name)}" for name in _REQUIREMENTS],
        code_paths=[str(Path(credit_scoring.__file__).parent)],
    )
