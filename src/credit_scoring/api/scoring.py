"""Scoring through the model servers: requests from stored or typed-in fields, answers shaped.

A request carries the required columns (null when unknown) and the optional ones
that have a value: the contract accepts any optional field missing, and leaving
out a client's empty fields keeps the payload (and MLflow's schema enforcement) small.
Values go as they are: the model converts them itself (``credit_scoring.contracts.model_io``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credit_scoring.api.db import ClientsDatabase
from credit_scoring.api.model_client import ModelServers
from credit_scoring.api.tables import PREDICTION_FIELDS
from credit_scoring.api.validation import ApiError


def _request_row(
    columns: list[dict[str, Any]], values: Mapping[str, Any]
) -> tuple[list[str], list[Any]]:
    """The column names and values of one request: the required ones, and the others set."""
    names: list[str] = []
    row: list[Any] = []
    for col in columns:
        value = values.get(col["column_name"])
        if value is None and not col["required"]:
            continue
        names.append(col["column_name"])
        row.append(value)
    return names, row


def precomputed(client: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The answer ``publish`` stored for ``client`` and ``model`` (probability, score...)."""
    return {field: client[f"{model}_{field}"] for field in PREDICTION_FIELDS}


class Scorer:
    """Scores applicants and stored clients with the served champions."""

    def __init__(self, db: ClientsDatabase, servers: ModelServers) -> None:
        self.db = db
        self.servers = servers

    def _model_record(self, model: str) -> dict[str, Any]:
        record = self.db.models().get(model)
        if record is None:
            raise ApiError(503, "model", "not_published", f"no {model} model in the database")
        return record

    def score_fields(
        self, model: str, fields: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Score one set of raw fields with ``model``; the answer names the registry version."""
        record = self._model_record(model)
        names, row = _request_row(self.db.input_columns(model), fields)
        prediction = self.servers.predict(model, names, [row], params)[0]
        answer = {
            "model": model,
            "probability": prediction["probability"],
            "score": prediction["score"],
            "decision": prediction["decision"],
            "threshold": prediction["threshold"],
            "model_version": record["version"],
            "registered_name": record["registered_name"],
            "run_id": prediction.get("model_version"),
        }
        if params and params.get("explain"):
            answer["base_value"] = prediction.get("base_value")
            answer["contributions"] = prediction.get("contributions", [])
        return answer

    def score_client(
        self, model: str, client: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Score a stored client live, with the precomputed answer alongside."""
        client_id = int(client["SK_ID_CURR"])
        values = self.db.model_input(model, client_id)
        if values is None:
            raise ApiError(404, "client_id", "unknown_client", f"no {model} inputs for {client_id}")
        answer = {"client_id": client_id, **self.score_fields(model, values, params)}
        answer["precomputed"] = precomputed(client, model)
        return answer
