"""Monitoring end to end on the pipeline's clone: the monitor stage's output, the monitor
command on generated later populations (exit codes a scheduler acts on), and the prediction
log of the real API under gunicorn (a burst recorded exactly once, a restart, a broken store).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import PipelineRepo
from tests.integration.serving import serve_config, stack_overrides
from tests.unit.test_api_app import VALID

pytestmark = pytest.mark.slow

#: Small later populations: cheap to generate and score, enough for a stable PSI.
BATCH_CLIENTS = 2000


def _monitor(repo: PipelineRepo, *args: str) -> subprocess.CompletedProcess[str]:
    """`credit-scoring monitor ...` in the clone; the exit code is the caller's to check."""
    return subprocess.run(
        ["credit-scoring", "monitor", *args, "monitoring.evidently.max_columns=15"],
        cwd=repo.root,
        env=repo.env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_monitor_stage_compares_training_and_test_applicants(
    pipeline_repo: PipelineRepo,
) -> None:
    import mlflow

    root = pipeline_repo.root
    drift = json.loads((root / "models/monitoring/drift.json").read_text())
    assert set(drift) == {"full", "light"}
    for model, numbers in drift.items():
        # data/raw's test applicants come from the training process: nothing to alert on.
        assert numbers["alert"] == 0, (model, numbers)
        assert numbers["score_psi"] < 0.1
        out = root / "models/monitoring" / model
        for name in ("report.json", "summary.md", "stability.csv", "psi.png", "evidently.html"):
            assert (out / name).is_file(), name
        json.loads((out / "evidently.json").read_text())
    registry = json.loads((root / "models/registry.json").read_text())
    client = mlflow.MlflowClient(pipeline_repo.tracking_uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("credit-scoring").experiment_id],
        "tags.stage = 'monitor' and tags.model_name = 'full'",
    )
    assert runs and runs[0].data.tags["model_version"] == str(registry["models"]["full"]["version"])
    assert "score_psi" in runs[0].data.metrics


@pytest.fixture(scope="module")
def batches(pipeline_repo: PipelineRepo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batches")
    for scenario in ("baseline", "shifted"):
        pipeline_repo.run(
            "credit-scoring", "generate", "--scenario", scenario, "--n-clients",
            str(BATCH_CLIENTS), "--out", str(root / scenario),
        )  # fmt: skip
    return root


def test_a_baseline_batch_raises_no_alert(
    pipeline_repo: PipelineRepo, batches: Path, tmp_path: Path
) -> None:
    result = _monitor(
        pipeline_repo, "--current", str(batches / "baseline"), "--out", str(tmp_path / "r")
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads((tmp_path / "r/report.json").read_text())
    assert report["alert"] is False and report["score"]["band"] == "stable"
    assert report["performance"]["current"]["auc"] > 0.6  # TARGET known: performance reported


def test_a_shifted_batch_raises_an_alert_naming_the_inputs(
    pipeline_repo: PipelineRepo, batches: Path, tmp_path: Path
) -> None:
    result = _monitor(
        pipeline_repo, "--current", str(batches / "shifted"), "--out", str(tmp_path / "r")
    )
    assert result.returncode == 3, result.stdout + result.stderr[-3000:]
    report = json.loads((tmp_path / "r/report.json").read_text())
    inputs = {r["kind"]: r for r in report["reasons"]}["input_psi"]["inputs"]
    assert "EXT_SOURCE_2" in inputs
    assert "EXT_SOURCE_2" in result.stdout  # the summary printed for the person on call
    top = [r["input"] for r in report["top_drifting_inputs"]]
    assert top[0] == "EXT_SOURCE_2"
    assert any(name.startswith(("PREV_NAME_CONTRACT_STATUS_Refused", "REFUSED_")) for name in top)


def test_bad_input_is_exit_code_2(pipeline_repo: PipelineRepo, tmp_path: Path) -> None:
    result = _monitor(
        pipeline_repo, "--current", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")
    )
    assert result.returncode == 2
    assert "nowhere" in result.stderr and not (tmp_path / "r").exists()


# -- the prediction log of the live API -----------------------------------------------


def _stack(pipeline_repo: PipelineRepo, log_url: str, log_dir: Path) -> Any:
    """The supervised light model server and API (the full one and the dashboard left out)."""
    from credit_scoring.api.launcher import ServingStack

    overrides, _ = stack_overrides(pipeline_repo.root, log_dir)
    config = serve_config(
        [
            *overrides,
            "~serve.programs.full",
            "~serve.programs.dashboard",
            f"serve.prediction_log.url={log_url}",
            "serve.prediction_log.flush_seconds=0.2",
            "serve.api.graceful_timeout=5",
            "serve.stop_timeout=15",
        ]
    )
    return ServingStack(config, pipeline_repo.tracking_uri)


@pytest.fixture()
def served(pipeline_repo: PipelineRepo, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    url = f"sqlite:///{tmp_path / 'monitoring' / 'predictions.db'}"
    stack = _stack(pipeline_repo, url, tmp_path / "logs")
    stack.start()
    try:
        yield stack, url
    finally:
        stack.stop()


def _base(stack: Any) -> str:
    return f"http://127.0.0.1:{stack.config['api']['port']}"


def _burst(base: str, n: int) -> list[str]:
    def call(i: int) -> str:
        request_id = uuid.uuid4().hex
        body = {**VALID, "AMT_INCOME_TOTAL": 100_000 + 1000 * i}
        answer = requests.post(
            f"{base}/score", json=body, headers={"X-Request-ID": request_id}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Request-ID"] == request_id
        return request_id

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(call, range(n)))


def _logged(url: str) -> list[tuple[str, str, str]]:
    from sqlalchemy import create_engine, select

    from credit_scoring.monitoring.prediction_log import PREDICTIONS

    with create_engine(url).connect() as conn:
        c = PREDICTIONS.c
        return [tuple(r) for r in conn.execute(select(c.request_id, c.route, c.inputs)).all()]


def test_a_burst_is_recorded_exactly_once_and_survives_a_restart(served) -> None:
    stack, url = served
    sent = _burst(_base(stack), 120)
    stack.stop()  # a clean stop right after the burst: every queued record must be written
    rows = _logged(url)
    assert sorted(r[0] for r in rows) == sorted(sent)
    assert {r[1] for r in rows} == {"/score"}
    assert all(json.loads(r[2])["AMT_CREDIT"] == VALID["AMT_CREDIT"] for r in rows)
    stack.start()
    more = _burst(_base(stack), 30)
    summary = requests.get(f"{_base(stack)}/monitoring/summary", timeout=10).json()
    stack.stop()
    assert sorted(r[0] for r in _logged(url)) == sorted(sent + more)
    light = summary["models"]["light"]
    assert light["count"] >= 120 and sum(light["decisions"].values()) == light["count"]
    assert (
        light["latency_ms"]["p50"] is not None
        and light["latency_ms"]["p95"] >= light["latency_ms"]["p50"]
    )
    assert sum(light["score_histogram"]["counts"]) == light["count"]


def test_a_broken_store_never_fails_a_score(pipeline_repo: PipelineRepo, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the store's directory cannot be created here")
    stack = _stack(pipeline_repo, f"sqlite:///{blocker / 'predictions.db'}", tmp_path / "logs")
    stack.start()
    try:
        _burst(_base(stack), 20)  # every score answers 200
        for _ in range(40):  # each worker counts its own losses once its batch fails
            checks = [
                requests.get(f"{_base(stack)}/health", timeout=10).json()["checks"][
                    "prediction_log"
                ]
                for _ in range(4)
            ]
            if any(c["failed"] for c in checks):
                break
            time.sleep(0.25)
        failed = [c for c in checks if c["failed"]]
        assert failed and failed[0]["ok"] is False and failed[0]["last_error"]
    finally:
        stack.stop()
