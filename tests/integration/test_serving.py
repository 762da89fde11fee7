"""End to end serving: registered champions, real model servers, the API under gunicorn.

The models and the clients database come from the real pipeline run on a fresh
clone (``pipeline_repo``: features, train, register, publish). The real launcher
starts both `mlflow models serve` processes and the API on free loopback ports;
the tests exercise every route, concurrency, a bounded schemathesis run, and
the 503 path. Torn down at the end.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.unit.test_api_app import VALID

pytestmark = pytest.mark.slow


def _get(stack: dict[str, Any], path: str, status: int = 200) -> Any:
    response = requests.get(stack["url"] + path, timeout=30)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_health_and_models(stack) -> None:
    registry = json.loads((stack["root"] / "models/registry.json").read_text())
    champions = {name: str(m["champion"]) for name, m in registry["models"].items()}
    health = _get(stack, "/health")
    assert health["status"] == "ok"
    assert health["model_versions"] == champions
    models = _get(stack, "/models")
    metrics = json.loads((stack["root"] / "models/full/metrics.json").read_text())
    assert models["full"]["test_auc"] == pytest.approx(metrics["test_auc"])
    assert models["full"]["threshold"] == pytest.approx(metrics["threshold"])


def test_live_score_matches_the_precomputed_one(stack) -> None:
    client_id = int(stack["clients"]["SK_ID_CURR"].iloc[10])
    for model in ("full", "light"):
        body = _get(stack, f"/clients/{client_id}/score?model={model}")
        assert body["probability"] == pytest.approx(body["precomputed"]["probability"])
        assert body["decision"] == body["precomputed"]["decision"]
        assert body["model_version"] and body["run_id"]
    both = _get(stack, f"/compare/models?client_id={client_id}")
    assert set(both["models"]) == {"full", "light"}


def test_explain_returns_signed_contributions_sorted_by_size(stack) -> None:
    client_id = int(stack["clients"]["SK_ID_CURR"].iloc[4])
    body = _get(stack, f"/clients/{client_id}/explain?model=full&top=4")
    sizes = [abs(c["contribution"]) for c in body["contributions"]]
    assert len(sizes) == 4 and sizes == sorted(sizes, reverse=True)
    assert isinstance(body["base_value"], float)


def test_new_applicant_scores_and_out_of_range_income_warns(stack) -> None:
    response = requests.post(stack["url"] + "/score", json=VALID, timeout=30)
    assert response.status_code == 200, response.text
    assert set(response.json()["scores"]) == {"light"}
    rich = {**VALID, "AMT_INCOME_TOTAL": 1e9, "models": ["light", "full"], "age_years": 40}
    body = requests.post(stack["url"] + "/score", json=rich, timeout=30).json()
    assert set(body["scores"]) == {"light", "full"} and body["warnings"]
    assert body["applicant"]["DAYS_BIRTH"] == -14610


def test_legacy_scores_agree_with_the_new_route(stack) -> None:
    query = "amt_income=150000&amt_goods_price=450000&amt_credit=500000&amt_annuity=25000"
    legacy = _get(stack, f"/legacy/predict/mandatory?{query}")
    new = requests.post(stack["url"] + "/score", json=VALID, timeout=30).json()
    assert legacy == new["scores"]["light"]["score"]
    optional = query + "&gender=Madame&age=35&cnt_children=1&time_employment=3&own_car=Oui"
    assert 0 <= _get(stack, f"/legacy/predict/optional?{optional}&own_realty=Non") <= 100
    _get(stack, "/legacy/predict/optional?" + query, status=400)


def test_comparison_and_legacy_routes_on_the_published_data(stack) -> None:
    """The routes a front end draws its comparison charts from, against the real database."""
    clients = stack["clients"]
    row = clients.iloc[3]
    client_id = int(row["SK_ID_CURR"])
    incomes = clients["AMT_INCOME_TOTAL"]

    dist = _get(stack, "/compare/distribution?feature=AMT_INCOME_TOTAL&population=all&bins=50")
    assert len(dist["counts"]) == 50 and len(dist["edges"]) == 51
    # Every client is in a bar or in the tail counts beyond the axis (publish config).
    assert sum(dist["counts"]) + dist["below"] + dist["above"] == incomes.notna().sum()
    assert dist["above"] > 0  # the income tail is not squashed into the last bar
    repaid = _get(stack, "/compare/distribution?feature=AMT_INCOME_TOTAL&population=repaid")
    in_repaid = sum(repaid["counts"]) + repaid["below"] + repaid["above"]
    assert in_repaid == (clients["TARGET"] == 0).sum()

    position = _get(stack, f"/clients/{client_id}/position")
    by_income = _get(stack, f"/compare/position?income={row['AMT_INCOME_TOTAL']}")
    assert position["income_percentile"] == pytest.approx(by_income["income_percentile"])
    below = (incomes < row["AMT_INCOME_TOTAL"]).mean() * 100
    at_most = (incomes <= row["AMT_INCOME_TOTAL"]).mean() * 100
    assert below - 1e-9 <= position["income_percentile"] <= at_most + 1e-9

    assert _get(stack, f"/legacy/client_info?client_ID={client_id}") is True
    assert _get(stack, "/legacy/client_info?client_ID=1") is False
    stored = _get(stack, f"/clients/{client_id}")["scores"]["full"]["score"]
    assert _get(stack, f"/legacy/predict/ID?client_ID={client_id}") == pytest.approx(stored)
    credit = _get(stack, f"/legacy/compare/ID/client_credit?client_ID={client_id}")
    assert credit == pytest.approx(row["AMT_CREDIT"])
    column = _get(stack, "/legacy/compare/distribution_income")
    assert len(column) == (clients["TARGET"] == 0).sum()

    docs = requests.get(stack["url"] + "/docs", timeout=30)
    assert docs.status_code == 200 and "/compare/distribution" in docs.text


def test_twenty_concurrent_clients(stack) -> None:
    ids = stack["clients"]["SK_ID_CURR"].head(20).tolist()

    def call(client_id: int) -> int:
        with requests.Session() as session:
            for model in ("light", "full"):
                url = f"{stack['url']}/clients/{client_id}/score?model={model}"
                assert session.get(url, timeout=30).status_code == 200
            return session.post(stack["url"] + "/score", json=VALID, timeout=30).status_code

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(call, ids)) == [200] * 20


def test_schemathesis_finds_no_server_error(stack) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

    schema = schemathesis.openapi.from_url(stack["url"] + "/openapi.json")
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=6,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(
                base_url=stack["url"],
                checks=[not_a_server_error, status_code_conformance, content_type_conformance],
            )

        run()
        checked += 1
    assert checked >= 25


def test_zz_a_stopped_model_server_gives_503_and_the_rest_keeps_working(stack) -> None:
    # Named zz so it runs last in this module: it stops the light server for good.
    import os
    import signal

    process = stack["stack"].processes.pop("light")
    os.killpg(process.pid, signal.SIGKILL)  # a crash: the whole group, uvicorn included
    process.wait(timeout=30)
    ping = f"http://127.0.0.1:{stack['ports']['light']}/ping"
    with pytest.raises(requests.ConnectionError):
        for _ in range(50):
            requests.get(ping, timeout=1)
            time.sleep(0.2)
    client_id = int(stack["clients"]["SK_ID_CURR"].iloc[0])
    error = _get(stack, f"/clients/{client_id}/score?model=light", status=503)["error"]
    assert error["server"] == "light"
    health = _get(stack, "/health", status=503)
    assert health["checks"]["model_server_light"]["ok"] is False
    assert health["checks"]["model_server_full"]["ok"] is True
    assert _get(stack, f"/clients/{client_id}")["client_id"] == client_id
    assert _get(stack, "/compare/position?income=100000")["peers"] >= 0
    assert _get(stack, "/compare/distribution?feature=AMT_CREDIT&bins=50")["counts"]
    assert _get(stack, f"/clients/{client_id}/score?model=full")["model"] == "full"
    both = _get(stack, f"/compare/models?client_id={client_id}")
    assert both["models"]["full"]["live"] is True and both["models"]["light"]["live"] is False
    stored = _get(stack, f"/clients/{client_id}")["scores"]["light"]
    assert both["models"]["light"]["score"] == stored["score"]
    assert len(both["warnings"]) == 1 and "'light'" in both["warnings"][0]
