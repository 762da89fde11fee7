"""The prototype's routes under /legacy, for the front end that still calls them.

Same paths (after the prefix), same query parameters, same bare JSON values. Two
deliberate differences: where the prototype crashed with a 500 (missing or
non-numeric parameter, unknown client) these answer 4xx JSON naming the field;
and the score comes from the registered champions, not from a pickled pipeline.

The ``distribution_*`` routes still send a whole column (every repaid client's
value: about 280,000 numbers, ~5 MB of JSON on the real data) because that is
what the old front end draws from; new clients should call
``/compare/distribution``, whose precomputed histogram is under 2 kB.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from credit_scoring.api.routes import database, known_client, scorer
from credit_scoring.api.validation import (
    ApiError,
    parse_legacy_applicant,
    parse_number,
    query_value,
)

bp = Blueprint("legacy", __name__, url_prefix="/legacy")

_AMOUNTS = {"income": "AMT_INCOME_TOTAL", "credit": "AMT_CREDIT", "annuity": "AMT_ANNUITY"}


def _income() -> float:
    return parse_number("amt_income", query_value(request.args, "amt_income"), positive=True)


@bp.get("/")
def hello() -> ResponseReturnValue:
    """Liveness, as the prototype answered it."""
    return jsonify("Hello, World!")


@bp.get("/client_info")
def client_info() -> ResponseReturnValue:
    """``true`` if the client id is in the database."""
    try:
        _client()
    except ApiError as exc:
        if exc.status != 404:
            raise
        return jsonify(False)
    return jsonify(True)


def _client() -> dict:
    """The client named by the prototype's ``client_ID`` parameter; errors name it so."""
    try:
        return known_client(query_value(request.args, "client_ID"))
    except ApiError as exc:
        if exc.field == "client_id":
            exc.field = "client_ID"
        raise


@bp.get("/predict/ID")
def predict_known() -> ResponseReturnValue:
    """The known client's score from the full champion's precomputed probability."""
    return jsonify(_client()["full_score"])


@bp.get("/minimum_income")
def minimum_income() -> ResponseReturnValue:
    """``true`` if the income is at least the smallest income of the clients who repaid."""
    income = _income()
    bounds = database().population().repaid_income_range
    return jsonify(bounds is not None and income >= bounds[0])


@bp.get("/maximum_income")
def maximum_income() -> ResponseReturnValue:
    """``true`` if the income is at most the largest income of the clients who repaid."""
    income = _income()
    bounds = database().population().repaid_income_range
    return jsonify(bounds is not None and income <= bounds[1])


@bp.get("/predict/mandatory")
def predict_mandatory() -> ResponseReturnValue:
    """The light model's score from the four amounts, the six other inputs missing."""
    fields = parse_legacy_applicant(request.args, optional=False)
    return jsonify(scorer().score_fields("light", fields)["score"])


@bp.get("/predict/optional")
def predict_optional() -> ResponseReturnValue:
    """The light model's score from all ten inputs in the prototype's units and labels."""
    fields = parse_legacy_applicant(request.args, optional=True)
    return jsonify(scorer().score_fields("light", fields)["score"])


@bp.get("/compare/ID/client_<amount>")
def client_amount(amount: str) -> ResponseReturnValue:
    """The client's income, credit or annuity."""
    if amount not in _AMOUNTS:
        raise ApiError(404, None, "not_found", f"no route /compare/ID/client_{amount}")
    return jsonify(_client()[_AMOUNTS[amount]])


@bp.get("/compare/distribution_<amount>")
def distribution(amount: str) -> ResponseReturnValue:
    """Every repaid client's income, credit or annuity (the whole column; see module doc)."""
    if amount not in _AMOUNTS:
        raise ApiError(404, None, "not_found", f"no route /compare/distribution_{amount}")
    return jsonify(database().repaid_column(_AMOUNTS[amount]))


@bp.get("/compare/metric_<int:number>")
def metric(number: int) -> ResponseReturnValue:
    """1: income percentile; 2 and 3: mean credit and annuity of repaid peers (±5% income)."""
    keys = {1: "income_percentile", 2: "peers_mean_credit", 3: "peers_mean_annuity"}
    if number not in keys:
        raise ApiError(404, None, "not_found", f"no route /compare/metric_{number}")
    return jsonify(database().population().position(_income())[keys[number]])
