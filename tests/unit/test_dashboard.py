"""The dashboard's parts that need no stack: labels, figures, settings, the HTTP client's errors.

The API client is exercised against a real HTTP server on loopback (a tiny Flask
app under werkzeug) that answers the way the API does when things go wrong, and
the whole app is run once by Streamlit's AppTest with no API at all.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flask import Flask, jsonify
from werkzeug.serving import make_server

from credit_scoring.api.launcher import programs
from credit_scoring.dashboard import server
from credit_scoring.dashboard.client import (
    ApiClient,
    ApiKeyRejected,
    ApiRefused,
    ApiUnreachable,
    ServiceDown,
)
from credit_scoring.dashboard.figures import (
    percentile_in_histogram,
    score_threshold,
    waterfall_frame,
    what_if_values,
)
from credit_scoring.dashboard.i18n import Labels, catalog, languages
from credit_scoring.dashboard.settings import (
    CONFIG_ENV,
    DashboardSettings,
    compose_config,
    load_settings,
)
from tests.conftest import REPO_ROOT, free_port
from tests.integration.serving import serve_config

SOURCES = sorted((REPO_ROOT / "src/credit_scoring/dashboard").glob("*.py"))


def test_every_label_has_every_language() -> None:
    codes = set(languages())
    assert codes == {"fr", "en"}
    for key, texts in catalog()["labels"].items():
        assert set(texts) == codes, key
        fields = {tuple(sorted(re.findall(r"{(\w+)}", str(v)))) for v in texts.values()}
        assert len(fields) == 1, f"{key}: the languages use different placeholders {fields}"
    for name, texts in catalog()["features"].items():
        assert set(texts) == codes, name


def test_every_label_the_code_asks_for_exists() -> None:
    labels = catalog()["labels"]
    used: set[str] = set()
    families: set[str] = set()
    for source in SOURCES:
        text = source.read_text()
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[A-Za-z_]+)["']""", text))
        families |= set(re.findall(r"""\bt\(\s*f["']([a-z_]+)\.\{""", text))
    assert used, "no label lookups found: the pattern is stale"
    assert sorted(used - set(labels)) == []
    prefixes = {key.split(".")[0] for key in labels}
    assert families <= prefixes
    # The families looked up with a value from the API or a widget.
    for key in (
        "decision.granted",
        "decision.refused",
        "model.full",
        "model.light",
        "model.full_long",
        "model.light_long",
        "gender.M",
        "gender.F",
        "yes_no.Y",
        "yes_no.N",
        "nav.client",
        "nav.applicant",
        "nav.service",
        "population.all",
        "population.repaid",
    ):
        assert key in labels, key


def test_numbers_are_written_the_languages_way() -> None:
    assert Labels("en").number(1234567.891, 1) == "1,234,567.9"
    assert Labels("fr").number(1234567.891, 1) == "1\u202f234\u202f567,9"
    assert Labels("fr").percent(12.34) == "12,3\u202f%"
    assert Labels("en").percent(12.34) == "12.3%"
    assert Labels("en").number(None) == "—"
    assert Labels("fr").feature("EXT_SOURCE_3") == "Score externe 3"
    assert Labels("en").feature("BURO_DAYS_CREDIT_MIN") == "BURO_DAYS_CREDIT_MIN"


def test_percentile_from_a_histogram_matches_the_column_at_every_edge() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(11.8, 0.5, 5000)
    top = np.quantile(values, 0.995)
    counts, edges = np.histogram(values[values <= top], bins=50, range=(values.min(), top))
    histogram = {
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "below": 0,
        "above": int((values > top).sum()),
    }
    for edge in edges[1:-1]:
        exact = 100 * (values < edge).mean()
        assert percentile_in_histogram(histogram, edge) == pytest.approx(exact, abs=0.03)
    middle = float(np.median(values))
    assert percentile_in_histogram(histogram, middle) == pytest.approx(50, abs=100 / 50)
    assert percentile_in_histogram(histogram, 0.0) == 0.0
    assert percentile_in_histogram(histogram, 1e12) == pytest.approx(99.5, abs=0.05)
    assert percentile_in_histogram({**histogram, "counts": [0] * 50, "above": 0}, 1.0) is None


def test_what_if_grid_is_geometric_and_holds_the_current_amount() -> None:
    assert 123456.0 in what_if_values(123456.0, 0.25, 4.0, 25)  # on the grid already
    grid = what_if_values(123456.0, 0.25, 4.0, 24)  # the current amount falls between points
    assert len(grid) == 25 and grid == sorted(grid) and 123456.0 in grid
    assert grid[0] == pytest.approx(0.25 * 123456.0) and grid[-1] == pytest.approx(4 * 123456.0)
    ratios = np.diff(np.log([g for g in grid if g != 123456.0]))
    assert np.allclose(ratios, ratios[0], rtol=1e-3)
    assert score_threshold(0.352) == 64.8


def test_waterfall_steps_chain_from_the_base_value() -> None:
    contributions = [
        {"feature": "EXT_SOURCE_3", "value": 0.2, "contribution": 0.5},
        {"feature": "AMT_CREDIT", "value": 500000.0, "contribution": -0.2},
    ]
    steps = waterfall_frame(-2.0, contributions, Labels("en").feature)
    assert steps["start"].tolist() == [-2.0, -1.5]
    assert steps["end"].tolist() == [-1.5, -1.7]
    assert steps["direction"].tolist() == ["up", "down"]
    assert steps["label"].tolist() == ["+0.50", "-0.20"]
    assert steps["feature"].tolist() == ["External score 3 = 0.2", "Credit amount = 500,000"]


def test_settings_come_from_conf_and_the_key_from_the_environment() -> None:
    config = compose_config(REPO_ROOT / "conf")
    assert config["port"] == 8501
    assert config["api_url"] == "http://127.0.0.1:8000"
    settings = DashboardSettings.from_config(config, {"CREDIT_SCORING_API_KEY": "s3cret"})
    assert settings.api_key == "s3cret" and settings.language in settings.languages
    assert DashboardSettings.from_config(config, {}).api_key is None
    passed = {**config, "api_url": "http://127.0.0.1:1"}
    assert load_settings({CONFIG_ENV: json.dumps(passed)}).api_url == "http://127.0.0.1:1"
    # The launcher's JSON goes through the one schema: a bad value names its key.
    from credit_scoring.config import ConfigError

    broken = {**config, "what_if_points": 1, "colour": "red"}
    with pytest.raises(ConfigError, match=r"serve\.dashboard\.what_if_points") as error:
        load_settings({CONFIG_ENV: json.dumps(broken)})
    assert "serve.dashboard.colour: unknown key" in str(error.value)


def test_the_supervisor_runs_the_dashboard_as_one_of_its_programs() -> None:
    config = serve_config(["serve.dashboard.port=4"])
    program = programs(config)["dashboard"]
    assert program.ready_url == "http://127.0.0.1:4/_stcore/health"
    assert program.command[-2:] == ("-m", "credit_scoring.dashboard.server")
    line = server.command(config["dashboard"])
    assert Path(line[0]).name == "streamlit" and line[2] == str(server.APP)
    assert line[line.index("--server.port") + 1] == "4"
    assert server.health_url(config["dashboard"]) == "http://127.0.0.1:4/_stcore/health"
    assert json.loads(server.environment(config["dashboard"])[CONFIG_ENV]) == config["dashboard"]


@pytest.fixture(scope="module")
def fake_api() -> Iterator[str]:
    """A loopback server answering like the API does when a part is down or a field is bad."""
    app = Flask("fake_api")

    @app.get("/clients/<int:client_id>")
    def client(client_id: int):  # type: ignore[no-untyped-def]
        body = {"error": {"status": 404, "field": "client_id", "reason": "unknown_client"}}
        body["error"]["message"] = f"no client {client_id}"
        return jsonify(body), 404

    @app.get("/clients/<int:client_id>/score")
    def down(client_id: int):  # type: ignore[no-untyped-def]
        message = "model server 'light' unavailable: ConnectionError"
        return jsonify({"error": {"status": 503, "message": message, "server": "light"}}), 503

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify({"status": "unavailable", "checks": {}}), 503

    @app.get("/secret")
    def secret():  # type: ignore[no-untyped-def]
        message = "send an API key: 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        return jsonify(
            {"error": {"status": 401, "field": "Authorization", "message": message}}
        ), 401

    @app.get("/html")
    def html():  # type: ignore[no-untyped-def]
        return "<h1>proxy error</h1>", 502

    @app.get("/headers")
    def headers():  # type: ignore[no-untyped-def]
        from flask import request

        return jsonify(dict(request.headers))

    httpd = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def _client(url: str, key: str | None = None) -> ApiClient:
    config = {**compose_config(REPO_ROOT / "conf"), "api_url": url, "timeout": 2.0}
    environ = {"CREDIT_SCORING_API_KEY": key} if key else {}
    return ApiClient(DashboardSettings.from_config(config, environ))


def test_the_client_turns_every_failure_into_a_typed_error(fake_api: str) -> None:
    api = _client(fake_api)
    with pytest.raises(ApiRefused) as refused:
        api.client(7)
    assert refused.value.status == 404 and refused.value.field == "client_id"
    with pytest.raises(ServiceDown) as down:
        api.get("/clients/7/score", model="light")
    assert down.value.server == "light"
    assert api.health()["status"] == "unavailable"  # a 503 health answer is still an answer
    with pytest.raises(ApiUnreachable, match="without a JSON body"):
        api.get("/html")
    assert api.optional("/monitoring/summary") is None
    with pytest.raises(ApiKeyRejected) as rejected:
        api.get("/secret")
    assert rejected.value.key_env == "CREDIT_SCORING_API_KEY"
    with pytest.raises(ApiUnreachable, match="ConnectionError"):
        _client(f"http://127.0.0.1:{free_port()}").health()


def test_the_api_key_is_sent_when_configured(fake_api: str) -> None:
    assert "X-Api-Key" not in _client(fake_api).get("/headers")
    sent = _client(fake_api, key="s3cret").get("/headers")
    assert sent["X-Api-Key"] == "s3cret" and sent["Authorization"] == "Bearer s3cret"


def test_the_app_says_the_api_is_down_and_keeps_every_page_up(monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    config = {**compose_config(REPO_ROOT / "conf"), "api_url": f"http://127.0.0.1:{free_port()}"}
    monkeypatch.setenv(CONFIG_ENV, json.dumps(config))
    app = AppTest.from_file(str(server.APP), default_timeout=30).run()
    assert not app.exception
    en = Labels("en")
    app.selectbox(key="language").set_value("en").run()
    assert en("app.title") in [title.value for title in app.title]
    assert any(en("sidebar.api_down", url=config["api_url"]) in e.value for e in app.sidebar.error)
    app.text_input(key="client_id").input("100002").run()
    assert not app.exception
    assert any(config["api_url"] in e.value for e in app.main.error)
    for page in ("applicant", "service"):
        app.radio(key="page").set_value(page).run()
        assert not app.exception
