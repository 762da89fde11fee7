"""The clients database on a real PostgreSQL server: publish, read, republish under load.

The server is Debian's PostgreSQL started for this module (``tests.postgres``). The
first tests publish the tiny data set of the unit tests; the last one runs the real
publish stage of the pipeline clone against PostgreSQL and serves both databases
through the API under gunicorn, run by supervisord as `make serve` runs it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from flask.testing import FlaskClient

from credit_scoring.api.app import create_app
from credit_scoring.api.db import ClientsDatabase
from credit_scoring.api.launcher import ServingStack
from credit_scoring.publish import Champion, publish
from tests.conftest import free_port
from tests.integration.serving import serve_config, stack_overrides
from tests.postgres import PostgresServer, postgres_server
from tests.unit.test_api_app import serve_config as unit_serve_config
from tests.unit.test_api_publish import SETTINGS, tiny_champions, tiny_clients

pytestmark = pytest.mark.slow  # a server of its own (make system-deps installs PostgreSQL)


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def _client(database_url: str) -> FlaskClient:
    """The API on a database (no model servers: the routes that read the database only)."""
    ports = {"full": free_port(), "light": free_port()}
    return create_app(unit_serve_config(database_url, ports)).test_client()


def _routes(clients: pd.DataFrame) -> list[str]:
    """Every answer that comes from the clients database, for every client."""
    paths = ["/models"]
    for feature in SETTINGS.histogram_features:
        for population in ("all", "repaid"):
            for bins in SETTINGS.bins:
                paths.append(
                    f"/compare/distribution?feature={feature}&population={population}&bins={bins}"
                )
    for _, row in clients.iterrows():
        cid = int(row["SK_ID_CURR"])
        paths += [
            f"/clients/{cid}",
            f"/clients/{cid}/position",
            f"/compare/models?client_id={cid}",  # the precomputed stand-ins: no server here
            f"/compare/position?income={row['AMT_INCOME_TOTAL']}",
            f"/legacy/client_info?client_ID={cid}",
            f"/legacy/predict/ID?client_ID={cid}",
            f"/legacy/compare/ID/client_credit?client_ID={cid}",
        ]
    return [*paths, "/clients/1", "/legacy/compare/distribution_income"]


def _answers(client: FlaskClient, paths: list[str]) -> dict[str, tuple[int, Any]]:
    out = {}
    for path in paths:
        response = client.get(path)
        out[path] = (response.status_code, response.get_json())
    return out


def test_the_api_answers_on_postgresql_as_on_sqlite(pg: PostgresServer, tmp_path: Path) -> None:
    clients, champions = tiny_clients(), tiny_champions()
    sqlite_url = f"sqlite:///{tmp_path / 'clients.db'}"
    pg_url = pg.create_database()
    manifests = [publish(clients, champions, url, SETTINGS) for url in (sqlite_url, pg_url)]
    assert manifests[0]["rows"] == manifests[1]["rows"]
    paths = _routes(clients)
    on_sqlite = _answers(_client(sqlite_url), paths)
    on_pg = _answers(_client(pg_url), paths)
    assert sum(status == 200 for status, _ in on_pg.values()) == len(paths) - 1  # /clients/1: 404
    for path in paths:
        assert on_pg[path] == on_sqlite[path], path
    health = _client(pg_url).get("/health").get_json()
    assert health["checks"]["database"] == {"ok": True, "publish_id": manifests[1]["publish_id"]}
    # What a live score of a stored client sends, the packed history included.
    databases = [ClientsDatabase(url) for url in (sqlite_url, pg_url)]
    for client_id in clients["SK_ID_CURR"].tolist():
        for model in champions:
            on_sqlite, on_pg = (db.model_input(model, client_id) for db in databases)
            assert on_sqlite is not None and on_pg == on_sqlite, (model, client_id)


def _second_generation() -> tuple[pd.DataFrame, dict[str, Champion]]:
    """Other data for the same client ids, and other champion versions: every answer differs."""
    champions = {
        name: dataclasses.replace(c, record=dataclasses.replace(c.record, version=f"9{name}"))
        for name, c in tiny_champions().items()
    }
    return tiny_clients(seed=1), champions


def test_readers_see_one_whole_generation_while_it_is_republished(pg: PostgresServer) -> None:
    url = pg.create_database()
    first = (tiny_clients(), tiny_champions())
    second = _second_generation()
    client_ids = first[0]["SK_ID_CURR"].head(12).tolist()
    paths = ["/models", "/compare/distribution?feature=AMT_INCOME_TOTAL&population=all&bins=10"]
    for cid in client_ids:
        paths += [f"/clients/{cid}", f"/clients/{cid}/position", f"/compare/models?client_id={cid}"]
    expected: list[dict[str, tuple[int, Any]]] = []
    for clients, champions in (first, second):
        publish(clients, champions, url, SETTINGS)
        expected.append(_answers(_client(url), paths))
    for path in paths:
        assert expected[0][path][0] == expected[1][path][0] == 200, path
        assert expected[0][path] != expected[1][path], path  # a half state would show

    stop = threading.Event()
    seen: list[tuple[str, int, Any]] = []
    wrong: list[tuple[str, int, Any]] = []

    def read() -> None:
        client = _client(url)  # one API process per reader: its own engine and cache
        while not stop.is_set():
            for path in paths:
                response = client.get(path)
                answer = (response.status_code, response.get_json())
                seen.append((path, *answer))
                if answer not in (expected[0][path], expected[1][path]):
                    wrong.append((path, *answer))

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    try:
        for clients, champions in (first, second, first, second):
            publish(clients, champions, url, SETTINGS)
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
    assert not wrong, wrong[:3]
    # The readers really overlapped the swaps: both generations were read under load.
    for generation in expected:
        assert any(generation[path] == (status, body) for path, status, body in seen)
    assert len(seen) > 4 * len(paths)


def test_the_publish_stage_writes_postgresql_and_the_served_api_answers_as_on_sqlite(
    pipeline_repo, pg: PostgresServer, tmp_path: Path
) -> None:
    from credit_scoring.publish import read_clients

    url = pg.create_database()
    root = pipeline_repo.root
    pipeline_repo.run("python", "pipelines/publish.py", f"publish.database_url={url}")
    features = root / "data/features"
    clients = read_clients(features / "train.parquet", features / "test.parquet")
    sample = pd.concat([clients.head(15), clients[clients["split"] == "test"].head(15)])
    paths = _routes(sample)
    answers = []
    for database_url in (f"sqlite:///{root / 'data/serving/clients.db'}", url):
        overrides, ports = stack_overrides(root, tmp_path / str(len(answers)), database_url)
        # The API alone under supervisord and gunicorn: these routes need no model server.
        overrides += ["~serve.programs.full", "~serve.programs.light"]
        stack = ServingStack(serve_config(overrides), pipeline_repo.tracking_uri)
        stack.start()
        try:
            api = f"http://127.0.0.1:{ports['api']}"
            with requests.Session() as session:
                answers.append({p: _status_and_body(session, api + p) for p in paths})
        finally:
            stack.stop()
    on_sqlite, on_pg = answers
    for _, row in sample.iterrows():
        assert on_pg[f"/clients/{int(row['SK_ID_CURR'])}"][0] == 200
    for path in paths:
        assert on_pg[path] == on_sqlite[path], path


def _status_and_body(session: requests.Session, url: str) -> tuple[int, Any]:
    response = session.get(url, timeout=30)
    return response.status_code, response.json()
