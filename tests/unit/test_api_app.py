"""The API against a real tiny clients database, with both model servers unreachable.

Everything that needs no model server must answer; everything that does must
answer 503 naming the server; nothing may answer HTML or a 500.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from credit_scoring.api import create_app
from tests.conftest import free_port
from tests.unit.test_api_publish import publish_tiny

VALID = {
    "AMT_INCOME_TOTAL": 150000,
    "AMT_GOODS_PRICE": 450000,
    "AMT_CREDIT": 500000,
    "AMT_ANNUITY": 25000,
}


def serve_config(database_url: str, ports: dict[str, int]) -> dict[str, Any]:
    """conf/'s ``serve`` group (composed, as `make serve` does) for a database and ports.

    What differs from the shipped defaults is what an in-process test needs: no
    prediction log, no rate limits, no keys from the environment (a developer's
    shell may hold some), short timeouts, and every answer checked against its model.
    Composed once per process; each call gets its own copy to change.
    """
    config = json.loads(_test_serve_group())
    config["database_url"] = database_url
    for name, port in ports.items():
        config["model_servers"][name]["port"] = port
    return config


@functools.cache
def _test_serve_group() -> str:
    from tests.integration.serving import serve_config as composed

    return json.dumps(
        composed(
            [
                "serve.api.max_content_length=2048",
                "serve.api.max_top=50",
                # Recheck 0: every lookup sees a republish at once, as the tests expect.
                "serve.api.db_recheck_seconds=0",
                # Every answer is checked against its declared model: a drift fails here.
                "serve.api.validate_responses=true",
                "serve.api.auth.keys_env=null",
                "serve.api.auth.legacy_query_param=null",
                "serve.api.rate_limits.read=null",
                "serve.api.rate_limits.score=null",
                "serve.client.connect_timeout=0.2",
                "serve.client.read_timeout=2.0",
                "serve.client.pool_size=4",
                "serve.prediction_log.enabled=false",
            ]
        )
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("api") / "clients.db"
    clients, _ = publish_tiny(path)
    return path, clients


@pytest.fixture(scope="module")
def app(published: tuple[Path, pd.DataFrame]) -> Flask:
    path, _ = published
    ports = {"full": free_port(), "light": free_port()}
    return create_app(serve_config(f"sqlite:///{path}", ports))


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def clients(published: tuple[Path, pd.DataFrame]) -> pd.DataFrame:
    return published[1]


def _error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert error["status"] == status and error["message"]
    if field is not None:
        assert error["field"] == field
    return error


def test_known_client_shows_fields_and_precomputed_scores(client, clients) -> None:
    row = clients.iloc[5]
    body = client.get(f"/clients/{row['SK_ID_CURR']}").get_json()
    assert body["client_id"] == row["SK_ID_CURR"]
    assert body["fields"]["AMT_INCOME_TOTAL"] == pytest.approx(row["AMT_INCOME_TOTAL"])
    assert body["fields"]["CODE_GENDER"] == row["CODE_GENDER"]
    assert body["age_years"] == pytest.approx(-row["DAYS_BIRTH"] / 365.25, abs=0.05)
    assert set(body["scores"]) == {"full", "light"}
    assert 0 <= body["scores"]["full"]["score"] <= 100


def test_unknown_and_malformed_client_ids(client) -> None:
    _error(client.get("/clients/42"), 404, "client_id")
    _error(client.get("/clients/abc"), 400, "client_id")
    _error(client.get("/clients/1.5/score"), 400, "client_id")
    _error(client.get("/clients/-7"), 404, "client_id")


# Texts str.isdigit or a blanket lstrip("-") would let through to int(), which refuses
# them: each must be a 400 naming the parameter, never a 500.
NOT_INTEGERS = ["--5", "\u00b2", "\u0663", "5-", "1e3", "9" * 19]


@pytest.mark.parametrize("text", NOT_INTEGERS)
def test_integer_parameters_refuse_what_int_would_choke_on(client, clients, text) -> None:
    from urllib.parse import quote

    q = quote(text)
    known = clients["SK_ID_CURR"].iloc[0]
    for path, field in (
        (f"/clients/{q}", "client_id"),
        (f"/clients/{q}/score", "client_id"),
        (f"/clients/{q}/explain", "client_id"),
        (f"/clients/{q}/position", "client_id"),
        (f"/compare/models?client_id={q}", "client_id"),
        (f"/legacy/client_info?client_ID={q}", "client_ID"),
        (f"/legacy/predict/ID?client_ID={q}", "client_ID"),
        (f"/legacy/compare/ID/client_credit?client_ID={q}", "client_ID"),
        (f"/compare/distribution?feature=AMT_CREDIT&bins={q}", "bins"),
        (f"/clients/{known}/explain?top={q}", "top"),
    ):
        assert _error(client.get(path), 400, field)["reason"] == "not_an_integer", path


def test_models_come_from_the_database(client) -> None:
    body = client.get("/models").get_json()
    assert body["full"]["version"] == "3" and body["light"]["version"] == "2"
    assert body["light"]["test_auc"] == pytest.approx(0.7)


def test_health_names_each_unreachable_model_server(client) -> None:
    response = client.get("/health")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["model_server_full"]["ok"] is False
    assert checks["model_server_light"]["ok"] is False


def test_live_scores_answer_503_naming_the_server(client, clients) -> None:
    client_id = clients["SK_ID_CURR"].iloc[0]
    error = _error(client.get(f"/clients/{client_id}/score?model=full"), 503)
    assert error["server"] == "full" and error["reason"] == "model_server_unavailable"
    assert _error(client.post("/score", json=VALID), 503)["server"] == "light"
    assert (
        _error(
            client.get(
                "/legacy/predict/mandatory?amt_income=1&amt_goods_price=2"
                "&amt_credit=3&amt_annuity=4"
            ),
            503,
        )["server"]
        == "light"
    )


def test_model_comparison_falls_back_to_precomputed_scores(client, clients) -> None:
    client_id = clients["SK_ID_CURR"].iloc[0]
    stored = client.get(f"/clients/{client_id}").get_json()["scores"]
    body = client.get(f"/compare/models?client_id={client_id}").get_json()
    for model in ("full", "light"):
        answer = body["models"][model]
        assert answer["live"] is False
        assert {k: answer[k] for k in stored[model]} == stored[model]
        assert any(repr(model) in w and "precomputed" in w for w in body["warnings"])
    expected = stored["full"]["score"] - stored["light"]["score"]
    assert body["score_difference"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"AMT_CREDIT": None}, "AMT_CREDIT", "missing"),
        ({"AMT_CREDIT": "a lot"}, "AMT_CREDIT", "not_a_number"),
        ({"AMT_CREDIT": True}, "AMT_CREDIT", "not_a_number"),
        ({"AMT_ANNUITY": -5}, "AMT_ANNUITY", "negative_amount"),
        ({"CODE_GENDER": "X"}, "CODE_GENDER", "unknown_category"),
        ({"FLAG_OWN_CAR": "maybe"}, "FLAG_OWN_CAR", "unknown_category"),
        ({"age_years": 40, "DAYS_BIRTH": -9000}, "age_years", "conflict"),
        ({"CNT_CHILDREN": 1.5}, "CNT_CHILDREN", "not_an_integer"),
        ({"DAYS_EMPLOYED": 100}, "DAYS_EMPLOYED", "out_of_range"),
        ({"salary": 1}, "salary", "unknown_field"),
        ({"models": ["huge"]}, "models", "unknown_model"),
    ],
)
def test_score_refuses_bad_applicants_naming_the_field(client, change, field, reason) -> None:
    body = {**VALID, **change}
    body = {k: v for k, v in body.items() if v is not None}
    assert _error(client.post("/score", json=body), 400, field)["reason"] == reason


def test_score_refuses_unknown_model_wrong_type_and_oversized_bodies(client) -> None:
    _error(client.post("/score?model=medium", json=VALID), 400, "model")
    _error(client.post("/score", data="AMT_CREDIT=1"), 415, "body")
    _error(client.post("/score", data="{not json", content_type="application/json"), 400, "body")
    _error(client.post("/score", json=[1, 2]), 400, "body")
    _error(client.post("/score", json={**VALID, "pad": "x" * 4096}), 413, "body")


def test_errors_are_json_for_unknown_routes_and_methods(client) -> None:
    _error(client.get("/nowhere"), 404)
    _error(client.delete("/models"), 405)


def test_distribution_comes_from_precomputed_statistics(client, clients) -> None:
    body = client.get("/compare/distribution?feature=AMT_CREDIT&population=repaid&bins=10")
    data = body.get_json()
    assert len(data["counts"]) == 10 and len(data["edges"]) == 11
    assert sum(data["counts"]) + data["below"] + data["above"] == (clients["TARGET"] == 0).sum()
    _error(client.get("/compare/distribution?feature=SK_ID_CURR"), 400, "feature")
    _error(client.get("/compare/distribution?feature=AMT_CREDIT&bins=7"), 400, "bins")
    _error(client.get("/compare/distribution?feature=AMT_CREDIT&population=x"), 400, "population")
    _error(client.get("/compare/distribution"), 400, "feature")


def test_position_matches_the_prototypes_metrics(client, clients) -> None:
    row = clients.iloc[7]
    income = float(row["AMT_INCOME_TOTAL"])
    repaid = clients[clients["TARGET"] == 0]
    peers = repaid[repaid["AMT_INCOME_TOTAL"].between(0.95 * income, 1.05 * income, "neither")]
    body = client.get(f"/clients/{row['SK_ID_CURR']}/position").get_json()
    assert body["income_percentile"] == pytest.approx(
        100 * (clients["AMT_INCOME_TOTAL"] < income).mean()
    )
    assert body["peers"] == len(peers)
    assert client.get(f"/compare/position?income={income}").get_json() == {
        k: v for k, v in body.items() if k != "client_id"
    }
    assert client.get(f"/legacy/compare/metric_1?amt_income={income}").get_json() == (
        pytest.approx(body["income_percentile"])
    )
    metric_2 = client.get(f"/legacy/compare/metric_2?amt_income={income}").get_json()
    assert metric_2 == (pytest.approx(peers["AMT_CREDIT"].mean()) if len(peers) else None)
    _error(client.get("/compare/position?income=-3"), 400, "income")
    _error(client.get("/compare/position?income=nan"), 400, "income")


def test_legacy_routes_answer_bare_values(client, clients) -> None:
    row = clients.iloc[2]
    cid = row["SK_ID_CURR"]
    repaid = clients.loc[clients["TARGET"] == 0, "AMT_INCOME_TOTAL"]
    assert client.get("/legacy/").get_json() == "Hello, World!"
    assert client.get(f"/legacy/client_info?client_ID={cid}").get_json() is True
    assert client.get("/legacy/client_info?client_ID=1").get_json() is False
    full = client.get(f"/clients/{cid}").get_json()["scores"]["full"]["score"]
    assert client.get(f"/legacy/predict/ID?client_ID={cid}").get_json() == full
    income = client.get(f"/legacy/compare/ID/client_income?client_ID={cid}").get_json()
    assert income == pytest.approx(row["AMT_INCOME_TOTAL"])
    lowest = repaid.min()
    assert client.get(f"/legacy/minimum_income?amt_income={lowest}").get_json() is True
    assert client.get(f"/legacy/minimum_income?amt_income={lowest - 1}").get_json() is False
    assert client.get(f"/legacy/maximum_income?amt_income={repaid.max() + 1}").get_json() is False
    column = client.get("/legacy/compare/distribution_income").get_json()
    assert sorted(column) == pytest.approx(sorted(repaid))


def test_legacy_routes_answer_4xx_where_the_prototype_crashed(client) -> None:
    _error(client.get("/legacy/predict/ID?client_ID=1"), 404, "client_ID")
    _error(client.get("/legacy/predict/ID"), 400, "client_ID")
    _error(client.get("/legacy/compare/ID/client_credit?client_ID=x"), 400, "client_ID")
    _error(client.get("/legacy/minimum_income"), 400, "amt_income")
    _error(client.get("/legacy/compare/metric_3?amt_income=abc"), 400, "amt_income")
    _error(client.get("/legacy/predict/mandatory?amt_income=1"), 400, "amt_goods_price")
    query = "amt_income=1&amt_goods_price=2&amt_credit=3&amt_annuity=4&gender=Autre"
    _error(client.get(f"/legacy/predict/optional?{query}"), 400, "gender")
    _error(client.get("/legacy/compare/metric_9?amt_income=1"), 404)


def test_openapi_states_the_configured_top_limit(published) -> None:
    config = serve_config(f"sqlite:///{published[0]}", {"full": 1, "light": 2})
    config["api"]["max_top"] = 7
    document = create_app(config).test_client().get("/openapi.json").get_json()
    explain = document["paths"]["/clients/{client_id}/explain"]["get"]["parameters"]
    (top,) = [p for p in explain if p["name"] == "top"]
    assert top["schema"]["maximum"] == 7


def test_openapi_documents_every_route_and_docs_lists_them(app, client) -> None:
    document = client.get("/openapi.json").get_json()
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<client_id>", "{client_id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    # Every route is documented, and the document is all routes: it is generated from them.
    assert served == documented
    page = client.get("/docs").get_data(as_text=True)
    assert all(path in page for path, _ in documented)
    assert "http://" not in page and "https://" not in page


def test_a_bad_serve_value_stops_the_app_naming_its_key(published) -> None:
    """Workers get ``serve`` as JSON: the one schema checks it, as it checks `make serve`."""
    from credit_scoring.config import ConfigError

    config = serve_config(f"sqlite:///{published[0]}", {"full": 1, "light": 2})
    config["api"]["max_top"] = "many"
    config["client"]["pool_sise"] = 4
    with pytest.raises(ConfigError) as error:
        create_app(config)
    message = str(error.value)
    assert "serve.api.max_top" in message and "serve.client.pool_sise: unknown key" in message
