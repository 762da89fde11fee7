"""The SQL engine behind the history aggregation: one small interface, one embedded default.

The history features are plain SQL text compiled from a declarative spec, so the
same queries can run wherever tables and SQL live: DuckDB in-process by default,
or Spark SQL (:mod:`credit_scoring.features.spark_engine`, the same text transpiled
by sqlglot). Everything engine-specific stays behind ``SqlEngine``: registering a
table (an Arrow table, or a Parquet file the engine scans itself) under a name,
running a query into an Arrow table, forgetting a table, releasing resources.
``run_queries`` runs several independent queries, in parallel where the engine
offers it (``query_many``).

Reproducibility with threads: a parallel aggregation adds floating-point partial
sums in whatever order threads finish, so SUM, AVG and VAR_SAMP change in the last
bits from run to run. The DuckDB engine therefore parallelises *across* queries
rather than within one: with ``threads=N`` it opens N single-threaded DuckDB
instances over the same tables and runs up to N queries at once. Every sum is
then the sequential sum of the one order DuckDB scans a file in, and the output is
the same to the bit on every run and for every N (the values are those of one
thread), while both cores work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import duckdb
import pyarrow as pa

from credit_scoring.io import usable_cpus

if TYPE_CHECKING:
    from credit_scoring.config import FeaturesConfig

log = logging.getLogger(__name__)


@runtime_checkable
class SqlEngine(Protocol):
    """What the history aggregation needs from a SQL engine, and nothing more."""

    def register(self, name: str, table: pa.Table | Path) -> None:
        """Make ``table`` (Arrow, or a Parquet file's path) queryable as ``name``.

        Replaces any table of that name. A Parquet file is scanned by the engine
        itself when queried, never loaded whole into this process.
        """
        ...

    def query(self, sql: str) -> pa.Table:
        """Run one SELECT and return its whole result."""
        ...

    def unregister(self, name: str) -> None:
        """Forget the table registered as ``name``, so its memory can be released."""
        ...

    def close(self) -> None:
        """Release the engine's memory and threads; the engine is unusable afterwards."""
        ...


class DuckDBEngine:
    """In-process DuckDB over Arrow tables (scanned in place) or Parquet files.

    ``threads`` (default: every core) is the number of queries run at once by
    ``query_many``, each on its own single-threaded DuckDB instance, so that the
    results are reproducible to the bit (module docstring). ``memory_limit`` (DuckDB
    syntax, e.g. ``"4GB"``) bounds the instances together (each gets its share);
    ``None`` keeps DuckDB's default (80 % of RAM each). Beyond the limit DuckDB spills
    to ``temp_directory``. Insertion order is not preserved: results are keyed by
    SK_ID_CURR, and dropping the order guarantee costs less memory.
    """

    def __init__(
        self,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
    ) -> None:
        self.workers = max(1, threads if threads is not None else usable_cpus())
        # A join's build side stays the one the query names (the right): flipping it by
        # size would feed the rows after it in another order, so the same client's
        # sums would change in the last bits with the size of what else is read.
        config: dict[str, Any] = {
            "preserve_insertion_order": False,
            "threads": 1,
            "disabled_optimizers": "build_side_probe_side",
        }
        if memory_limit is not None:
            config["memory_limit"] = _share(memory_limit, self.workers)
        if temp_directory is not None:
            config["temp_directory"] = temp_directory
        self._cons = [duckdb.connect(config=config) for _ in range(self.workers)]
        self._con = self._cons[0]
        log.debug("DuckDB %s: %d instances with %s", duckdb.__version__, self.workers, config)

    def register(self, name: str, table: pa.Table | Path) -> None:
        """Expose ``table`` as a view named ``name`` in every instance.

        An Arrow table is scanned in place (zero copy); a Parquet file through
        ``read_parquet``, row group by row group, when a query reads it.
        """
        for con in self._cons:
            _forget(con, name)
            if isinstance(table, Path | str):
                path = str(table).replace("'", "''")
                con.execute(f"CREATE VIEW \"{name}\" AS FROM read_parquet('{path}')")
            else:
                con.register(name, table)

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` and fetch the result as one Arrow table."""
        return self._con.sql(sql).to_arrow_table()

    def query_many(self, queries: Mapping[str, str]) -> Iterator[tuple[str, pa.Table]]:
        """Run independent queries, up to ``threads`` at once; yield (name, result) as done.

        The queries are started longest first (by SQL length, a proxy for the
        number of aggregates) so that the last one to start is a short one.
        """
        order = sorted(queries, key=lambda name: -len(queries[name]))
        if self.workers == 1 or len(order) == 1:
            for name in order:
                yield name, self.query(queries[name])
            return
        free = list(self._cons)

        def run(name: str) -> tuple[str, pa.Table]:
            con = free.pop()  # list.pop is atomic: each running query owns one instance
            try:
                return name, con.sql(queries[name]).to_arrow_table()
            finally:
                free.append(con)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(run, name) for name in order]
            for future in as_completed(futures):
                yield future.result()

    def unregister(self, name: str) -> None:
        """Drop ``name`` everywhere; DuckDB then lets go of the table behind it."""
        for con in self._cons:
            _forget(con, name)

    def close(self) -> None:
        """Close every instance."""
        for con in self._cons:
            con.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _share(limit: str, parts: int) -> str:
    """``limit`` (DuckDB syntax: "4GB", "512MB") divided among ``parts`` instances."""
    number = "".join(ch for ch in limit if ch.isdigit() or ch == ".")
    unit = limit[len(number) :].strip() or "B"
    megabytes = float(number) * {"KB": 1e-3, "MB": 1, "GB": 1e3, "TB": 1e6}.get(unit.upper(), 1e-6)
    return f"{max(1, int(megabytes / parts))}MB"


def _forget(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop ``name``, whether a registered Arrow table or a view over a Parquet file."""
    con.unregister(name)  # a no-op for a name that is not a registered Arrow table
    con.execute(f'DROP VIEW IF EXISTS "{name}"')


def run_queries(engine: SqlEngine, queries: Mapping[str, str]) -> Iterator[tuple[str, pa.Table]]:
    """Each of ``queries`` run on ``engine``: in parallel if it has ``query_many``, else in turn.

    Yields (name, result) pairs, in completion order.
    """
    many = getattr(engine, "query_many", None)
    if many is not None:
        yield from many(queries)
        return
    for name, sql in queries.items():
        yield name, engine.query(sql)


def _spark(**options: Any) -> SqlEngine:
    """The Spark engine, imported only when asked for: PySpark is an optional extra."""
    from credit_scoring.features.spark_engine import SparkEngine

    return SparkEngine(**options)


#: Engines by the name the ``features.engine`` config value uses.
ENGINES: dict[str, Callable[..., SqlEngine]] = {"duckdb": DuckDBEngine, "spark": _spark}


def open_engine(name: str = "duckdb", **options: Any) -> SqlEngine:
    """The engine called ``name``, built with ``options`` (``threads``, ``memory_limit``...).

    Raises ``ValueError`` naming the known engines for an unknown ``name``.
    """
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown SQL engine {name!r}; known: {sorted(ENGINES)}") from None
    return factory(**options)


def engine_from_config(features: FeaturesConfig, name: str | None = None) -> SqlEngine:
    """The engine a ``features`` config names, with that engine's own block of settings.

    ``features.engine`` names the engine (``duckdb`` or ``spark``), ``features.duckdb``
    and ``features.spark`` hold each one's settings; ``name`` (a command-line switch)
    overrides the configured choice.
    """
    chosen = name or features.engine
    block = getattr(features, chosen, None)
    return open_engine(chosen, **(block.model_dump() if block is not None else {}))
