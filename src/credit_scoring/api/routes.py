"""The API's routes: clients, scores, explanations, comparisons, health and models.

Handlers stay thin: their arguments are the validated request models of
``credit_scoring.contracts.api`` (flask-openapi3 parses path, query and body
into them and documents them), they query (``db``) or score (``scoring``) and
answer JSON. Errors are raised as ``ApiError``/``ModelServerUnavailable`` and
turned into JSON by the handlers registered in ``app``. Each route declares the
scope its caller's key needs (``auth.requires``) and the answers it gives.

Every score a live-scoring route hands out (POST /score, /clients/{id}/score,
the legacy predictions) passes once through ``handed_out``, which calls the
hooks listed in ``app.extensions[ON_SCORE]``: the one place for a prediction log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app
from flask_openapi3 import APIBlueprint
from pydantic import BaseModel

from credit_scoring.api.auth import Scope, requires, security
from credit_scoring.api.db import ClientsDatabase, DatabaseUnavailable
from credit_scoring.api.scoring import Scorer, precomputed
from credit_scoring.api.tables import MODEL_NAMES, PREDICTION_FIELDS
from credit_scoring.api.validation import ApiError, bad
from credit_scoring.contracts.api import (
    DAYS_PER_YEAR,
    Applicant,
    ApplicantScores,
    ClientExplanation,
    ClientPath,
    ClientPosition,
    ClientRecord,
    ClientScore,
    CompareModelsQuery,
    Distribution,
    DistributionQuery,
    ErrorAnswer,
    Health,
    IncomeQuery,
    ModelComparison,
    ModelQuery,
    Models,
    Position,
    ScoreQuery,
    explain_query,
)
from credit_scoring.data.schema import DAYS_SENTINEL
from credit_scoring.errors import ModelServerUnavailable
from credit_scoring.monitoring.api import log_status

#: What each error status means, for the document.
_ERROR_STATUSES = (400, 401, 403, 404, 413, 415, 422, 429, 502, 503)


def answers(ok: type[BaseModel] | None, *errors: int, scope: Scope = "read") -> dict[int, Any]:
    """The ``responses`` of a route: its 200 model and the error statuses it can give.

    Every route can refuse a parameter (400) and be rate limited (429); a route that
    needs a key can answer 401/403.
    """
    codes = {400, 429, *errors} | (set() if scope == "public" else {401, 403})
    table: dict[int, Any] = {200: ok} if ok is not None else {}
    table.update({code: ErrorAnswer for code in sorted(codes)})
    return table


def route(
    bp: APIBlueprint,
    method: str,
    rule: str,
    scope: Scope,
    responses: dict[int, Any],
    **options: Any,
) -> Any:
    """Register a view on ``bp``: the scope it needs, documented and enforced."""

    def register(func: Any) -> Any:
        decorator = getattr(bp, method)(
            rule, responses=responses, security=security(scope), **options
        )
        return decorator(requires(scope)(func))

    return register


#: ``app.extensions`` key of the callables run after each live score:
#: ``hook(route, fields, answer)``, ``fields`` the model inputs, ``answer`` the score.
ON_SCORE = "credit_scoring.on_score"
ScoreHook = Callable[[str, Mapping[str, Any], Mapping[str, Any]], None]


def handed_out(route: str, fields: Mapping[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` after every ``ON_SCORE`` hook has seen it (``route`` names the route)."""
    for hook in current_app.extensions.get(ON_SCORE, ()):
        hook(route, fields, answer)
    return answer


def scorer() -> Scorer:
    """The app's scorer (database + model servers), set up by ``create_app``."""
    return current_app.extensions["credit_scoring"]


def database() -> ClientsDatabase:
    """The app's clients database."""
    return scorer().db


def known_client(client_id: int, field: str = "client_id") -> dict[str, Any]:
    """The stored client for an id: 404 naming ``field`` if unknown."""
    client = database().client(client_id)
    if client is None:
        raise ApiError(404, field, "unknown_client", f"no client {client_id}")
    return client


def health() -> Any:
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
    return body, 200 if ok else 503


_MODEL_KEYS = ("registered_name", "version", "run_id", "test_auc", "threshold", "trained_at")


def models() -> Any:
    """The champions' registry version, test AUC, threshold and training date."""
    records = database().models()
    return {
        name: {k: records[name][k] for k in _MODEL_KEYS} for name in MODEL_NAMES if name in records
    }


def _years(days: float | None, *, sentinel: bool = False) -> float | None:
    if days is None or (sentinel and days == DAYS_SENTINEL):
        return None
    return round(-float(days) / DAYS_PER_YEAR, 1)


def client(path: ClientPath) -> Any:
    """The client's main fields and the champions' precomputed scores."""
    row = known_client(path.client_id)
    hidden = {f"{m}_{f}" for m in MODEL_NAMES for f in PREDICTION_FIELDS}
    hidden |= {"SK_ID_CURR", "split", "TARGET"}
    return {
        "client_id": row["SK_ID_CURR"],
        "split": row["split"],
        "TARGET": row["TARGET"],
        "fields": {k: v for k, v in row.items() if k not in hidden},
        "age_years": _years(row.get("DAYS_BIRTH")),
        "years_employed": _years(row.get("DAYS_EMPLOYED"), sentinel=True),
        "scores": {m: precomputed(row, m) for m in MODEL_NAMES},
    }


def client_score(path: ClientPath, query: ModelQuery) -> Any:
    """The client's score computed live by the model server, with the precomputed one."""
    row = known_client(path.client_id)
    return handed_out("/clients/{client_id}/score", row, scorer().score_client(query.model, row))


def _explain_view(max_top: int) -> Any:
    """``/clients/{id}/explain`` with ``top`` bounded by the configured ``max_top``."""
    explain = explain_query(max_top)

    def client_explain(path: ClientPath, query: BaseModel) -> Any:
        """Signed SHAP contributions of the features that moved this client's score most."""
        top = query.top  # type: ignore[attr-defined]
        params = {"explain": True, "top": top}
        answer = scorer().score_client(query.model, known_client(path.client_id), params)  # type: ignore[attr-defined]
        answer["top"] = top
        return answer

    # flask-openapi3 reads the request models from the annotations: this app's bound.
    client_explain.__annotations__ = {"path": ClientPath, "query": explain}
    return client_explain


def _income_warnings(income: float) -> list[str]:
    bounds = database().population().income_range
    if bounds is None:
        return []
    low, high = bounds
    if low <= income <= high:
        return []
    side, bound = ("below the smallest", low) if income < low else ("above the largest", high)
    return [f"AMT_INCOME_TOTAL {income:g} is {side} client income ({bound:g}): extrapolated"]


def score(query: ScoreQuery, body: Applicant) -> Any:
    """Score a new applicant with the light model (and the full one on request)."""
    fields = body.model_fields_for_scoring()
    models_wanted = [query.model] if query.model else body.models or ["light"]
    try:
        warnings = _income_warnings(fields["AMT_INCOME_TOTAL"])
    except DatabaseUnavailable:
        warnings = ["the clients database is unavailable: income range not checked"]
    scores = {
        m: handed_out("/score", fields, scorer().score_fields(m, fields)) for m in models_wanted
    }
    return {"applicant": fields, "scores": scores, "warnings": warnings}


def distribution(query: DistributionQuery) -> Any:
    """A precomputed histogram of one feature over all clients or those who repaid."""
    catalog = database().distribution_catalog()
    if query.feature not in catalog:
        raise bad("feature", "unknown_category", f"must be one of {sorted(catalog)}")
    bins = query.bins if query.bins is not None else catalog[query.feature][0]
    if bins not in catalog[query.feature]:
        raise bad("bins", "unknown_category", f"must be one of {catalog[query.feature]}")
    row = database().distribution(query.feature, query.population, bins)
    if row is None:
        raise ApiError(
            404,
            "population",
            "no_statistics",
            f"no {query.population} histogram of {query.feature}",
        )
    return row


def _position(income: float) -> dict[str, Any]:
    return database().population().position(income)


def position(query: IncomeQuery) -> Any:
    """Income percentile, and the mean credit and annuity of repaid peers (±5% income)."""
    return _position(query.income)


def client_position(path: ClientPath) -> Any:
    """The same comparison for a stored client's income."""
    row = known_client(path.client_id)
    if row.get("AMT_INCOME_TOTAL") is None:
        raise ApiError(422, "AMT_INCOME_TOTAL", "missing", "the client has no recorded income")
    return {"client_id": row["SK_ID_CURR"], **_position(float(row["AMT_INCOME_TOTAL"]))}


def compare_models(query: CompareModelsQuery) -> Any:
    """Full and light scores of one client, side by side.

    A comparison page must not go blank because one model server is down: its model's
    precomputed answer stands in, marked ``"live": false``, and ``warnings`` names the
    server. Live answers are marked ``"live": true``.
    """
    row = known_client(query.client_id)
    found: dict[str, dict[str, Any]] = {}
    warnings = []
    for model in MODEL_NAMES:
        try:
            found[model] = {**scorer().score_client(model, row), "live": True}
        except ModelServerUnavailable as exc:
            warnings.append(f"{exc}; the precomputed {model} score is shown")
            found[model] = {"model": model, **precomputed(row, model), "live": False}
    return {
        "client_id": row["SK_ID_CURR"],
        "models": found,
        "score_difference": found["full"]["score"] - found["light"]["score"],
        "warnings": warnings,
    }


def blueprint(*, max_top: int) -> APIBlueprint:
    """The routes of one app (``max_top`` is ``serve.api.max_top``, stated in the document)."""
    bp = APIBlueprint("api", __name__)
    live = (404, 502, 503)
    route(bp, "get", "/health", "public", {200: Health, 503: Health})(health)
    route(bp, "get", "/models", "read", answers(Models, 503))(models)
    route(bp, "get", "/clients/<client_id>", "read", answers(ClientRecord, 404, 503))(client)
    route(bp, "get", "/clients/<client_id>/score", "read", answers(ClientScore, *live))(
        client_score
    )
    route(bp, "get", "/clients/<client_id>/explain", "read", answers(ClientExplanation, *live))(
        _explain_view(max_top)
    )
    route(bp, "get", "/clients/<client_id>/position", "read", answers(ClientPosition, 404, 422))(
        client_position
    )
    route(
        bp,
        "post",
        "/score",
        "score",
        answers(ApplicantScores, 413, 415, 502, 503, scope="score"),
    )(score)
    route(bp, "get", "/compare/distribution", "read", answers(Distribution, 404, 503))(distribution)
    route(bp, "get", "/compare/position", "read", answers(Position, 503))(position)
    route(bp, "get", "/compare/models", "read", answers(ModelComparison, 404, 502, 503))(
        compare_models
    )
    return bp
