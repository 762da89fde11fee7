"""Refusals as the API's error JSON: one field, one reason, one message.

The requests themselves are declared as pydantic models in
``credit_scoring.contracts.api``; this module turns what pydantic refuses into
``ApiError`` (HTTP 400 naming the first field at fault) and the errors the
routes raise into the same JSON body. Custom error types raised by the models
(``not_a_number``, ``negative_amount``, ``conflict``...) pass through as the
reason; pydantic's own types are translated by ``_REASONS``.
"""

from __future__ import annotations

from typing import Any

from flask import request
from pydantic import ValidationError
from pydantic_core import ErrorDetails

#: Pydantic's error types -> the reason a client sees (custom types pass through).
_REASONS = {
    "missing": "missing",
    "extra_forbidden": "unknown_field",
    "literal_error": "unknown_category",
    "enum": "unknown_category",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "list_type": "not_a_list",
    "too_short": "not_a_list",
    "string_too_short": "missing",
    "string_type": "not_a_string",
    "float_parsing": "not_a_number",
    "float_type": "not_a_number",
    "finite_number": "not_a_number",
    "int_parsing": "not_an_integer",
    "int_type": "not_an_integer",
    "int_from_float": "not_an_integer",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "dict_type": "not_an_object",
}

#: Fields whose allowed values are the served model names.
_MODEL_FIELDS = frozenset({"model", "models"})


class ApiError(Exception):
    """A refused request: HTTP status, the offending field and a machine-readable reason."""

    def __init__(self, status: int, field: str | None, reason: str, message: str) -> None:
        self.status = status
        self.field = field
        self.reason = reason
        self.message = message
        super().__init__(message)

    def to_json(self) -> dict[str, Any]:
        """The error body every 4xx/5xx answer carries (``contracts.api.ErrorAnswer``)."""
        return {
            "error": {
                "status": self.status,
                "field": self.field,
                "reason": self.reason,
                "message": self.message,
            }
        }


def bad(field: str, reason: str, message: str) -> ApiError:
    """A 400 for ``field``."""
    return ApiError(400, field, reason, f"{field}: {message}")


def _field(error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    if "field" in ctx:  # a model-level check naming its field (e.g. ``conflict``)
        return str(ctx["field"])
    if error["loc"]:
        return str(error["loc"][0])
    return "body"


def _body_error() -> ApiError | None:
    """What is wrong with a body that is not even an object: not JSON, or malformed."""
    if request.method != "POST":
        return None
    if not request.is_json:
        return ApiError(
            415, "body", "not_json", "body: send a JSON object (Content-Type: application/json)"
        )
    if request.get_json(silent=True) is None:
        return bad("body", "invalid_json", "is not valid JSON")
    return None


def refusal(exc: ValidationError) -> ApiError:
    """The first of pydantic's errors as an ``ApiError`` naming its field and reason."""
    error = exc.errors(include_url=False)[0]
    field = _field(error)
    if field == "body" and (body := _body_error()) is not None:
        return body
    kind = error["type"]
    reason = _REASONS.get(kind, kind)
    if reason == "unknown_category" and field in _MODEL_FIELDS:
        reason = "unknown_model"
    elif kind == "greater_than" and (error.get("ctx") or {}).get("gt") == 0:
        # An amount: a negative one is a sign error, zero is just not positive.
        negative = isinstance(error["input"], int | float) and error["input"] < 0
        reason = "negative_amount" if negative else "not_positive"
    message = error["msg"]
    if kind == "extra_forbidden":
        message = "is not an accepted field"
    return bad(field, reason, message[0].lower() + message[1:] if message else reason)
