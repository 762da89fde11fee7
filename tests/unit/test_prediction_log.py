"""The prediction log on a real SQLite store: batched writes off the caller's thread, no loss
on close, a broken store counted instead of raised, and the summary the API serves."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from credit_scoring.api import create_app
from credit_scoring.config import PredictionLogConfig
from credit_scoring.monitoring.prediction_log import (
    PREDICTIONS,
    PredictionLog,
    prediction_record,
    summarize,
)
from tests.unit.test_api_app import published, serve_config  # noqa: F401  (fixture)


def _settings(url: str, **overrides: Any) -> PredictionLogConfig:
    values = {
        "enabled": True,
        "url": url,
        "queue_size": 10_000,
        "batch_size": 50,
        "flush_seconds": 0.05,
        "close_timeout": 10.0,
    }
    values.update(overrides)
    return PredictionLogConfig(**values)


def _record(
    i: int,
    *,
    model: str = "light",
    decision: str = "granted",
    score: float = 80.0,
    latency: float = 5.0,
) -> dict[str, Any]:
    return prediction_record(
        request_id=f"req-{i}",
        route="/score",
        model=model,
        names=["AMT_INCOME_TOTAL", "CODE_GENDER"],
        row=[150000.0 + i, "F"],
        answer={
            "probability": 1 - score / 100,
            "score": score,
            "decision": decision,
            "threshold": 0.1,
            "model_version": "3",
            "registered_name": "credit-scoring-light",
            "run_id": "abc",
        },
        latency_ms=latency,
    )


def _count(url: str) -> int:
    with create_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PREDICTIONS)).scalar())


def test_concurrent_records_are_written_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log' / 'predictions.db'}"
    log = PredictionLog(_settings(url))
    threads = [
        threading.Thread(target=lambda k=k: [log.record(_record(k * 1000 + i)) for i in range(250)])
        for k in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()  # what a clean stop does at exit: everything queued is written
    assert _count(url) == 2000
    with create_engine(url).connect() as conn:
        ids = conn.execute(select(PREDICTIONS.c.request_id)).scalars().all()
    assert len(set(ids)) == 2000
    status = log.status()
    assert status["written"] == 2000 and status["dropped"] == 0 and status["failed"] == 0
    # A new process on the same store appends: nothing recreated, nothing lost.
    again = PredictionLog(_settings(url))
    again.record(_record(99_999))
    again.close()
    assert _count(url) == 2001


def test_writers_of_several_processes_share_a_new_store(tmp_path: Path) -> None:
    """Each gunicorn worker has its own writer; their first batches race to create the
    table on a store that does not exist yet, and none of them may lose its batch."""
    for attempt in range(5):  # the race is a matter of microseconds: give it chances
        url = f"sqlite:///{tmp_path / str(attempt) / 'predictions.db'}"
        logs = [PredictionLog(_settings(url, flush_seconds=0.01)) for _ in range(6)]
        start = threading.Barrier(len(logs))

        def burst(log: PredictionLog, k: int, start: threading.Barrier) -> None:
            start.wait()
            for i in range(20):
                log.record(_record(k * 1000 + i))

        threads = [
            threading.Thread(target=burst, args=(log, k, start)) for k, log in enumerate(logs)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for log in logs:
            log.close()
        assert sum(log.status()["failed"] for log in logs) == 0, [
            log.status()["last_error"] for log in logs
        ]
        assert _count(url) == 120


def test_a_broken_store_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's directory should be")
    log = PredictionLog(_settings(f"sqlite:///{blocker / 'predictions.db'}"))
    for i in range(10):
        log.record(_record(i))  # must not raise
    log.close()
    status = log.status()
    assert status["failed"] == 10 and status["written"] == 0
    assert status["ok"] is False and status["last_error"]


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    log = PredictionLog(_settings(f"sqlite:///{tmp_path / 'p.db'}", queue_size=1))
    log._queue.put(_record(0))  # the writer may take it or not: fill the queue to the brim
    for i in range(1, 200):
        log.record(_record(i))
    log.close()
    status = log.status()
    assert status["dropped"] > 0
    assert status["written"] + status["dropped"] + status["failed"] >= 199


def test_summary_counts_rates_latencies_and_histogram(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(_settings(url))
    for i in range(100):
        refused = i % 4 == 0
        log.record(
            _record(
                i,
                decision="refused" if refused else "granted",
                score=55.0 if refused else 95.0,
                latency=float(i + 1),
            )
        )
    for i in range(10):
        log.record(_record(1000 + i, model="full", score=100.0, latency=30.0))
    log.close()
    body = summarize(create_engine(url), None, None)
    assert body["count"] == 110
    light = body["models"]["light"]
    assert light["decisions"] == {"granted": 75, "refused": 25}
    assert light["refusal_rate"] == pytest.approx(0.25)
    assert light["latency_ms"]["p50"] == pytest.approx(50.0, abs=1)
    assert light["latency_ms"]["p95"] == pytest.approx(95.0, abs=1)
    assert (
        light["score_histogram"]["counts"][5] == 25 and light["score_histogram"]["counts"][9] == 75
    )
    assert body["models"]["full"]["score_histogram"]["counts"][9] == 10  # 100 is in the last bin
    future = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    assert summarize(create_engine(url), future, None)["count"] == 0


def test_a_summary_is_one_snapshot_while_the_log_is_written(tmp_path: Path) -> None:
    """Counts, decisions and histogram agree although batches land between its queries."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(_settings(url, batch_size=5, flush_seconds=0.001))
    log.record(_record(0))
    log.close()
    writer = PredictionLog(_settings(url, batch_size=5, flush_seconds=0.001))
    stop = threading.Event()

    def write() -> None:
        i = 1
        while not stop.is_set():
            writer.record(_record(i, score=float(i % 100)))
            i += 1
            time.sleep(0.0005)

    thread = threading.Thread(target=write)
    thread.start()
    engine = create_engine(url)
    try:
        for _ in range(150):
            light = summarize(engine, None, None)["models"]["light"]
            assert sum(light["decisions"].values()) == light["count"]
            assert sum(light["score_histogram"]["counts"]) == light["count"]
    finally:
        stop.set()
        thread.join()
        writer.close()


def test_summary_route(published, tmp_path: Path) -> None:  # noqa: F811
    url = f"sqlite:///{tmp_path / 'p.db'}"
    config = serve_config(f"sqlite:///{published[0]}", {"full": 1, "light": 2})
    config["prediction_log"] = {"enabled": True, "url": url, "flush_seconds": 0.05}
    app = create_app(config)
    client = app.test_client()
    empty = client.get("/monitoring/summary")
    assert empty.status_code == 200 and empty.get_json()["count"] == 0
    assert empty.headers["X-Request-ID"]
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-1"}).headers["X-Request-ID"] == "abc-1"
    )
    app.extensions["prediction_log"].log.record(_record(1))
    app.extensions["prediction_log"].log.close()
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    body = client.get("/monitoring/summary", query_string={"since": since}).get_json()
    assert body["count"] == 1 and body["models"]["light"]["decisions"] == {"granted": 1}
    bad = client.get("/monitoring/summary?since=yesterday")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "since"
    health = client.get("/health").get_json()
    assert health["checks"]["prediction_log"]["written"] == 1


def test_summary_route_without_a_log_is_503(published) -> None:  # noqa: F811
    app = create_app(serve_config(f"sqlite:///{published[0]}", {"full": 1, "light": 2}))
    response = app.test_client().get("/monitoring/summary")
    assert response.status_code == 503 and response.is_json
