"""The OpenAPI 3 document of the API (served at /openapi.json) and the /docs page built from it.

Written as data, next to the routes it describes; a test checks that every Flask
route appears here and a schemathesis run checks the behaviour against it.
The /docs page is plain HTML rendered from the same document: no CDN, no script.
"""

from __future__ import annotations

from html import escape
from typing import Any

from credit_scoring.api.tables import MODEL_NAMES, POPULATIONS
from credit_scoring.api.validation import APPLICANT_FIELDS, MAX_AGE_YEARS, MAX_YEARS_EMPLOYED

_ERROR = {"$ref": "#/components/schemas/Error"}


def _query(name: str, schema: dict[str, Any], *, required: bool = False, doc: str = "") -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": doc}


_CLIENT_ID = {
    "name": "client_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "format": "int64"},
    "description": "SK_ID_CURR of a known client",
}
_MODEL = _query("model", {"type": "string", "enum": list(MODEL_NAMES)}, doc="default: light")
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_YEARS_EMPLOYED = {"type": "number", "minimum": 0, "maximum": MAX_YEARS_EMPLOYED}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "invalid parameter or body (the error names the field)",
        404: "unknown client or route",
        413: "body too large",
        415: "body is not JSON",
        422: "the stored client lacks a field",
        502: "the model server rejected the request built for it",
        503: "database or a model server unavailable",
    }
    return {str(c): _json(_ERROR, reasons[c]) for c in codes}


def _get(summary: str, params: list[dict], ok: dict[str, Any], *codes: int) -> dict:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {"200": _json(ok, "success"), **_errors(400, *codes)},
        }
    }


_SCORE = {"$ref": "#/components/schemas/Score"}
_ANY = {}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_INCOME = _query("amt_income", _POSITIVE, required=True)
_LEGACY_CLIENT = _query("client_ID", {"type": "integer"}, required=True)
_LEGACY_AMOUNTS = [
    _INCOME,
    _query("amt_goods_price", _POSITIVE, required=True),
    _query("amt_credit", _POSITIVE, required=True),
    _query("amt_annuity", _POSITIVE, required=True),
]
_LEGACY_OPTIONAL = [
    _query("gender", {"type": "string", "enum": ["Monsieur", "Madame"]}, required=True),
    _query("age", {**_POSITIVE, "maximum": MAX_AGE_YEARS}, required=True, doc="years"),
    _query("cnt_children", {"type": "integer", "minimum": 0}, required=True),
    _query("time_employment", _YEARS_EMPLOYED, required=True, doc="years"),
    _query("own_car", {"type": "string", "enum": ["Oui", "Non"]}, required=True),
    _query("own_realty", {"type": "string", "enum": ["Oui", "Non"]}, required=True),
]

_APPLICANT = {
    "type": "object",
    "additionalProperties": False,
    "required": list(APPLICANT_FIELDS[:4]),
    "properties": {
        **{f: _POSITIVE for f in APPLICANT_FIELDS[:4]},
        "CODE_GENDER": {"type": "string", "enum": ["M", "F"]},
        "age_years": {**_POSITIVE, "maximum": MAX_AGE_YEARS, "description": "or DAYS_BIRTH"},
        "DAYS_BIRTH": {"type": "number", "exclusiveMaximum": 0},
        "CNT_CHILDREN": {"type": "integer", "minimum": 0},
        "years_employed": {**_YEARS_EMPLOYED, "description": "or DAYS_EMPLOYED"},
        "DAYS_EMPLOYED": {"type": "number", "maximum": 0, "description": "or 365243"},
        "FLAG_OWN_CAR": {"oneOf": [{"type": "string", "enum": ["Y", "N"]}, {"type": "boolean"}]},
        "FLAG_OWN_REALTY": {"oneOf": [{"type": "string", "enum": ["Y", "N"]}, {"type": "boolean"}]},
        "models": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": list(MODEL_NAMES)},
        },
    },
}


def _legacy_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/legacy/": _get("Liveness: the string 'Hello, World!'", [], {"type": "string"}),
        "/legacy/client_info": _get("Is the client known", [_LEGACY_CLIENT], {"type": "boolean"}),
        "/legacy/predict/ID": _get(
            "Known client's precomputed full-model score", [_LEGACY_CLIENT], {"type": "number"}, 404
        ),
        "/legacy/minimum_income": _get(
            "Income >= smallest income of repaid clients", [_INCOME], {"type": "boolean"}, 503
        ),
        "/legacy/maximum_income": _get(
            "Income <= largest income of repaid clients", [_INCOME], {"type": "boolean"}, 503
        ),
        "/legacy/predict/mandatory": _get(
            "Light-model score from the four amounts", _LEGACY_AMOUNTS, {"type": "number"}, 502, 503
        ),
        "/legacy/predict/optional": _get(
            "Light-model score from all ten inputs",
            _LEGACY_AMOUNTS + _LEGACY_OPTIONAL,
            {"type": "number"},
            502,
            503,
        ),
    }
    for amount in ("income", "credit", "annuity"):
        paths[f"/legacy/compare/ID/client_{amount}"] = _get(
            f"The client's {amount}", [_LEGACY_CLIENT], _NUMBER_OR_NULL, 404
        )
        paths[f"/legacy/compare/distribution_{amount}"] = _get(
            f"Every repaid client's {amount}: a whole column (MBs on real data; prefer "
            "/compare/distribution)",
            [],
            {"type": "array", "items": {"type": "number"}},
            503,
        )
    for number, what in (
        (1, "income percentile"),
        (2, "peers' mean credit"),
        (3, "peers' mean annuity"),
    ):
        paths[f"/legacy/compare/metric_{number}"] = _get(what, [_INCOME], _NUMBER_OR_NULL, 503)
    return paths


def openapi_document(*, max_top: int) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route; ``max_top`` is ``serve.api.max_top``."""
    position = {"$ref": "#/components/schemas/Position"}
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "summary": "Database and model servers reachable; model versions",
                "responses": {
                    "200": _json({"type": "object"}, "all parts up"),
                    "503": _json({"type": "object"}, "a part is down (details per check)"),
                },
            }
        },
        "/models": _get("Champions: registry version, test AUC, threshold, date", [], _ANY, 503),
        "/clients/{client_id}": _get(
            "A client's main fields and precomputed scores", [_CLIENT_ID], _ANY, 404, 503
        ),
        "/clients/{client_id}/score": _get(
            "Live score from the model server, precomputed score alongside",
            [_CLIENT_ID, _MODEL],
            _SCORE,
            404,
            502,
            503,
        ),
        "/clients/{client_id}/explain": _get(
            "Signed SHAP contributions of the top features and the base value",
            [
                _CLIENT_ID,
                _MODEL,
                _query("top", {"type": "integer", "minimum": 1, "maximum": max_top}),
            ],
            _SCORE,
            404,
            502,
            503,
        ),
        "/clients/{client_id}/position": _get(
            "The client's income compared with all clients and repaid peers",
            [_CLIENT_ID],
            position,
            404,
            422,
            503,
        ),
        "/score": {
            "post": {
                "summary": "Score a new applicant (light model; full on request)",
                "parameters": [_query("model", {"type": "string", "enum": list(MODEL_NAMES)})],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _APPLICANT}},
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "applicant": {"type": "object"},
                                "scores": {"type": "object", "additionalProperties": _SCORE},
                                "warnings": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                        "scores by model; warnings (e.g. income outside the database's range)",
                    ),
                    **_errors(400, 413, 415, 502, 503),
                },
            }
        },
        "/compare/distribution": _get(
            "Precomputed histogram of a feature",
            [
                _query("feature", {"type": "string"}, required=True, doc="e.g. AMT_INCOME_TOTAL"),
                _query("population", {"type": "string", "enum": list(POPULATIONS)}),
                _query(
                    "bins", {"type": "integer", "minimum": 1}, doc="one of the published counts"
                ),
            ],
            {"$ref": "#/components/schemas/Distribution"},
            404,
            503,
        ),
        "/compare/position": _get(
            "Income percentile and repaid peers' mean credit and annuity",
            [_query("income", _POSITIVE, required=True)],
            position,
            503,
        ),
        "/compare/models": _get(
            "Full and light scores of a client side by side (precomputed where a server is down)",
            [_query("client_id", {"type": "integer"}, required=True)],
            _ANY,
            404,
            502,
        ),
        "/monitoring/summary": _get(
            "Prediction log of a period: counts per model and decision, refusal rate, "
            "latency p50/p95, score histogram",
            [
                _query("since", {"type": "string", "format": "date-time"}, doc="UTC if no offset"),
                _query("until", {"type": "string", "format": "date-time"}, doc="exclusive"),
            ],
            {"type": "object"},
            400,
            503,
        ),
        "/openapi.json": _get("This document", [], {"type": "object"}),
        **_legacy_paths(),
    }
    paths["/docs"] = {
        "get": {
            "summary": "This document as a human-readable page",
            "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "credit-scoring API",
            "version": "1.0",
            "description": "Scores, explanations and comparisons for a loan officer's front end. "
            "Every error is JSON naming the field and the reason.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["status", "reason", "message"],
                            "properties": {
                                "status": {"type": "integer"},
                                "field": {"type": ["string", "null"]},
                                "reason": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
                "Score": {
                    "type": "object",
                    "required": ["model", "probability", "score", "decision", "threshold"],
                    "properties": {
                        "model": {"type": "string", "enum": list(MODEL_NAMES)},
                        "probability": {"type": "number", "minimum": 0, "maximum": 1},
                        "score": {"type": "number", "minimum": 0, "maximum": 100},
                        "decision": {"type": "string", "enum": ["granted", "refused"]},
                        "threshold": {"type": "number"},
                        "model_version": {"type": "string"},
                    },
                },
                "Position": {
                    "type": "object",
                    "required": ["income", "income_percentile", "peers"],
                    "properties": {
                        "income": {"type": "number"},
                        "income_percentile": _NUMBER_OR_NULL,
                        "peers": {"type": "integer"},
                        "peers_mean_credit": _NUMBER_OR_NULL,
                        "peers_mean_annuity": _NUMBER_OR_NULL,
                    },
                },
                "Distribution": {
                    "type": "object",
                    "required": ["feature", "population", "bins", "edges", "counts"],
                    "properties": {
                        "feature": {"type": "string"},
                        "population": {"type": "string"},
                        "bins": {"type": "integer"},
                        "edges": {"type": "array", "items": {"type": "number"}},
                        "counts": {"type": "array", "items": {"type": "integer"}},
                        "below": {"type": "integer"},
                        "above": {"type": "integer"},
                        "missing": {"type": "integer"},
                    },
                },
            }
        },
    }


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained HTML page listing every route, its parameters and answers."""
    rows = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            params = ", ".join(
                f"{p['name']}{'*' if p.get('required') else ''}" for p in op.get("parameters", [])
            )
            if "requestBody" in op:
                body = op["requestBody"]["content"]["application/json"]["schema"]
                params = (
                    (params + "; " if params else "")
                    + "JSON body: "
                    + ", ".join(
                        f"{name}{'*' if name in body.get('required', []) else ''}"
                        for name in body["properties"]
                    )
                )
            codes = ", ".join(op["responses"])
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(op['summary'])}</td><td>{escape(params)}</td><td>{codes}</td></tr>"
            )
    info = document["info"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(info['title'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style>"
        f"</head><body><h1>{escape(info['title'])} {escape(info['version'])}</h1>"
        f"<p>{escape(info['description'])} Machine-readable: <a href='/openapi.json'>"
        "/openapi.json</a>. <code>*</code> = required.</p><table><tr><th>method</th>"
        "<th>path</th><th>what</th><th>parameters</th><th>statuses</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
