"""Spark SQL behind the engine interface: the same history queries, on a cluster or locally.

:class:`SparkEngine` implements :class:`~credit_scoring.features.engine.SqlEngine`
(register an Arrow table, run a query into Arrow, forget a table, close), so
``build_features`` and ``aggregate_history`` run unchanged on Spark. Every query is
the DuckDB text the history compiler writes, transpiled by
:func:`~credit_scoring.features.dialects.to_spark_sql`: one implementation of each
feature, whichever engine runs it.

Beyond the interface, what a cluster needs and an in-process engine does not:

- :meth:`SparkEngine.register_path` and :func:`read_table` let Spark's executors read
  the tables themselves (Parquet as the ingest stage writes it, or the raw CSV files,
  from a local path or object storage such as ``s3a://bucket/raw``), instead of
  shipping them from the driver;
- :meth:`SparkEngine.frame` returns a lazy Spark DataFrame, so that batch scoring can
  join, score and write without collecting anything on the driver.

PySpark is an optional dependency (``pip install 'credit-scoring[spark]'``) and needs
a Java 17 runtime; importing this module without it raises an error that says so.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from credit_scoring.data.schema import TABLES, TableSchema
from credit_scoring.errors import CreditScoringError, SchemaError
from credit_scoring.features.dialects import to_spark_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

#: Spark SQL type of each schema kind.
SPARK_TYPES: dict[str, str] = {"int": "BIGINT", "float": "DOUBLE", "str": "STRING"}

#: File formats ``read_table`` knows, by the suffix a path may carry.
FORMATS = ("parquet", "csv")


class SparkUnavailable(CreditScoringError):
    """PySpark or its Java runtime is missing: say how to install them."""


def _pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError as exc:
        raise SparkUnavailable(
            "the Spark engine needs PySpark: pip install 'credit-scoring[spark]' "
            "(and a Java 17 runtime, e.g. Debian's openjdk-17-jre-headless)"
        ) from exc
    return pyspark.sql


class SparkEngine:
    """A Spark session running the history SQL, owned or borrowed.

    ``master`` is a Spark master URL (``local[2]``, ``spark://host:7077``,
    ``yarn``, ``k8s://...``) and ``conf`` any Spark settings
    (``spark.sql.shuffle.partitions``, ``spark.driver.memory``,
    ``spark.hadoop.fs.s3a.endpoint``...). If a session is already active in the
    process (a notebook, a job that made its own, a test session), the engine
    borrows it: ``master`` is then the session's own, the runtime SQL settings of
    ``conf`` are applied to it, and :meth:`close` leaves it running. Otherwise the
    engine starts one and :meth:`close` stops it; under ``spark-submit``, that
    session takes spark-submit's ``--master`` and ``--conf`` over ``master`` and
    ``conf``.
    """

    def __init__(
        self,
        master: str = "local[2]",
        app_name: str = "credit-scoring",
        conf: Mapping[str, Any] | None = None,
        log_level: str = "WARN",
    ) -> None:
        sql = _pyspark()
        # py4j logs every connection at INFO, down to interpreter shutdown.
        logging.getLogger("py4j").setLevel(logging.WARNING)
        active = sql.SparkSession.getActiveSession()
        self._owned = active is None
        if active is not None:
            self.session: SparkSession = active
            for key, value in (conf or {}).items():
                # Only the runtime SQL settings can change in a running session.
                if self.session.conf.isModifiable(key):
                    self.session.conf.set(key, _conf_value(value))
        else:
            settings = dict(conf or {})
            if master.startswith("local"):
                # Python workers (UDFs: the model) run this interpreter and its packages,
                # not whatever `python3` is first on the PATH; on a cluster,
                # spark.pyspark.python names the executors' interpreter.
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = sql.SparkSession.builder.appName(app_name)
            if "PYSPARK_GATEWAY_PORT" not in os.environ:
                # Under spark-submit (which starts the JVM and says so in this variable)
                # its --master and --conf win; elsewhere the configured master applies.
                builder = builder.master(master)
            for key, value in settings.items():
                builder = builder.config(key, _conf_value(value))
            try:
                self.session = builder.getOrCreate()
            except Exception as exc:  # no Java, or a master that does not answer
                raise SparkUnavailable(f"cannot start Spark on {master!r}: {exc}") from exc
            self.session.sparkContext.setLogLevel(log_level)
        self._views: set[str] = set()
        log.info(
            "Spark %s on %s (%s session)",
            self.session.version,
            self.session.sparkContext.master,
            "own" if self._owned else "borrowed",
        )

    # ------------------------------------------------------------------ SqlEngine

    def register(self, name: str, table: pa.Table | Path) -> None:
        """Make ``table`` the temporary view ``name``.

        A Parquet file's path (as the ingest stage writes them) is read by Spark's
        executors where it lies; an Arrow table is shipped from the driver, its
        dictionary-encoded columns decoded first (Spark has no dictionary type).
        """
        if isinstance(table, Path | str):
            self.register_path(name, table, "parquet")
        else:
            self.register_frame(name, self.session.createDataFrame(_plain_arrow(table)))

    def query(self, sql: str) -> pa.Table:
        """Transpile ``sql`` (DuckDB dialect), run it and collect the result as Arrow."""
        return self.frame(sql).toArrow()

    def unregister(self, name: str) -> None:
        """Drop the temporary view ``name``; Spark then lets go of what it cached for it."""
        self.session.catalog.dropTempView(name)
        self._views.discard(name)

    def close(self) -> None:
        """Drop the views registered here; stop the session if this engine started it."""
        for name in list(self._views):
            self.unregister(name)
        if self._owned:
            self.session.stop()

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ beyond it

    def frame(self, sql: str) -> DataFrame:
        """The lazy Spark DataFrame of ``sql`` (DuckDB dialect, transpiled): nothing runs yet."""
        return self.session.sql(to_spark_sql(sql))

    def register_frame(self, name: str, frame: DataFrame) -> None:
        """Make a Spark DataFrame the temporary view ``name``."""
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def register_path(self, name: str, path: str | Path, file_format: str = "parquet") -> None:
        """Make the files at ``path`` (``parquet`` or ``csv`` with a header) the view ``name``.

        The executors read them where they are; nothing passes through the driver.
        Columns keep the file's names and, for CSV, are strings: see :func:`read_table`
        for the typed read of a Home Credit table.
        """
        self.register_frame(name, _read(self.session, str(path), file_format))


def _conf_value(value: Any) -> str:
    """A Spark setting as Spark spells it (``true``, not Python's ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _plain_arrow(table: pa.Table) -> pa.Table:
    """``table`` without dictionary columns (decoded to their value type)."""
    columns = [
        pc.cast(column, column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _read(session: SparkSession, path: str, file_format: str) -> DataFrame:
    if file_format not in FORMATS:
        raise ValueError(f"unknown file format {file_format!r}; known: {list(FORMATS)}")
    reader = session.read.format(file_format)
    if file_format == "csv":
        # Every value as text, cast to the declared type afterwards: inferring would make
        # a column's type depend on the rows at hand. FAILFAST: a malformed record fails
        # the read instead of becoming a row of NULLs.
        reader = reader.options(header=True, inferSchema=False, mode="FAILFAST")
    return reader.load(path)


def read_table(engine: SparkEngine, directory: str | Path, table: str) -> DataFrame | None:
    """The Home Credit ``table`` under ``directory``, exactly the declared columns and types.

    ``directory`` is a local path or a URL Spark's file systems know (``s3a://bucket/raw``,
    ``hdfs://...``). ``NAME.parquet`` (a file or a directory of parts, as an ingest step
    or Spark writes it) is read if it exists, else the raw ``NAME.csv``; neither gives
    ``None``, for the caller to decide whether the table was optional.

    Missing declared columns raise :class:`SchemaError` naming the file and column;
    extra columns are dropped. Values are cast to the declared types (``BIGINT``,
    ``DOUBLE``, ``STRING``); under ANSI mode a value that is not a number fails the
    query that first reads it, naming the value.
    """
    schema: TableSchema = TABLES[table]
    base = str(directory).rstrip("/")
    stem = schema.file_name.removesuffix(".csv")
    candidates = ((f"{base}/{stem}.parquet", "parquet"), (f"{base}/{schema.file_name}", "csv"))
    local = "://" not in base or base.startswith("file://")
    for path, file_format in candidates:
        if local and not Path(path.removeprefix("file://")).exists():
            continue  # asking Spark would log a stack trace for every absent file
        try:
            frame = _read(engine.session, path, file_format)
        except Exception as exc:
            if "PATH_NOT_FOUND" in str(exc):
                continue
            raise SchemaError(f"Spark cannot read it: {exc}", file=path) from exc
        break
    else:
        return None
    present = {c.lower(): c for c in frame.columns}
    for column in schema.columns:
        if column.name.lower() not in present:
            raise SchemaError("column missing", file=path, column=column.name)
    functions = _pyspark().functions
    return frame.select(
        *(
            functions.col(f"`{present[c.name.lower()]}`").cast(SPARK_TYPES[c.kind]).alias(c.name)
            for c in schema.columns
        )
    )
