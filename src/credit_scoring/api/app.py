"""The Flask app factory: JSON in, JSON out, errors included.

``create_app(config)`` wires the clients database and the model-server client
into the routes and registers error handlers so that nothing a client sends can
produce an HTML page, a stack trace or a bare 500: validation errors are 4xx
naming the field, an unreachable model server or database is 503 naming it.
Under gunicorn, ``app_from_env()`` builds the app from the JSON settings that
``pipelines/serve.py`` puts in ``CREDIT_SCORING_API_CONFIG``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from credit_scoring.api import legacy, routes
from credit_scoring.api.db import ClientsDatabase, DatabaseUnavailable
from credit_scoring.api.model_client import ModelRequestRejected, ModelServers
from credit_scoring.api.openapi import docs_page, openapi_document
from credit_scoring.api.scoring import Scorer
from credit_scoring.api.settings import ApiSettings
from credit_scoring.api.validation import ApiError
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


def _register_error_handlers(app: Flask) -> None:
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


def create_app(config: ApiSettings | Mapping[str, Any]) -> Flask:
    """Build the API for ``config`` (``ApiSettings`` or the ``serve`` config group as a dict)."""
    settings = config if isinstance(config, ApiSettings) else ApiSettings.from_config(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.config["MAX_TOP"] = settings.max_top
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["credit_scoring"] = Scorer(
        ClientsDatabase(settings.database_url, recheck_seconds=settings.db_recheck_seconds),
        ModelServers(settings),
    )
    app.register_blueprint(routes.bp)
    app.register_blueprint(legacy.bp)
    monitoring.init_app(app, config)  # prediction log, request ids, /monitoring/summary
    document = openapi_document(max_top=settings.max_top)
    page = docs_page(document)

    @app.get("/openapi.json")
    def openapi() -> ResponseReturnValue:
        return jsonify(document)

    @app.get("/docs")
    def docs() -> ResponseReturnValue:
        return Response(page, mimetype="text/html")

    _register_error_handlers(app)
    return app


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
