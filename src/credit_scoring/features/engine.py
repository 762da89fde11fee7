"""The SQL engine behind the history aggregation: one small interface, one embedded default.

The history features are plain SQL text compiled from a declarative spec, so the
same queries can run wherever tables and SQL live: DuckDB in-process by default,
or Spark SQL (:mod:`credit_scoring.features.spark_engine`, the same text transpiled
by sqlglot). Everything engine-specific stays behind ``SqlEngine``: registering
Arrow tables under a name, running a query into an Arrow table, forgetting a table,
releasing resources.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)


@runtime_checkable
class SqlEngine(Protocol):
    """What the history aggregation needs from a SQL engine, and nothing more."""

    def register(self, name: str, table: pa.Table) -> None:
        """Make ``table`` queryable as ``name``, replacing any table of that name."""
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
    """In-process DuckDB over Arrow tables, scanned in place without a copy.

    ``threads`` and ``memory_limit`` (DuckDB syntax, e.g. ``"4GB"``) bound what the
    aggregation takes from a shared machine; ``None`` keeps DuckDB's own default (all
    cores, 80 % of RAM). Beyond the limit DuckDB spills to ``temp_directory``.
    Insertion order is not preserved: results are keyed by SK_ID_CURR, and dropping
    the order guarantee lets DuckDB aggregate in parallel with less memory.
    """

    def __init__(
        self,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
    ) -> None:
        config: dict[str, Any] = {"preserve_insertion_order": False}
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if temp_directory is not None:
            config["temp_directory"] = temp_directory
        self._con = duckdb.connect(config=config)
        log.debug("DuckDB %s opened with %s", duckdb.__version__, config)

    def register(self, name: str, table: pa.Table) -> None:
        """Expose ``table`` as a view named ``name`` (zero-copy Arrow scan)."""
        self._con.register(name, table)

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` and fetch the result as one Arrow table."""
        return self._con.sql(sql).to_arrow_table()

    def unregister(self, name: str) -> None:
        """Drop the view ``name``; DuckDB then lets go of the Arrow table behind it."""
        self._con.unregister(name)

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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


def engine_from_config(features: Mapping[str, Any], name: str | None = None) -> SqlEngine:
    """The engine a ``features`` config names, with that engine's own block of settings.

    ``features.engine`` names the engine (``duckdb`` or ``spark``), ``features.duckdb``
    and ``features.spark`` hold each one's settings; ``name`` (a command-line switch)
    overrides the configured choice.
    """
    chosen = name or features["engine"]
    options = features.get(chosen) or {}
    return open_engine(chosen, **{key: _plain(value) for key, value in options.items()})


def _plain(value: Any) -> Any:
    """OmegaConf nodes as plain dicts and lists, which the engines' constructors expect."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value
