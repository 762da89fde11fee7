"""Supervision: crashed programs restart while the others serve; nothing outlives supervisord.

Two layers, both on the real supervisord that ``make serve`` runs, with the config
generated from ``conf/serve``:

- a toy stack of two stdlib HTTP servers (seconds, no pipeline): the mechanics of
  restart, stop and SIGKILL of the supervisor;
- the real stack on the pipeline's champions (``pipeline_repo``, slow): kill -9 a
  model server's whole process group, an API worker, the whole API, then the
  supervisor itself, and watch statuses come back without intervention.

Every wait is a bounded poll on a status, never a sleep standing in for one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from credit_scoring.api.launcher import ServingStack, procfile, programs
from tests.conftest import REPO_ROOT, free_port
from tests.integration.serving import (
    children,
    eventually,
    pids_in_group,
    port_free,
    serve_config,
    stack_overrides,
    status,
)
from tests.unit.test_api_app import VALID

# -- the toy stack: mechanics in seconds ------------------------------------------------


@pytest.fixture()
def toy(tmp_path: Path) -> Iterator[tuple[ServingStack, dict[str, int]]]:
    ports = {"one": free_port(), "two": free_port()}
    config = serve_config(
        [
            f"serve.api.port={free_port()}",  # only names the run directory here
            f"serve.supervisor.log_dir={tmp_path}",
            f"serve.supervisor.run_dir={tmp_path}",
            "serve.supervisor.start_seconds=1",
            "serve.stop_timeout=5",
            "serve.startup_timeout=30",
        ]
    )
    config["programs"] = {
        name: {
            "command": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            "ready_url": f"http://127.0.0.1:{port}/",
            "priority": 10,
            "environment": {"TOY": name},
        }
        for name, port in ports.items()
    }
    stack = ServingStack(config, "sqlite:///unused.db")
    stack.start()
    try:
        yield stack, ports
    finally:
        stack.stop()


@pytest.mark.slow
def test_a_killed_program_restarts_while_the_other_serves(toy) -> None:
    stack, ports = toy
    before = stack.processes["one"].pid
    os.killpg(before, signal.SIGKILL)
    eventually(lambda: status(f"http://127.0.0.1:{ports['one']}/") is None, 10, "one down")
    assert status(f"http://127.0.0.1:{ports['two']}/") == 200
    eventually(lambda: status(f"http://127.0.0.1:{ports['one']}/") == 200, 30, "one back")
    assert stack.processes["one"].pid != before
    assert stack.processes["two"].state == "RUNNING"


@pytest.mark.slow
def test_a_stop_ends_every_program_and_frees_every_port(toy) -> None:
    stack, ports = toy
    groups = [p.pid for p in stack.processes.values()]
    stack.stop()
    assert stack.supervisord.returncode == 0
    assert all(port_free(p) for p in ports.values())
    assert not any(pids_in_group(g) for g in groups)


@pytest.mark.slow
def test_no_program_outlives_a_sigkilled_supervisor(toy) -> None:
    stack, ports = toy
    groups = [p.pid for p in stack.processes.values()]
    stack.supervisord.kill()
    stack.supervisord.wait()
    eventually(lambda: all(port_free(p) for p in ports.values()), 10, "every port free")
    eventually(lambda: not any(pids_in_group(g) for g in groups), 10, "no program left")


def test_the_generated_config_runs_what_conf_serve_lists() -> None:
    config = serve_config(["serve.api.port=8123"])
    # Model servers first, the dashboard (which calls the API) last.
    assert list(programs(config)) == ["full", "light", "api", "dashboard"]
    api = programs(config)["api"]
    assert "127.0.0.1:8123" in api.command and api.ready_url.endswith(":8123/openapi.json")
    assert (REPO_ROOT / "Procfile").read_text() == procfile(config)


# -- the real stack on the pipeline's champions ----------------------------------------


@pytest.fixture(scope="module")
def real(pipeline_repo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The supervised stack on the clone's champions and database; torn down at the end."""
    from credit_scoring.publish import read_clients

    root = pipeline_repo.root
    overrides, ports = stack_overrides(root, tmp_path_factory.mktemp("supervised-logs"))
    # A short back-off bound for the test: a start must last 2 s to count.
    config = serve_config([*overrides, "serve.supervisor.start_seconds=2"])
    stack = ServingStack(config, pipeline_repo.tracking_uri)
    stack.start()
    clients = read_clients(
        root / "data/features/train.parquet", root / "data/features/test.parquet"
    )
    try:
        yield {
            "stack": stack,
            "ports": ports,
            "api": f"http://127.0.0.1:{ports['api']}",
            "client_id": int(clients["SK_ID_CURR"].iloc[7]),
            # Back to serving within the back-off: a start, plus the program's own load time.
            "recovery": float(config["startup_timeout"]),
        }
    finally:
        stack.stop()


@pytest.mark.slow
def test_a_crashed_model_server_gives_503_while_lookups_answer_then_recovers(real) -> None:
    api, client_id, stack = real["api"], real["client_id"], real["stack"]
    applicant = VALID
    assert status(f"{api}/score", "POST", json=applicant) == 200
    full_before = stack.processes["full"].pid
    light = stack.processes["light"].pid
    assert len(pids_in_group(light)) >= 3  # mlflow, uvicorn and its 2 workers
    os.killpg(light, signal.SIGKILL)  # a crash of the whole server, workers included

    eventually(lambda: status(f"{api}/score", "POST", json=applicant) == 503, 5, "503 on /score")
    error = requests.post(f"{api}/score", json=applicant, timeout=10).json()["error"]
    assert error["server"] == "light"
    health = requests.get(f"{api}/health", timeout=10)
    assert health.status_code == 503
    checks = health.json()["checks"]
    assert checks["model_server_light"]["ok"] is False and checks["model_server_full"]["ok"]
    assert status(f"{api}/clients/{client_id}") == 200
    assert status(f"{api}/compare/position?income=100000") == 200
    assert status(f"{api}/compare/distribution?feature=AMT_CREDIT&bins=50") == 200
    assert status(f"{api}/legacy/client_info?client_ID={client_id}") == 200
    assert status(f"{api}/legacy/predict/ID?client_ID={client_id}") == 200
    both = requests.get(f"{api}/compare/models?client_id={client_id}", timeout=10)
    assert both.status_code == 200
    models = both.json()["models"]
    assert models["light"]["live"] is False and models["full"]["live"] is True
    stored = requests.get(f"{api}/clients/{client_id}", timeout=10).json()["scores"]["light"]
    assert models["light"]["score"] == stored["score"]  # the precomputed stand-in
    assert any("'light'" in warning for warning in both.json()["warnings"])

    eventually(
        lambda: status(f"{api}/score", "POST", json=applicant) == 200,
        real["recovery"],
        "POST /score answering again after the restart",
    )
    eventually(lambda: status(f"{api}/health") == 200, 30, "/health back to 200")
    assert stack.processes["light"].pid not in (0, light)
    assert stack.processes["full"].pid == full_before  # the neighbour never stopped


@pytest.mark.slow
def test_a_crashed_api_worker_is_replaced_while_the_other_answers(real) -> None:
    api, client_id, stack = real["api"], real["client_id"], real["stack"]
    master = stack.processes["api"].pid
    workers = children(master)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    # Every call on a new connection is answered by the surviving worker meanwhile.
    for _ in range(20):
        assert status(f"{api}/clients/{client_id}") == 200
    eventually(
        lambda: len(children(master)) == 2 and workers[0] not in children(master),
        30,
        "gunicorn replacing its worker",
    )
    assert stack.processes["api"].pid == master


@pytest.mark.slow
def test_a_crashed_api_is_restarted_and_the_model_servers_keep_running(real) -> None:
    api, client_id, stack = real["api"], real["client_id"], real["stack"]
    before = {name: p.pid for name, p in stack.processes.items()}
    os.killpg(before["api"], signal.SIGKILL)
    eventually(lambda: status(f"{api}/clients/{client_id}") is None, 10, "the API down")
    port = real["ports"]["light"]
    assert status(f"http://127.0.0.1:{port}/ping") == 200
    eventually(
        lambda: status(f"{api}/clients/{client_id}") == 200, real["recovery"], "the API back"
    )
    assert status(f"{api}/health") == 200
    after = {name: p.pid for name, p in stack.processes.items()}
    assert after["api"] != before["api"]
    assert after["full"] == before["full"] and after["light"] == before["light"]


@pytest.mark.slow
def test_zz_no_server_outlives_a_sigkilled_supervisor(real) -> None:
    # Named zz and defined last: it ends this module's stack.
    stack = real["stack"]
    groups = [p.pid for p in stack.processes.values()]
    assert all(groups)
    stack.supervisord.kill()
    stack.supervisord.wait()
    eventually(lambda: all(port_free(p) for p in real["ports"].values()), 15, "every port free")
    eventually(lambda: not any(pids_in_group(g) for g in groups), 15, "no program process left")


@pytest.mark.slow
def test_make_serve_stops_everything_on_ctrl_c(pipeline_repo, tmp_path: Path) -> None:
    """`python pipelines/serve.py` in the clone, as `make serve` runs it; SIGINT as Ctrl-C."""
    overrides, ports = stack_overrides(pipeline_repo.root, tmp_path)
    serve = subprocess.Popen(
        [sys.executable, "pipelines/serve.py", *overrides],
        cwd=pipeline_repo.root,
        env=pipeline_repo.env,
        stdout=(tmp_path / "serve.out").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own terminal-like process group
    )
    try:
        api = f"http://127.0.0.1:{ports['api']}"
        eventually(lambda: status(f"{api}/health") == 200, 150, "the stack serving")
        # The same config names the same run directory: ask that supervisord for its programs.
        running = ServingStack(serve_config(overrides), pipeline_repo.tracking_uri).processes
        groups = [p.pid for p in running.values()]
        assert len(groups) == len(serve_config(overrides)["programs"]) and all(groups)
        os.killpg(serve.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
        assert serve.wait(timeout=30) == 0
        # Within the grace: a program's last socket closes as its process exits.
        eventually(lambda: all(port_free(p) for p in ports.values()), 10, "every port free")
        assert not any(pids_in_group(g) for g in groups)
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
