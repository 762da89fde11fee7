"""Read access to the clients database written by ``credit_scoring.publish``.

Every query is SQLAlchemy Core with bound parameters. The database may be
republished while the API runs, so each request reads ``meta.publish_id`` on the
connection it queries with and, when the generation changed, reflects the tables
again and drops in-process caches (the population index). For a SQLite file the
engine opens a fresh connection per request (``NullPool``): publishing replaces
the file, and a pooled connection would keep reading the old one.

A request reads one generation: ``begin_request``/``end_request`` (Flask hooks)
pin the connection the request's first query opens until the request ends, so
two lookups of one answer (a client's income, then the population it is ranked
in) cannot straddle a republish. On PostgreSQL that connection's transaction
starts by reading ``meta`` and keeps its lock, and the publisher's swap takes
``meta`` first: the swap waits for the requests reading the old generation, and
requests arriving during the swap wait for it, then read the new one whole.

What never changes within a generation (the ``models`` and ``model_inputs`` rows,
the layout of the stored histories, the population index) is kept in memory. With
``recheck_seconds > 0`` the generation is trusted for that long, so a scoring
request that needs only those makes no database round trip; a republish is then
seen within that delay.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    make_url,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from credit_scoring.api.tables import (
    HISTORY_FEATURES_KEY,
    HISTORY_PACKING_KEY,
    MODEL_NAMES,
    define_tables,
    input_column_name,
)
from credit_scoring.contracts import model_io
from credit_scoring.errors import CreditScoringError

#: Peers of an income are clients who repaid with an income strictly inside this band.
PEER_BAND: tuple[float, float] = (0.95, 1.05)


#: Just enough of ``meta`` to read the generation id without reflecting anything.
_META = Table("meta", MetaData(), Column("key", String), Column("value", Text))


#: The live tables' names (staging tables of a publish in progress are never reflected).
LIVE_TABLES = frozenset(
    define_tables(MetaData(), client_fields=(), input_kinds={m: [] for m in MODEL_NAMES})
)


class DatabaseUnavailable(CreditScoringError):
    """The clients database cannot be read (missing, not yet published, or down)."""


@dataclass(frozen=True)
class PopulationIndex:
    """Sorted incomes and prefix sums: percentile and peer means in O(log n) per request.

    ``repaid_*`` arrays are ordered by the repaid clients' income; prefix sums carry
    a leading zero so that a band [lo, hi) sums as ``cum[hi] - cum[lo]``. Missing
    annuities are skipped, as a mean over the known values.
    """

    incomes: np.ndarray
    repaid_incomes: np.ndarray
    credit_cum: np.ndarray
    credit_n: np.ndarray
    annuity_cum: np.ndarray
    annuity_n: np.ndarray

    @classmethod
    def build(cls, incomes: np.ndarray, repaid: np.ndarray) -> PopulationIndex:
        """From all clients' incomes and the repaid clients' (income, credit, annuity) rows."""
        order = np.argsort(repaid[:, 0], kind="stable")
        repaid = repaid[order]

        def prefix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            known = ~np.isnan(values)
            return (
                np.concatenate([[0.0], np.cumsum(np.where(known, values, 0.0))]),
                np.concatenate([[0], np.cumsum(known)]),
            )

        credit_cum, credit_n = prefix(repaid[:, 1])
        annuity_cum, annuity_n = prefix(repaid[:, 2])
        return cls(
            np.sort(incomes[~np.isnan(incomes)]),
            repaid[:, 0],
            credit_cum,
            credit_n,
            annuity_cum,
            annuity_n,
        )

    def position(self, income: float) -> dict[str, Any]:
        """The prototype's three comparison metrics for ``income``, plus the peer count."""
        below = int(np.searchsorted(self.incomes, income, side="left"))
        lo = int(np.searchsorted(self.repaid_incomes, PEER_BAND[0] * income, side="right"))
        hi = int(np.searchsorted(self.repaid_incomes, PEER_BAND[1] * income, side="left"))
        hi = max(hi, lo)

        def mean(cum: np.ndarray, n: np.ndarray) -> float | None:
            count = int(n[hi] - n[lo])
            return float((cum[hi] - cum[lo]) / count) if count else None

        return {
            "income": income,
            "income_percentile": 100.0 * below / len(self.incomes) if len(self.incomes) else None,
            "peers": hi - lo,
            "peers_mean_credit": mean(self.credit_cum, self.credit_n),
            "peers_mean_annuity": mean(self.annuity_cum, self.annuity_n),
        }

    @property
    def income_range(self) -> tuple[float, float] | None:
        """Smallest and largest income among all clients."""
        return (float(self.incomes[0]), float(self.incomes[-1])) if len(self.incomes) else None

    @property
    def repaid_income_range(self) -> tuple[float, float] | None:
        """Smallest and largest income among the clients who repaid."""
        rep = self.repaid_incomes[~np.isnan(self.repaid_incomes)]
        return (float(rep[0]), float(rep[-1])) if len(rep) else None


@dataclass
class _Pinned:
    """The connection (and its generation) one request reads through, once opened."""

    conn: Connection | None = None
    generation: _Generation | None = None


@dataclass
class _Generation:
    """The tables and caches of one published generation."""

    publish_id: str
    tables: dict[str, Table]
    inputs: dict[str, list[dict[str, Any]]]
    models: dict[str, dict[str, Any]]
    history_packing: str | None
    history_features: tuple[str, ...]
    checked_at: float = field(default_factory=time.monotonic)
    population: PopulationIndex | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def history(self, blob: bytes) -> str:
        """The ``HISTORY`` JSON object of a stored history, in the layout ``meta`` records.

        A packing this reader does not know makes the history unreadable, not wrong.
        """
        if self.history_packing != model_io.HISTORY_PACKING:
            raise DatabaseUnavailable(
                f"stored histories are packed as {self.history_packing!r}; this API reads "
                f"{model_io.HISTORY_PACKING!r} (republish, or upgrade the API)"
            )
        return model_io.stored_history(blob, self.history_features)


class ClientsDatabase:
    """Queries the API needs, each on one connection of its own."""

    def __init__(self, url: str, *, recheck_seconds: float = 0.0) -> None:
        self._recheck_seconds = recheck_seconds
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            # Read-only URI mode: a missing file is an error, not a new empty database.
            path = Path(parsed.database).resolve().as_posix()
            self._engine = create_engine(
                "sqlite://",
                creator=lambda: sqlite3.connect(
                    f"file:{path}?mode=ro", uri=True, check_same_thread=False
                ),
                poolclass=NullPool,
            )
        else:
            connect_args = {}
            if parsed.get_driver_name() == "psycopg":
                # No server-side prepared statements: a republish may change a column's type
                # under the same name, which a prepared plan would refuse to follow.
                connect_args["prepare_threshold"] = None
            self._engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        self._generation: _Generation | None = None
        self._lock = threading.Lock()
        self._pinned: ContextVar[_Pinned | None] = ContextVar(f"pinned_{id(self)}", default=None)

    def begin_request(self) -> None:
        """From now until ``end_request``, every query of this thread reads one generation."""
        self._pinned.set(_Pinned())

    def end_request(self, _exc: BaseException | None = None) -> None:
        """Close the request's connection (ending its read transaction)."""
        pinned = self._pinned.get()
        self._pinned.set(None)
        if pinned is not None and pinned.conn is not None:
            with suppress(SQLAlchemyError):  # a broken connection: the pool discards it
                pinned.conn.close()

    @contextmanager
    def _connect(self) -> Iterator[tuple[Connection, _Generation]]:
        pinned = self._pinned.get()
        try:
            if pinned is None:
                with self._engine.connect() as conn:
                    yield conn, self._current(conn)
                return
            if pinned.conn is None:
                pinned.conn = self._engine.connect()
                pinned.generation = self._current(pinned.conn)
            assert pinned.generation is not None
            yield pinned.conn, pinned.generation
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(f"clients database unreadable: {type(exc).__name__}") from exc

    def _current(self, conn: Connection) -> _Generation:
        publish_id = conn.execute(
            select(_META.c.value).where(_META.c.key == "publish_id")
        ).scalar_one()
        with self._lock:
            if self._generation is None or self._generation.publish_id != publish_id:
                md = MetaData()
                md.reflect(conn, only=lambda name, _: name in LIVE_TABLES)
                inputs_table = md.tables["model_inputs"]
                inputs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODEL_NAMES}
                for row in conn.execute(
                    select(inputs_table).order_by(inputs_table.c.model, inputs_table.c.position)
                ).mappings():
                    inputs.setdefault(row["model"], []).append(dict(row))
                models = {
                    r["name"]: dict(r) for r in conn.execute(select(md.tables["models"])).mappings()
                }
                keys = (HISTORY_FEATURES_KEY, HISTORY_PACKING_KEY)
                layout: dict[str, str] = {
                    key: value
                    for key, value in conn.execute(
                        select(_META.c.key, _META.c.value).where(_META.c.key.in_(keys))
                    )
                }
                self._generation = _Generation(
                    publish_id,
                    dict(md.tables),
                    inputs,
                    models,
                    history_packing=layout.get(HISTORY_PACKING_KEY),
                    history_features=tuple(json.loads(layout.get(HISTORY_FEATURES_KEY, "[]"))),
                )
            self._generation.checked_at = time.monotonic()
            return self._generation

    def _trusted(self) -> _Generation:
        """The current generation, read again only when older than ``recheck_seconds``."""
        pinned = self._pinned.get()
        if pinned is not None and pinned.generation is not None:
            return pinned.generation  # what this request already reads
        gen = self._generation
        if gen is not None and time.monotonic() - gen.checked_at < self._recheck_seconds:
            return gen
        with self._connect() as (_, gen):
            return gen

    def ping(self) -> str:
        """The published generation's id; raises ``DatabaseUnavailable`` when unreadable."""
        with self._connect() as (_, gen):
            return gen.publish_id

    def models(self) -> dict[str, dict[str, Any]]:
        """The ``models`` table keyed by model name (full, light)."""
        return self._trusted().models

    def client(self, client_id: int) -> dict[str, Any] | None:
        """The client's stored row (fields, TARGET, precomputed scores), or None if unknown."""
        with self._connect() as (conn, gen):
            table = gen.tables["clients"]
            row = conn.execute(select(table).where(table.c["SK_ID_CURR"] == client_id)).mappings()
            found = row.first()
            return dict(found) if found else None

    def input_columns(self, model: str) -> list[dict[str, Any]]:
        """The model's input columns (name, kind, required) in signature order."""
        return self._trusted().inputs.get(model, [])

    def model_input(self, model: str, client_id: int) -> dict[str, Any] | None:
        """The stored input row of the model for a client, keyed by the signature's names."""
        with self._connect() as (conn, gen):
            table = gen.tables[f"inputs_{model}"]
            found = (
                conn.execute(select(table).where(table.c["SK_ID_CURR"] == client_id))
                .mappings()
                .first()
            )
            if found is None:
                return None
            values = {}
            for col in gen.inputs[model]:
                value = found[input_column_name(col["position"])]
                if col["kind"] == model_io.HISTORY_KIND and value is not None:
                    value = gen.history(value)
                values[col["column_name"]] = value
            return values

    def distribution(self, feature: str, population: str, bins: int) -> dict[str, Any] | None:
        """A precomputed histogram (edges, counts, outside-range counts), or None."""
        with self._connect() as (conn, gen):
            table = gen.tables["distributions"]
            row = (
                conn.execute(
                    select(table).where(
                        table.c.feature == feature,
                        table.c.population == population,
                        table.c.bins == bins,
                    )
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None

    def distribution_catalog(self) -> dict[str, list[int]]:
        """Which features and bin counts have precomputed histograms."""
        with self._connect() as (conn, gen):
            table = gen.tables["distributions"]
            catalog: dict[str, set[int]] = {}
            for feature, bins in conn.execute(select(table.c.feature, table.c.bins)):
                catalog.setdefault(feature, set()).add(int(bins))
            return {f: sorted(b) for f, b in catalog.items()}

    def population(self) -> PopulationIndex:
        """The population index of the current generation, built on first use."""
        trusted = self._trusted()
        if trusted.population is not None:
            return trusted.population
        with self._connect() as (conn, gen), gen.lock:
            if gen.population is None:
                table = gen.tables["clients"]
                incomes = np.array(
                    conn.execute(select(table.c.AMT_INCOME_TOTAL)).scalars().all(),
                    dtype=float,
                )
                repaid = np.array(
                    conn.execute(
                        select(
                            table.c.AMT_INCOME_TOTAL, table.c.AMT_CREDIT, table.c.AMT_ANNUITY
                        ).where(table.c.TARGET == 0)
                    ).all(),
                    dtype=float,
                ).reshape(-1, 3)
                gen.population = PopulationIndex.build(incomes, repaid)
            return gen.population

    def repaid_column(self, field_name: str) -> list[float]:
        """Every repaid client's value of one amount: the prototype's whole-column answer."""
        with self._connect() as (conn, gen):
            table = gen.tables["clients"]
            column = table.c[field_name]
            # In client order on any database (SQL promises no order without ORDER BY).
            rows = conn.execute(
                select(column)
                .where(table.c.TARGET == 0, column.is_not(None))
                .order_by(table.c.SK_ID_CURR)
            ).scalars()
            return [float(v) for v in rows]
