"""The API's routes: clients, scores, explanations, comparisons, health and models.

Handlers stay thin: parse (``validation``), query (``db``) or score (``scoring``),
answer JSON. Errors are raised as ``ApiError``/``ModelServerUnavailable`` and
turned into JSON by the handlers registered in ``app``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from credit_scoring.api.db import ClientsDatabase, DatabaseUnavailable
from credit_scoring.api.scoring import Scorer, precomputed
from credit_scoring.api.tables import MODEL_NAMES, PREDICTION_FIELDS
from credit_scoring.api.validation import (
    DAYS_PER_YEAR,
    ApiError,
    bad,
    parse_applicant,
    parse_client_id,
    parse_int,
    parse_model,
    parse_models,
    parse_number,
    parse_population,
    query_value,
)
from credit_scoring.data.schema import DAYS_SENTINEL
from credit_scoring.errors import ModelServerUnavailable
from credit_scoring.monitoring.api import log_status

bp = Blueprint("api", __name__)


def scorer() -> Scorer:
    """The app's scorer (database + model servers), set up by ``create_app``."""
    return current_app.extensions["credit_scoring"]


def database() -> ClientsDatabase:
    """The app's clients database."""
    return scorer().db


def known_client(raw_id: str) -> dict[str, Any]:
    """The stored client for a path/query id: 400 if not an integer, 404 if unknown."""
    client_id = parse_client_id(raw_id)
    client = database().client(client_id)
    if client is None:
        raise ApiError(404, "client_id", "unknown_client", f"no client {client_id}")
    return client


@bp.get("/health")
def health() -> ResponseReturnValue:
    """Database and both model servers reachable; the published model versions."""
    checks: dict[str, Any] = {}
    ok = True
    try:
        checks["database"] = {"ok": True, "publish_id": database().ping()}
        versions = {m: r["version"] for m, r in database().models().items()}
    except DatabaseUnavailable as exc:
        checks["database"] = {"ok": False, "detail": str(exc)}
        versions = {}
        ok = False
    for name in scorer().servers.names:
        try:
            scorer().servers.ping(name)
            checks[f"model_server_{name}"] = {"ok": True, "model_version": versions.get(name)}
        except ModelServerUnavailable as exc:
            checks[f"model_server_{name}"] = {"ok": False, "detail": exc.detail}
            ok = False
    # Reported, not a reason for 503: a lost log record never stops a score.
    checks["prediction_log"] = log_status()
    body = {"status": "ok" if ok else "unavailable", "checks": checks, "model_versions": versions}
    return jsonify(body), 200 if ok else 503


_MODEL_KEYS = ("registered_name", "version", "run_id", "test_auc", "threshold", "trained_at")


@bp.get("/models")
def models() -> ResponseReturnValue:
    """The champions' registry version, test AUC, threshold and training date."""
    records = database().models()
    return jsonify(
        {
            name: {k: records[name][k] for k in _MODEL_KEYS}
            for name in MODEL_NAMES
            if name in records
        }
    )


def _years(days: float | None, *, sentinel: bool = False) -> float | None:
    if days is None or (sentinel and days == DAYS_SENTINEL):
        return None
    return round(-float(days) / DAYS_PER_YEAR, 1)


@bp.get("/clients/<client_id>")
def client(client_id: str) -> ResponseReturnValue:
    """The client's main fields and the champions' precomputed scores."""
    row = known_client(client_id)
    hidden = {f"{m}_{f}" for m in MODEL_NAMES for f in PREDICTION_FIELDS}
    hidden |= {"SK_ID_CURR", "split", "TARGET"}
    fields = {k: v for k, v in row.items() if k not in hidden}
    return jsonify(
        {
            "client_id": row["SK_ID_CURR"],
            "split": row["split"],
            "TARGET": row["TARGET"],
            "fields": fields,
            "age_years": _years(row.get("DAYS_BIRTH")),
            "years_employed": _years(row.get("DAYS_EMPLOYED"), sentinel=True),
            "scores": {m: precomputed(row, m) for m in MODEL_NAMES},
        }
    )


@bp.get("/clients/<client_id>/score")
def client_score(client_id: str) -> ResponseReturnValue:
    """The client's score computed live by the model server, with the precomputed one."""
    model = parse_model(request.args.get("model"))
    return jsonify(scorer().score_client(model, known_client(client_id)))


@bp.get("/clients/<client_id>/explain")
def client_explain(client_id: str) -> ResponseReturnValue:
    """Signed SHAP contributions of the features that moved this client's score most."""
    model = parse_model(request.args.get("model"))
    top = parse_int("top", request.args.get("top"), 10, 1, current_app.config["MAX_TOP"])
    answer = scorer().score_client(model, known_client(client_id), {"explain": True, "top": top})
    answer["top"] = top
    return jsonify(answer)


def _income_warnings(income: float) -> list[str]:
    bounds = database().population().income_range
    if bounds is None:
        return []
    low, high = bounds
    if low <= income <= high:
        return []
    side, bound = ("below the smallest", low) if income < low else ("above the largest", high)
    return [f"AMT_INCOME_TOTAL {income:g} is {side} client income ({bound:g}): extrapolated"]


@bp.post("/score")
def score() -> ResponseReturnValue:
    """Score a new applicant with the light model (and the full one on request)."""
    if not request.is_json:
        raise ApiError(
            415, "body", "not_json", "body: send a JSON object (Content-Type: application/json)"
        )
    body = request.get_json(silent=True)
    if body is None:
        raise bad("body", "invalid_json", "is not valid JSON")
    fields = parse_applicant(body)
    models_wanted = parse_models(body, request.args.get("model"))
    try:
        warnings = _income_warnings(fields["AMT_INCOME_TOTAL"])
    except DatabaseUnavailable:
        warnings = ["the clients database is unavailable: income range not checked"]
    scores = {m: scorer().score_fields(m, fields) for m in models_wanted}
    return jsonify({"applicant": fields, "scores": scores, "warnings": warnings})


@bp.get("/compare/distribution")
def distribution() -> ResponseReturnValue:
    """A precomputed histogram of one feature over all clients or those who repaid."""
    feature = query_value(request.args, "feature")
    population = parse_population(request.args.get("population"))
    catalog = database().distribution_catalog()
    if feature not in catalog:
        raise bad("feature", "unknown_category", f"must be one of {sorted(catalog)}")
    bins = parse_int("bins", request.args.get("bins"), catalog[feature][0], 1, 10_000)
    if bins not in catalog[feature]:
        raise bad("bins", "unknown_category", f"must be one of {catalog[feature]}")
    row = database().distribution(feature, population, bins)
    if row is None:
        raise ApiError(
            404, "population", "no_statistics", f"no {population} histogram of {feature}"
        )
    return jsonify(row)


def _position(income: float) -> dict[str, Any]:
    return database().population().position(income)


@bp.get("/compare/position")
def position() -> ResponseReturnValue:
    """Income percentile, and the mean credit and annuity of repaid peers (±5% income)."""
    income = parse_number("income", query_value(request.args, "income"), positive=True)
    return jsonify(_position(income))


@bp.get("/clients/<client_id>/position")
def client_position(client_id: str) -> ResponseReturnValue:
    """The same comparison for a stored client's income."""
    row = known_client(client_id)
    if row.get("AMT_INCOME_TOTAL") is None:
        raise ApiError(422, "AMT_INCOME_TOTAL", "missing", "the client has no recorded income")
    return jsonify({"client_id": row["SK_ID_CURR"], **_position(float(row["AMT_INCOME_TOTAL"]))})


@bp.get("/compare/models")
def compare_models() -> ResponseReturnValue:
    """Full and light scores of one client, side by side.

    A comparison page must not go blank because one model server is down: its model's
    precomputed answer stands in, marked ``"live": false``, and ``warnings`` names the
    server. Live answers are marked ``"live": true``.
    """
    row = known_client(query_value(request.args, "client_id"))
    answers: dict[str, dict[str, Any]] = {}
    warnings = []
    for model in MODEL_NAMES:
        try:
            answers[model] = {**scorer().score_client(model, row), "live": True}
        except ModelServerUnavailable as exc:
            warnings.append(f"{exc}; the precomputed {model} score is shown")
            answers[model] = {"model": model, **precomputed(row, model), "live": False}
    return jsonify(
        {
            "client_id": row["SK_ID_CURR"],
            "models": answers,
            "score_difference": answers["full"]["score"] - answers["light"]["score"],
            "warnings": warnings,
        }
    )
