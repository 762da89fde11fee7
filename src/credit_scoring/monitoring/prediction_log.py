"""The prediction log: every live score the API returns, recorded off the request thread.

A scoring request only puts a small dict on a bounded in-memory queue
(``record``: microseconds, never blocks, never raises). One writer thread per
process drains the queue and inserts the records in batches (one transaction per
batch) into any SQLAlchemy database (``serve.prediction_log.url``; a SQLite file
under ``data/monitoring/`` by default). What can go wrong stays local:

* queue full (the store is slower than the traffic): the record is dropped and
  counted (``dropped``);
* store unavailable (locked, unreachable, read-only): the batch is counted as
  ``failed`` with the error, and the writer tries again with the next batch;
* clean stop (gunicorn's SIGTERM, Ctrl-C, interpreter exit): ``close`` runs at
  exit, drains the queue and writes what is left before the process ends.

A score never fails because of the log; ``status()`` feeds ``GET /health``.
Counters are per process (each gunicorn worker has its own writer).

Records hold: time (UTC), request id, route, model (full/light), registered name,
registry version and training run, the model inputs as sent to the model server
(JSON), probability, score, decision, threshold and latency (milliseconds from
the request's arrival to the model's answer).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from credit_scoring.config import PredictionLogConfig

log = logging.getLogger(__name__)

METADATA = MetaData()
#: One row per live score. ``inputs`` is the JSON object of the fields sent to the model.
PREDICTIONS = Table(
    "predictions",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("logged_at", DateTime, nullable=False),  # naive UTC
    Column("request_id", String(64), nullable=False),
    Column("route", String(200), nullable=False),
    Column("model", String(32), nullable=False),
    Column("registered_name", String(200)),
    Column("model_version", String(32)),
    Column("run_id", String(64)),
    Column("inputs", Text, nullable=False),
    Column("probability", Float, nullable=False),
    Column("score", Float),
    Column("decision", String(16), nullable=False),
    Column("threshold", Float),
    Column("latency_ms", Float),
    Index("ix_predictions_logged_at", "logged_at"),
    Index("ix_predictions_request_id", "request_id"),
)


def create_tables(engine: Engine) -> None:
    """Create the log's tables and indexes unless they exist.

    Every gunicorn worker has its own writer, and their first batches come at once:
    ``create_all``'s check-then-create lets two of them both try ``CREATE TABLE``,
    and the loser's error would lose its batch. What another writer created in the
    meantime is no error: the loser checks again and goes on.
    """
    try:
        METADATA.create_all(engine, checkfirst=True)
    except DBAPIError:
        METADATA.create_all(engine, checkfirst=True)  # re-checked: only what is still missing


def log_engine(url: str) -> Engine:
    """An engine for the log store; SQLite gets WAL and a busy timeout (several writers).

    Each gunicorn worker writes from its own process: WAL lets readers (the summary
    route, ``credit-scoring monitor``) read while one writer commits, and the busy
    timeout makes a writer wait for the lock instead of failing its batch.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class PredictionLog:
    """A bounded queue and one writer thread per process (see the module docstring)."""

    def __init__(self, settings: PredictionLogConfig) -> None:
        self.settings = settings
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(settings.queue_size)
        self._lock = threading.Lock()
        self._counts = {"recorded": 0, "written": 0, "dropped": 0, "failed": 0}
        self._last_error: str | None = None
        self._last_error_at: str | None = None
        self._engine: Engine | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- request side -------------------------------------------------------------

    def record(self, row: dict[str, Any]) -> None:
        """Queue one record; never blocks and never raises (a full queue drops and counts)."""
        if self._closed.is_set():
            self._count("dropped")
            return
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self._count("dropped")
            return
        self._count("recorded")

    def status(self) -> dict[str, Any]:
        """What ``/health`` shows: counters of this process, queue depth, last error."""
        with self._lock:
            counts = dict(self._counts)
            error, error_at = self._last_error, self._last_error_at
        lost = counts["dropped"] + counts["failed"]
        return {
            "ok": lost == 0 and self._thread.is_alive(),
            "enabled": True,
            "store": make_url(self.settings.url).render_as_string(hide_password=True),
            "queued": self._queue.qsize(),
            **counts,
            "last_error": error,
            "last_error_at": error_at,
        }

    # -- writer side --------------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _run(self) -> None:
        """Drain the queue in batches until ``close`` puts the stop marker."""
        stop = False
        while not stop:
            batch: list[dict[str, Any]] = []
            try:
                item = self._queue.get(timeout=self.settings.flush_seconds)
            except queue.Empty:
                continue
            deadline = time.monotonic() + self.settings.flush_seconds
            while True:
                if item is None:
                    stop = True
                else:
                    batch.append(item)
                if stop or len(batch) >= self.settings.batch_size:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
        # Records queued after the stop marker (a request finishing during shutdown).
        rest = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                rest.append(item)
        if rest:
            self._write(rest)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            if self._engine is None:
                engine = log_engine(self.settings.url)
                create_tables(engine)
                self._engine = engine
            with self._engine.begin() as conn:
                conn.execute(PREDICTIONS.insert(), batch)
        except Exception as exc:  # the store's failure must never reach a request
            self._count("failed", len(batch))
            with self._lock:
                self._last_error = f"{type(exc).__name__}: {exc}"[:500]
                self._last_error_at = datetime.now(UTC).isoformat(timespec="seconds")
            log.warning("prediction log: %d records lost: %s", len(batch), self._last_error)
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None
            return
        self._count("written", len(batch))

    def close(self) -> None:
        """Write everything queued, then stop the writer (idempotent; runs at exit)."""
        if self._closed.is_set():
            return
        self._closed.set()
        while True:  # the stop marker must get in even if the queue is full
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                if not self._thread.is_alive():
                    break
        self._thread.join(self.settings.close_timeout)
        if self._thread.is_alive():
            log.error("prediction log: writer still busy after %.0f s", self.settings.close_timeout)
        if self._engine is not None:
            self._engine.dispose()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def prediction_record(
    *,
    request_id: str,
    route: str,
    model: str,
    names: Sequence[str],
    row: Sequence[Any],
    answer: Mapping[str, Any],
    latency_ms: float | None,
) -> dict[str, Any]:
    """One log row from the fields sent to a model server and the API's answer."""
    return {
        "logged_at": datetime.now(UTC).replace(tzinfo=None),
        "request_id": request_id,
        "route": route,
        "model": model,
        "registered_name": answer.get("registered_name"),
        "model_version": _text(answer.get("model_version")),
        "run_id": answer.get("run_id"),
        "inputs": json.dumps(dict(zip(names, row, strict=True)), default=str),
        "probability": float(answer["probability"]),
        "score": None if answer.get("score") is None else float(answer["score"]),
        "decision": str(answer["decision"]),
        "threshold": None if answer.get("threshold") is None else float(answer["threshold"]),
        "latency_ms": latency_ms,
    }


def _percentile(conn: Any, where: Any, n: int, q: float) -> float | None:
    """The ``q`` quantile of latency by rank (nearest rank), in portable SQL."""
    from sqlalchemy import select

    if n == 0:
        return None
    rank = max(0, min(n - 1, round(q * (n - 1))))
    query = (
        select(PREDICTIONS.c.latency_ms)
        .where(where, PREDICTIONS.c.latency_ms.is_not(None))
        .order_by(PREDICTIONS.c.latency_ms)
        .offset(rank)
        .limit(1)
    )
    value = conn.execute(query).scalar()
    return None if value is None else float(value)


def summarize(
    engine: Engine, since: datetime | None, until: datetime | None, bins: int = 10
) -> dict[str, Any]:
    """Counts per model and decision, refusal rate, latency p50/p95 and score histogram.

    Aggregated by the database (``GROUP BY``, ranks by ``OFFSET``): the answer is a
    few hundred bytes whatever the period holds. ``since``/``until`` are naive UTC.
    Its queries all stop at the last record logged when it starts (by id), so counts,
    percentiles and histogram describe the same records while writers keep
    appending: separate SELECTs share no snapshot on SQLite, nor under PostgreSQL's
    READ COMMITTED.
    """
    from sqlalchemy import and_, case, func, inspect, select, true

    c = PREDICTIONS.c
    conditions = [true()]
    if since is not None:
        conditions.append(c.logged_at >= since)
    if until is not None:
        conditions.append(c.logged_at < until)
    where = and_(*conditions)
    edges = [100.0 * i / bins for i in range(bins + 1)]
    empty = {
        "since": None if since is None else since.isoformat() + "Z",
        "until": None if until is None else until.isoformat() + "Z",
        "count": 0,
        "refusal_rate": None,
        "first": None,
        "last": None,
        "models": {},
    }
    if not inspect(engine).has_table(PREDICTIONS.name):  # nothing scored yet
        return empty
    with engine.connect() as conn:
        last_id = conn.execute(select(func.max(c.id))).scalar()
        where = and_(where, c.id <= (last_id or 0))
        rows = conn.execute(
            select(c.model, c.decision, func.count())
            .where(where)
            .group_by(c.model, c.decision)
            .order_by(c.model, c.decision)
        ).all()
        models: dict[str, dict[str, Any]] = {}
        for model, decision, count in rows:
            entry = models.setdefault(model, {"count": 0, "decisions": {}})
            entry["decisions"][decision] = int(count)
            entry["count"] += int(count)
        for model, entry in models.items():
            model_where = and_(where, c.model == model)
            n = int(
                conn.execute(
                    select(func.count()).where(model_where, c.latency_ms.is_not(None))
                ).scalar()
                or 0
            )
            entry["refusal_rate"] = entry["decisions"].get("refused", 0) / entry["count"]
            entry["latency_ms"] = {
                "p50": _percentile(conn, model_where, n, 0.50),
                "p95": _percentile(conn, model_where, n, 0.95),
            }
            counts = conn.execute(
                select(
                    *(
                        func.sum(
                            case(
                                (
                                    and_(c.score >= lo, c.score < hi)
                                    if i < bins - 1
                                    else and_(c.score >= lo, c.score <= hi),
                                    1,
                                ),
                                else_=0,
                            )
                        )
                        for i, (lo, hi) in enumerate(pairwise(edges))
                    )
                ).where(model_where)
            ).one()
            entry["score_histogram"] = {
                "edges": edges,
                "counts": [int(x or 0) for x in counts],
            }
            versions = conn.execute(
                select(c.model_version, func.count())
                .where(model_where)
                .group_by(c.model_version)
                .order_by(c.model_version)
            ).all()
            entry["versions"] = {str(v): int(k) for v, k in versions}
        total = sum(e["count"] for e in models.values())
        refused = sum(e["decisions"].get("refused", 0) for e in models.values())
        first, last = conn.execute(
            select(func.min(c.logged_at), func.max(c.logged_at)).where(where)
        ).one()
    return {
        **empty,
        "count": total,
        "refusal_rate": refused / total if total else None,
        "first": None if first is None else first.isoformat() + "Z",
        "last": None if last is None else last.isoformat() + "Z",
        "models": models,
    }
