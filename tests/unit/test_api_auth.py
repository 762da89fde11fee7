"""Access control: every route without a key, with a wrong key, with the other scope's key.

The app runs on the same tiny published database as ``test_api_app``, with keys
from both sources (a SHA-256 digest in the config, a plain key in the environment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from credit_scoring.api import create_app
from credit_scoring.api.auth import digest
from credit_scoring.api.settings import ApiSettings, InsecureSettings
from tests.conftest import free_port
from tests.unit.test_api_app import serve_config
from tests.unit.test_api_publish import publish_tiny

READ_KEY = "read-key-0123456789abcdef"
SCORE_KEY = "score-key-0123456789abcdef"
ENV_VAR = "CREDIT_SCORING_TEST_API_KEYS"


def keyed_config(database_url: str, **api: Any) -> dict[str, Any]:
    """``serve`` config with a read key (hashed, in the config) and a score key (env)."""
    config = serve_config(database_url, {"full": free_port(), "light": free_port()})
    config["api"]["auth"] = {
        "keys": {"analyst": {"sha256": digest(READ_KEY).hex(), "scopes": ["read"]}},
        "keys_env": ENV_VAR,
        "legacy_query_param": "api_key",
    }
    config["api"].update(api)
    return config


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("auth") / "clients.db"
    clients, _ = publish_tiny(path)
    return path, clients


@pytest.fixture(scope="module")
def app(published: tuple[Path, pd.DataFrame]) -> Flask:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ENV_VAR, f"counter:score:{SCORE_KEY}")
        return create_app(keyed_config(f"sqlite:///{published[0]}"))


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _routes(app: Flask, client_id: int) -> list[tuple[str, str, str]]:
    """(method, url, scope) of every route the app serves."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        scope = app.view_functions[rule.endpoint].required_scope
        url = rule.rule.replace("<client_id>", str(client_id))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url, scope))
    return found


def _call(client: FlaskClient, method: str, url: str, **kwargs: Any) -> Any:
    body = {"json": {"AMT_INCOME_TOTAL": 1}} if method == "POST" else {}
    return client.open(url, method=method, **body, **kwargs)


def _denied(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["reason"] == reason and error["status"] == status and error["message"]
    assert error["field"] in ("Authorization", "X-API-Key", "api_key")


def test_every_route_declares_a_scope_and_the_private_ones_need_a_key(app, client, published):
    routes = _routes(app, int(published[1]["SK_ID_CURR"].iloc[0]))
    scopes = {scope for _, _, scope in routes}
    assert scopes == {"public", "read", "score"}
    public = {url for _, url, scope in routes if scope == "public"}
    assert public == {"/health", "/openapi.json", "/docs", "/legacy/"}
    keys = {"read": READ_KEY, "score": SCORE_KEY}
    for method, url, scope in routes:
        if scope == "public":
            assert _call(client, method, url).status_code not in (401, 403), url
            continue
        _denied(_call(client, method, url), 401, "missing_api_key")
        wrong = {"Authorization": "Bearer not-a-key"}
        _denied(_call(client, method, url, headers=wrong), 401, "invalid_api_key")
        other = keys["score" if scope == "read" else "read"]
        _denied(_call(client, method, url, headers={"X-API-Key": other}), 403, "insufficient_scope")
        right = _call(client, method, url, headers={"Authorization": f"Bearer {keys[scope]}"})
        assert right.status_code not in (401, 403), (url, right.get_data(as_text=True))


def test_a_valid_key_reads_and_scores(client, published) -> None:
    client_id = int(published[1]["SK_ID_CURR"].iloc[3])
    read = {"X-API-Key": READ_KEY}
    assert client.get(f"/clients/{client_id}", headers=read).get_json()["client_id"] == client_id
    response = client.get(f"/clients/{client_id}", headers={"Authorization": f"bearer {READ_KEY}"})
    assert response.status_code == 200
    assert client.get("/clients/abc", headers=read).status_code == 400  # key first, then input
    assert client.get("/clients/abc").status_code == 401  # no key: nothing said about the input


def test_the_query_parameter_key_is_for_legacy_routes_only(client, published) -> None:
    client_id = int(published[1]["SK_ID_CURR"].iloc[2])
    legacy = client.get(f"/legacy/client_info?client_ID={client_id}&api_key={READ_KEY}")
    assert legacy.status_code == 200 and legacy.get_json() is True
    _denied(
        client.get(f"/legacy/client_info?client_ID={client_id}&api_key=nope"),
        401,
        "invalid_api_key",
    )
    _denied(client.get(f"/clients/{client_id}?api_key={READ_KEY}"), 401, "missing_api_key")


def test_401_tells_how_to_authenticate(client) -> None:
    response = client.get("/models")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_rate_limit_per_key_answers_429_json(published) -> None:
    config = keyed_config(f"sqlite:///{published[0]}", rate_limits={"read": "3/minute"})
    client = create_app(config).test_client()
    statuses = [
        client.get("/models", headers={"X-API-Key": READ_KEY}).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/models", headers={"X-API-Key": READ_KEY})
    assert limited.get_json()["error"]["status"] == 429 and "Retry-After" in limited.headers
    # The limit is the key's: public routes and other callers are not held back by it.
    assert client.get("/health").status_code != 429


def test_keys_off_only_on_loopback(published, caplog) -> None:
    config = serve_config(f"sqlite:///{published[0]}", {"full": free_port(), "light": free_port()})
    with caplog.at_level("WARNING"):
        create_app(config)
    assert "API keys are off" in caplog.text
    config["api"]["host"] = "0.0.0.0"
    with pytest.raises(InsecureSettings, match=r"serve\.api\.auth\.keys"):
        ApiSettings.from_config(config)
    keyed = keyed_config(f"sqlite:///{published[0]}", host="0.0.0.0")
    assert ApiSettings.from_config(keyed).auth_enabled
    keyed["model_servers"]["light"]["host"] = "0.0.0.0"
    with pytest.raises(InsecureSettings, match="loopback"):
        ApiSettings.from_config(keyed)


def test_keys_are_never_logged(published, caplog, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, f"counter:score:{SCORE_KEY}")
    with caplog.at_level("DEBUG"):
        client = create_app(keyed_config(f"sqlite:///{published[0]}")).test_client()
        client.get("/models", headers={"X-API-Key": SCORE_KEY})
        client.get("/models", headers={"X-API-Key": "a-wrong-key"})
    assert SCORE_KEY not in caplog.text and "a-wrong-key" not in caplog.text
