"""End to end serving: real models in a real registry, real model servers, the API under gunicorn.

On a tiny data set: fit both contract models (the product's own pipeline and
pyfunc wrapper), log and register them as ``@champion`` in a throwaway MLflow
store, publish the clients database with the real stage code, then start the
stack with the real launcher on free loopback ports and exercise every route,
concurrency, a bounded schemathesis run, and the 503 path. Torn down at the end.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.unit.test_api_app import VALID, serve_config
from tests.unit.test_api_publish import HISTORY_USED, SETTINGS, tiny_clients

pytestmark = pytest.mark.slow

FEATURES = {
    "light": None,  # LIGHT_FIELDS
    "full": HISTORY_USED,  # LIGHT_FIELDS + a few history aggregates -> app fields + HISTORY
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _register_models(tmp: Path, clients: Any) -> str:
    """Fit, log and register both models as @champion in a store under ``tmp``."""
    import mlflow
    from lightgbm import LGBMClassifier
    from mlflow import MlflowClient

    from credit_scoring.data.schema import LIGHT_FIELDS
    from credit_scoring.models.pipeline import build_pipeline
    from credit_scoring.models.pyfunc import (
        CreditScoringModel,
        input_fields,
        log_pyfunc,
        model_signature,
    )
    from credit_scoring.publish import input_columns, model_frame

    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment(
        "serving-test", artifact_location=(tmp / "mlruns").as_uri()
    )
    train = clients[clients["split"] == "train"]
    client = MlflowClient()
    for name, extra in FEATURES.items():
        features = (*LIGHT_FIELDS, *(extra or ()))
        fields = input_fields(features)
        registered = f"credit-scoring-{name}"
        with mlflow.start_run(experiment_id=experiment) as run:
            classifier = LGBMClassifier(n_estimators=30, min_child_samples=5, verbose=-1)
            pipeline = build_pipeline(features, classifier).fit(train, train["TARGET"])
            model = CreditScoringModel(
                pipeline,
                calibrator=None,
                threshold=0.3,
                registered_name=registered,
                run_id=run.info.run_id,
                fields=fields,
            )
            inputs = input_columns(model_signature(fields).inputs)
            info = log_pyfunc(model, model_frame(train.head(3), inputs, name))
            mlflow.log_metrics({"test_auc": 0.61, "threshold": 0.3})
        version = mlflow.register_model(info.model_uri, registered)
        client.set_registered_model_alias(registered, "champion", version.version)
    return uri


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Registered models, a published database and the running stack; stopped at the end."""
    import mlflow

    from credit_scoring.api.launcher import ServingStack
    from credit_scoring.publish import load_champion, publish

    tmp = tmp_path_factory.mktemp("serving")
    clients = tiny_clients(n_train=400, n_test=100, seed=1)
    tracking_uri = _register_models(tmp, clients)
    champions = {
        name: load_champion(name, f"credit-scoring-{name}", "champion") for name in FEATURES
    }
    database_url = f"sqlite:///{tmp / 'clients.db'}"
    publish(clients, champions, database_url, SETTINGS)
    mlflow.set_tracking_uri(None)

    ports = {"full": _free_port(), "light": _free_port()}
    config = serve_config(database_url, ports)
    api_port = _free_port()
    config["api"].update(
        host="127.0.0.1", port=api_port, workers=2, threads=4, timeout=30, graceful_timeout=3
    )
    config.update(startup_timeout=120, stop_timeout=10)
    running = ServingStack(config, tracking_uri)
    running.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{api_port}",
            "clients": clients,
            "stack": running,
            "ports": ports,
        }
    finally:
        running.stop()


def _get(stack: dict[str, Any], path: str, status: int = 200) -> Any:
    response = requests.get(stack["url"] + path, timeout=30)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_health_and_models(stack) -> None:
    health = _get(stack, "/health")
    assert health["status"] == "ok"
    assert health["model_versions"] == {"full": "1", "light": "1"}
    models = _get(stack, "/models")
    assert models["full"]["test_auc"] == pytest.approx(0.61)


def test_live_score_matches_the_precomputed_one(stack) -> None:
    client_id = int(stack["clients"]["SK_ID_CURR"].iloc[10])
    for model in ("full", "light"):
        body = _get(stack, f"/clients/{client_id}/score?model={model}")
        assert body["probability"] == pytest.approx(body["precomputed"]["probability"])
        assert body["decision"] == body["precomputed"]["decision"]
        assert body["model_version"] == "1" and body["run_id"]
    # Row 3 lacks AMT_ANNUITY, a required input: sent as null, scored as missing.
    missing_annuity = int(stack["clients"]["SK_ID_CURR"].iloc[3])
    assert _get(stack, f"/clients/{missing_annuity}/score?model=full")["model"] == "full"
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
    assert _get(stack, f"/clients/{client_id}/score?model=full")["model"] == "full"
