"""The prototype's routes under /legacy, for the front end that still calls them.

Same paths (after the prefix), same query parameters, same bare JSON values. Two
deliberate differences: where the prototype crashed with a 500 (missing or
non-numeric parameter, unknown client) these answer 4xx JSON naming the field;
and the score comes from the registered champions, not from a pickled pipeline.
The parameters are declared in ``credit_scoring.contracts.api`` (``Legacy*``).

The ``distribution_*`` routes still send a whole column (every repaid client's
value: about 280,000 numbers, ~5 MB of JSON on the real data) because that is
what the old front end draws from; new clients should call
``/compare/distribution``, whose precomputed histogram is under 2 kB.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_openapi3 import APIBlueprint

from credit_scoring.api.routes import answers, database, handed_out, known_client, route, scorer
from credit_scoring.contracts.api import (
    LegacyClientQuery,
    LegacyColumn,
    LegacyFlag,
    LegacyIncomeQuery,
    LegacyMandatoryQuery,
    LegacyNumber,
    LegacyOptionalQuery,
    LegacyText,
)

_AMOUNTS = {"income": "AMT_INCOME_TOTAL", "credit": "AMT_CREDIT", "annuity": "AMT_ANNUITY"}
_METRICS = {1: "income_percentile", 2: "peers_mean_credit", 3: "peers_mean_annuity"}


def hello() -> Any:
    """Liveness, as the prototype answered it: the string 'Hello, World!'."""
    return jsonify("Hello, World!")


def client_info(query: LegacyClientQuery) -> Any:
    """``true`` if the client id is in the database."""
    return jsonify(database().client(query.client_ID) is not None)


def predict_known(query: LegacyClientQuery) -> Any:
    """The known client's score from the full champion's precomputed probability."""
    return jsonify(known_client(query.client_ID, "client_ID")["full_score"])


def minimum_income(query: LegacyIncomeQuery) -> Any:
    """``true`` if the income is at least the smallest income of the clients who repaid."""
    bounds = database().population().repaid_income_range
    return jsonify(bounds is not None and query.amt_income >= bounds[0])


def maximum_income(query: LegacyIncomeQuery) -> Any:
    """``true`` if the income is at most the largest income of the clients who repaid."""
    bounds = database().population().repaid_income_range
    return jsonify(bounds is not None and query.amt_income <= bounds[1])


def _light_score(route_name: str, fields: dict[str, Any]) -> float:
    return handed_out(route_name, fields, scorer().score_fields("light", fields))["score"]


def predict_mandatory(query: LegacyMandatoryQuery) -> Any:
    """The light model's score from the four amounts, the six other inputs missing."""
    return jsonify(_light_score("/legacy/predict/mandatory", query.model_fields_for_scoring()))


def predict_optional(query: LegacyOptionalQuery) -> Any:
    """The light model's score from all ten inputs in the prototype's units and labels."""
    return jsonify(_light_score("/legacy/predict/optional", query.model_fields_for_scoring()))


def _client_amount(amount: str) -> Any:
    def client_amount(query: LegacyClientQuery) -> Any:
        return jsonify(known_client(query.client_ID, "client_ID")[_AMOUNTS[amount]])

    client_amount.__doc__ = f"The client's {amount} ({_AMOUNTS[amount]})."
    client_amount.__name__ = f"client_{amount}"
    return client_amount


def _distribution(amount: str) -> Any:
    def distribution() -> Any:
        return jsonify(database().repaid_column(_AMOUNTS[amount]))

    distribution.__doc__ = (
        f"Every repaid client's {amount}: a whole column (MBs on real data; prefer "
        "/compare/distribution)."
    )
    distribution.__name__ = f"distribution_{amount}"
    return distribution


def _metric(number: int) -> Any:
    def metric(query: LegacyIncomeQuery) -> Any:
        return jsonify(database().population().position(query.amt_income)[_METRICS[number]])

    metric.__doc__ = {
        1: "Percentage of all clients whose income is strictly below this one.",
        2: "Mean credit of the repaid clients whose income is within ±5% of this one.",
        3: "Mean annuity of the repaid clients whose income is within ±5% of this one.",
    }[number]
    metric.__name__ = f"metric_{number}"
    return metric


def blueprint() -> APIBlueprint:
    """The prototype's routes (one route per amount and metric, as it had)."""
    bp = APIBlueprint("legacy", __name__, url_prefix="/legacy")
    route(bp, "get", "/", "public", answers(LegacyText, scope="public"))(hello)
    route(bp, "get", "/client_info", "read", answers(LegacyFlag, 503))(client_info)
    route(bp, "get", "/predict/ID", "read", answers(LegacyNumber, 404, 503))(predict_known)
    for func in (minimum_income, maximum_income):
        route(bp, "get", f"/{func.__name__}", "read", answers(LegacyFlag, 503))(func)
    live = answers(LegacyNumber, 502, 503, scope="score")
    route(bp, "get", "/predict/mandatory", "score", live)(predict_mandatory)
    route(bp, "get", "/predict/optional", "score", live)(predict_optional)
    for amount in _AMOUNTS:
        route(bp, "get", f"/compare/ID/client_{amount}", "read", answers(LegacyNumber, 404, 503))(
            _client_amount(amount)
        )
        route(bp, "get", f"/compare/distribution_{amount}", "read", answers(LegacyColumn, 503))(
            _distribution(amount)
        )
    for number in _METRICS:
        route(bp, "get", f"/compare/metric_{number}", "read", answers(LegacyNumber, 503))(
            _metric(number)
        )
    return bp
