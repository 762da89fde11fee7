"""The Flask app factory: JSON in, JSON out, errors included.

``create_app(config)`` wires the clients database and the model-server client
into the routes and registers error handlers so that nothing a client sends can
produce an HTML page, a stack trace or a bare 500: validation errors are 4xx
naming the field, an unreachable model server or database is 503 naming it.
The app is flask-openapi3's ``OpenAPI`` (a Flask subclass): it validates each
request into the pydantic models of ``credit_scoring.contracts.api`` and builds
the OpenAPI document (``/openapi.json``, and ``/docs`` from it) out of them.
API keys (``auth``) and Flask-Limiter's per-key rate limits guard every route
but the public ones. Under gunicorn, ``app_from_env()`` builds the app from the JSON settings that
``pipelines/serve.py`` puts in ``CREDIT_SCORING_API_CONFIG``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, jsonify
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_openapi3 import Info, OpenAPI
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from credit_scoring.api import auth, legacy, routes
from credit_scoring.api.db import ClientsDatabase, DatabaseUnavailable
from credit_scoring.api.docs import docs_page
from credit_scoring.api.model_client import ModelRequestRejected, ModelServers
from credit_scoring.api.scoring import Scorer
from credit_scoring.api.settings import ApiSettings
from credit_scoring.api.validation import ApiError, refusal
from credit_scoring.config import ServeConfig, validate_group
from credit_scoring.contracts.api import ErrorAnswer
from credit_scoring.errors import ModelServerUnavailable
from credit_scoring.logs import setup_logging
from credit_scoring.monitoring import api as monitoring

log = logging.getLogger(__name__)

#: The environment variable through which gunicorn workers receive the settings.
CONFIG_ENV = "CREDIT_SCORING_API_CONFIG"


def _error(status: int, field: str | None, reason: str, message: str, **extra: Any) -> Response:
    body = ApiError(status, field, reason, message).to_json()
    body["error"].update(extra)
    response = jsonify(body)
    response.status_code = status
    return response


def _validation_error(exc: ValidationError) -> Response:
    """flask-openapi3's hook for a request its models refuse: our error JSON, 4xx."""
    error = refusal(exc)
    return _error(error.status, error.field, error.reason, error.message)


def _check_answer(answer: Any, responses: Mapping[int, Any] | None) -> Response:
    """With ``validate_responses``: the answer must match its declared model, else a 500.

    flask-openapi3's own check reads a JSON string answer (legacy ``/``) as JSON
    text; this one validates the decoded value.
    """
    response = current_app.make_response(answer)
    model = (responses or {}).get(response.status_code)
    if isinstance(model, type) and response.is_json:
        model.model_validate(response.get_json())
    return response


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(auth.Denied)
    def denied(exc: auth.Denied) -> ResponseReturnValue:
        response = _error(exc.status, exc.field, exc.reason, str(exc))
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="credit-scoring"'
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> ResponseReturnValue:
        return _error(exc.status, exc.field, exc.reason, exc.message)

    @app.errorhandler(ModelServerUnavailable)
    def model_server_down(exc: ModelServerUnavailable) -> ResponseReturnValue:
        log.warning("%s", exc)
        return _error(503, None, "model_server_unavailable", str(exc), server=exc.name)

    @app.errorhandler(ModelRequestRejected)
    def model_request_rejected(exc: ModelRequestRejected) -> ResponseReturnValue:
        log.error("%s", exc)
        return _error(502, None, "model_server_rejected", str(exc), server=exc.name)

    @app.errorhandler(DatabaseUnavailable)
    def database_down(exc: DatabaseUnavailable) -> ResponseReturnValue:
        log.warning("%s", exc)
        return _error(503, None, "database_unavailable", str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        # 404 unknown route, 405 wrong method, 413 body too large, 400 malformed JSON.
        reason = (exc.name or "error").lower().replace(" ", "_")
        field = "body" if exc.code in (400, 413, 415) else None
        return _error(exc.code or 500, field, reason, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unexpected error")
        return _error(500, None, "internal_error", "internal error; see the server log")


def create_app(config: ApiSettings | ServeConfig | Mapping[str, Any]) -> Flask:
    """Build the API for ``config``: ``ApiSettings``, or the ``serve`` group (typed or a dict).

    A dict is checked against ``ServeConfig`` once, here; ``ApiSettings`` alone (no
    ``serve`` group) leaves the prediction log off.
    """
    serve: ServeConfig | None = None
    if isinstance(config, ApiSettings):
        settings = config
    else:
        serve = (
            config
            if isinstance(config, ServeConfig)
            else validate_group(ServeConfig, config, "serve")
        )
        settings = ApiSettings.from_config(serve)
    app = OpenAPI(
        __name__,
        info=Info(title="credit-scoring API", version="1.0", description=_DESCRIPTION),
        security_schemes=auth.SECURITY_SCHEMES,  # type: ignore[arg-type]
        validation_error_status=400,
        validation_error_model=ErrorAnswer,
        validation_error_callback=_validation_error,
        validate_response=settings.validate_responses,
        validate_response_callback=_check_answer,
        doc_ui=False,  # the document and page below: self-contained, at the usual paths
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]
    database = ClientsDatabase(settings.database_url, recheck_seconds=settings.db_recheck_seconds)
    app.extensions["credit_scoring"] = Scorer(database, ModelServers(settings))
    # One generation of the clients database per request, even across a republish.
    app.before_request(database.begin_request)
    app.teardown_request(database.end_request)
    app.extensions[routes.ON_SCORE] = []
    app.register_api(routes.blueprint(max_top=settings.max_top))
    app.register_api(legacy.blueprint())
    # The prediction log, request ids, /monitoring/summary.
    monitoring.init_app(app, serve.prediction_log if serve is not None else None)

    @app.get("/openapi.json", responses={200: _JSON_DOCUMENT})
    @auth.requires("public")
    def openapi() -> Response:
        """This document (OpenAPI 3.1), generated from the request and answer models."""
        return jsonify(app.api_doc)

    @app.get("/docs", responses={200: _HTML_PAGE})
    @auth.requires("public")
    def docs() -> Response:
        """This document as a human-readable page."""
        if "page" not in pages:
            pages["page"] = docs_page(app.api_doc)
        return Response(pages["page"], mimetype="text/html")

    pages: dict[str, str] = {}
    auth.install(app, settings.keys, settings.legacy_key_param)
    if not settings.auth_enabled:
        log.warning(
            "API keys are off: anyone who reaches %s can read the clients' data "
            "(allowed on loopback only; set serve.api.auth.keys to turn them on)",
            settings.host,
        )
    _install_limits(app, settings)
    _register_error_handlers(app)
    return app


_JSON_DOCUMENT = {
    "description": "the OpenAPI document",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_HTML_PAGE = {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
_DESCRIPTION = (
    "Scores, explanations and comparisons for a loan officer's front end. Every error is "
    "JSON naming the field and the reason. Keys: 'Authorization: Bearer <key>' or "
    "'X-API-Key'; scope 'score' for new applicants, 'read' for the stored clients."
)


def _install_limits(app: Flask, settings: ApiSettings) -> None:
    """Flask-Limiter: a rate per key (per client address while keys are off), by scope.

    The counters live in ``serve.api.rate_limits.storage_uri`` (memory: per worker
    process, so the service as a whole allows up to workers x the limit).
    """

    def limit() -> str:
        return settings.rate_limits.get(g.get("required_scope", "public"), "")

    def exempt() -> bool:
        return not limit()

    Limiter(
        key_func=lambda: g.get("rate_key", "unknown"),
        app=app,
        storage_uri=settings.rate_limit_storage,
        default_limits=[limit],
        default_limits_exempt_when=exempt,
        headers_enabled=True,
    )


def app_from_env() -> Flask:
    """The app for gunicorn: settings from ``CREDIT_SCORING_API_CONFIG`` (JSON)."""
    setup_logging()
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{CONFIG_ENV} is not set; start the API with pipelines/serve.py")
    app = create_app(json.loads(raw))
    # What is loaded now lives as long as the worker: keep full collections off it
    # (they would stall a request now and then, as in the model servers).
    gc.freeze()
    return app
