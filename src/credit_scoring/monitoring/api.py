"""The API's side of monitoring: request ids, the prediction-log hook and ``/monitoring/summary``.

``init_app(app, settings)`` is the one line the app factory calls: it starts the
process's prediction log (when ``prediction_log.enabled``) and registers this
blueprint. Every request gets an id (the caller's ``X-Request-ID`` when it is a
sane token, otherwise a new UUID), echoed in the answer's ``X-Request-ID`` header
and written with each score. ``record_score`` is the hook the scorer calls after
each live answer; it swallows every error, so a broken log never fails a score.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, has_request_context, jsonify, request
from flask_openapi3 import APIBlueprint
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from credit_scoring.config import PredictionLogConfig
from credit_scoring.contracts.api import MonitoringQuery, MonitoringSummary
from credit_scoring.monitoring.prediction_log import (
    PredictionLog,
    log_engine,
    prediction_record,
    summarize,
)

log = logging.getLogger(__name__)

#: Request ids for every route of the app (a plain blueprint: it declares no route).
bp = Blueprint("monitoring_ids", __name__)

_EXTENSION = "prediction_log"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: Hook errors are logged at most this often (a broken hook would otherwise flood the log).
_ERROR_LOG_SECONDS = 60.0


class _LogState:
    """The process's prediction log, its reader engine and the hook's own error count."""

    def __init__(self, settings: PredictionLogConfig) -> None:
        self.settings = settings
        self.log = PredictionLog(settings) if settings.enabled else None
        self._reader: Engine | None = None
        self.hook_errors = 0
        self._last_error_log = 0.0

    def reader(self) -> Engine:
        if self._reader is None:
            self._reader = log_engine(self.settings.url)
        return self._reader

    def hook_failed(self, exc: Exception) -> None:
        self.hook_errors += 1
        now = time.monotonic()
        if now - self._last_error_log > _ERROR_LOG_SECONDS:
            self._last_error_log = now
            log.warning("prediction log hook failed (%d so far): %s", self.hook_errors, exc)


def init_app(app: Flask, settings: PredictionLogConfig | None) -> None:
    """Start the prediction log ``serve.prediction_log`` and register the routes.

    No settings (an app built from bare ``ApiSettings``) leaves the log disabled and
    the summary route 503, as ``enabled: false`` does.
    """
    app.extensions[_EXTENSION] = _LogState(settings or PredictionLogConfig())
    app.register_blueprint(bp)
    app.register_api(summary_blueprint())  # type: ignore[attr-defined]


def _state() -> _LogState | None:
    return current_app.extensions.get(_EXTENSION)


@bp.before_app_request
def _start_request() -> None:
    g.monitoring_started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


@bp.after_app_request
def _echo_request_id(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response


def record_score(
    model: str, names: Sequence[str], row: Sequence[Any], answer: Mapping[str, Any]
) -> None:
    """Queue one live score for the prediction log (the scorer's hook; never raises)."""
    try:
        state = _state()
        if state is None or state.log is None:
            return
        started = g.get("monitoring_started") if has_request_context() else None
        latency = None if started is None else (time.perf_counter() - started) * 1000.0
        route = request.path if has_request_context() else ""
        request_id = g.get("request_id") if has_request_context() else None
        state.log.record(
            prediction_record(
                request_id=request_id or uuid.uuid4().hex,
                route=route,
                model=model,
                names=names,
                row=row,
                answer=answer,
                latency_ms=latency,
            )
        )
    except Exception as exc:  # the log must never fail a score
        try:
            state = _state()
            if state is not None:
                state.hook_failed(exc)
        except Exception:  # no app context at all: nothing to count on
            log.warning("prediction log hook failed outside an app: %s", exc)


def log_status() -> dict[str, Any]:
    """The ``prediction_log`` entry of ``/health`` (this process's counters)."""
    state = _state()
    if state is None or state.log is None:
        return {"ok": True, "enabled": False}
    status = state.log.status()
    status["hook_errors"] = state.hook_errors
    status["ok"] = status["ok"] and state.hook_errors == 0
    return status


def _api_error(status: int, field: str | None, reason: str, message: str) -> Exception:
    # Imported here: credit_scoring.api imports this module while it initializes.
    from credit_scoring.api.validation import ApiError

    return ApiError(status, field, reason, message)


def _instant(field: str, raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise _api_error(
            400, field, "invalid_datetime", f"{field}: expected an ISO 8601 time, got {raw!r}"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def summary(query: MonitoringQuery) -> Response:
    """Counts per model and decision, refusal rate, latency p50/p95, score histogram.

    ``since`` / ``until``: ISO 8601 times (UTC when no offset is given); ``until``
    is exclusive. Records still queued in a worker (under ``flush_seconds``) are
    not counted yet.
    """
    since, until = _instant("since", query.since), _instant("until", query.until)
    if since is not None and until is not None and until <= since:
        raise _api_error(400, "until", "empty_period", "until: must be later than since")
    state = _state()
    if state is None or not state.settings.enabled:
        raise _api_error(503, None, "prediction_log_disabled", "the prediction log is disabled")
    try:
        body = summarize(state.reader(), since, until)
    except SQLAlchemyError as exc:
        raise _api_error(
            503, None, "prediction_log_unavailable", f"the prediction log cannot be read: {exc}"
        ) from None
    body["store"] = state.log.status()["store"] if state.log else None
    return jsonify(body)


def summary_blueprint() -> APIBlueprint:
    """``GET /monitoring/summary`` for the ``read`` scope, in the API's OpenAPI document."""
    from credit_scoring.api.routes import answers, route

    api = APIBlueprint("monitoring", __name__)
    route(api, "get", "/monitoring/summary", "read", answers(MonitoringSummary, 503))(summary)
    return api
