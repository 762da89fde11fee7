"""Batch scoring on Spark: raw tables by path in, Parquet partitions of decisions out.

The cluster form of ``credit-scoring score``: nothing passes through the driver.

1. The applicants (``application_test``, else ``application_train``; a ``TARGET``
   column is ignored) and the side tables present are read by Spark's executors from
   ``raw_dir``, a local directory or object storage (``s3a://bucket/batch``), as
   Parquet (``NAME.parquet``, as an ingest step writes it) or the raw CSV, with the
   schema's declared columns and types (:func:`~credit_scoring.features.spark_engine.read_table`).
2. The history aggregates are the history spec's SQL, the very text DuckDB runs,
   transpiled to Spark SQL; each side table's aggregates are LEFT JOINed onto the
   applicants (no history: missing, as in the feature stage; an absent table: its
   features missing).
3. The model (``models:/credit-scoring-full@champion`` or any MLflow URI) scores the
   rows through ``mlflow.pyfunc.spark_udf``, with a struct result of the model's
   decision outputs (probability, score, decision, threshold, model name and run),
   and points and grade when the model has a scorecard; reason codes are not asked
   for (they cost a SHAP pass per row, as in the local batch path).
4. The rows are written as Parquet part files under ``out`` (replaced only on
   success for a local directory; object stores get Spark's own job commit), with
   the columns of the local ``score`` (:func:`credit_scoring.batch.output_columns`):
   the registry version the alias resolved to, and the training run as ``run_id``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import functions

from credit_scoring.batch import SCORECARD_COLUMNS, output_columns, registry_entry
from credit_scoring.contracts import model_io
from credit_scoring.data.schema import SIDE_TABLES, TABLES
from credit_scoring.errors import CreditScoringError, SchemaError
from credit_scoring.features.history import (
    HistorySpec,
    compile_sql,
    feature_tables,
    load_spec,
)
from credit_scoring.features.spark_engine import SPARK_TYPES, SparkEngine, read_table
from credit_scoring.io import atomic_dir

if TYPE_CHECKING:
    from mlflow.models import ModelSignature
    from pyspark.sql import Column, DataFrame

log = logging.getLogger(__name__)

#: Spark SQL type of each MLflow column type a model may declare as an output.
_SPARK_OUTPUT_TYPES = {
    "double": "double",
    "float": "float",
    "long": "bigint",
    "integer": "int",
    "boolean": "boolean",
    "string": "string",
}
#: Where the key of the applicants lives in every table and in the output.
KEY = "SK_ID_CURR"


@dataclass
class SparkBatchSummary:
    """What one Spark scoring run did: rows written, where, with which model, how long."""

    applicants: int
    out: str
    model_uri: str
    outputs: tuple[str, ...]
    missing_tables: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return (
            f"scored {self.applicants:,} applicants with {self.model_uri} on Spark "
            f"into {self.out} [parquet parts] ({steps})"
        )


def applicants_frame(engine: SparkEngine, raw_dir: str | Path) -> DataFrame:
    """The applicants to score: ``application_test``, else ``application_train``, no TARGET."""
    text = str(raw_dir)
    if "://" not in text and not Path(text).is_dir():
        raise SchemaError("no such directory", file=text)
    for name in ("application_test", "application_train"):
        frame = read_table(engine, raw_dir, name)
        if frame is not None:
            return frame.drop("TARGET") if "TARGET" in frame.columns else frame
    raise SchemaError("no application_test.csv or application_train.csv", file=text)


def history_frame(
    engine: SparkEngine, raw_dir: str | Path, spec: HistorySpec | None = None
) -> tuple[dict[str, DataFrame], tuple[str, ...]]:
    """Each side table's history aggregates as a lazy frame, and the tables that are absent.

    The side tables present under ``raw_dir`` are registered under their schema
    names; an absent table another one joins (``bureau_balance``) stands in empty, and
    every feature reading an absent table is NULL, exactly as
    :func:`~credit_scoring.features.history.aggregate_history` does it.
    """
    spec = spec if spec is not None else load_spec()
    missing = []
    for table in SIDE_TABLES:
        frame = read_table(engine, raw_dir, table)
        if frame is None:
            missing.append(table)
            columns = ", ".join(
                f"CAST(NULL AS {SPARK_TYPES[c.kind]}) AS {c.name}" for c in TABLES[table].columns
            )
            frame = engine.session.sql(f"SELECT {columns} WHERE FALSE")
        engine.register_frame(table, frame)
    for table in missing:
        log.warning("history: table %s is missing, its features will be missing", table)
    reads = feature_tables(spec)
    frames = {}
    for table, sql in compile_sql(spec).items():
        if table in missing:
            continue
        frame = engine.frame(sql)
        blanked = [name for name, read in reads[table].items() if read & set(missing)]
        if blanked:
            frame = frame.select(
                KEY,
                *(
                    functions.lit(None).cast("double").alias(name)
                    if name in blanked
                    else functions.col(name)
                    for name in reads[table]
                ),
            )
        frames[table] = frame
    return frames, tuple(missing)


def features_frame(
    engine: SparkEngine, raw_dir: str | Path, spec: HistorySpec | None = None
) -> tuple[DataFrame, tuple[str, ...]]:
    """The applicants' raw fields and all history aggregates, one lazy row per applicant."""
    spec = spec if spec is not None else load_spec()
    frame = applicants_frame(engine, raw_dir)
    per_table, missing = history_frame(engine, raw_dir, spec)
    for aggregates in per_table.values():
        frame = frame.join(aggregates, on=KEY, how="left")
    present = set(frame.columns)
    absent = [name for name in spec.feature_names() if name not in present]
    if absent:  # a whole table's features, when the table is absent
        frame = frame.select(
            "*", *(functions.lit(None).cast("double").alias(name) for name in absent)
        )
    return frame, missing


def _signature(model_uri: str) -> ModelSignature:
    from mlflow.exceptions import MlflowException
    from mlflow.models import get_model_info

    try:
        signature = get_model_info(model_uri).signature
    except (MlflowException, OSError) as exc:
        raise CreditScoringError(f"cannot load the model {model_uri}: {exc}") from exc
    if signature is None or signature.outputs is None:
        raise CreditScoringError(f"the model {model_uri} declares no input/output signature")
    return signature


def _has_scorecard(model_uri: str) -> bool:
    """Whether the model answers with points and grade (a product model with a scorecard).

    The UDF's result type is fixed before any row is scored, so the driver asks the
    model itself; a foreign pyfunc model gives the decision outputs it declares.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        inner = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    except (MlflowException, AttributeError):
        return False
    return getattr(inner, "aids", None) is not None


def _result_type(signature: ModelSignature, scorecard: bool) -> tuple[str, tuple[str, ...]]:
    """The UDF's struct type (Spark DDL) and its fields: the model's decision outputs,
    and the scorecard's when ``scorecard``, as the signature types them."""
    wanted = set(model_io.OUTPUT_COLUMNS) | (set(SCORECARD_COLUMNS) if scorecard else set())
    fields = []
    for column in signature.outputs.inputs:
        kind = getattr(column.type, "name", str(column.type))
        if column.name in wanted and kind in _SPARK_OUTPUT_TYPES:
            fields.append((column.name, _SPARK_OUTPUT_TYPES[kind]))
    ddl = ", ".join(f"{name} {kind}" for name, kind in fields)
    return ddl, tuple(name for name, _ in fields)


def _model_inputs(frame: DataFrame, signature: ModelSignature) -> list[Column]:
    """The frame's columns the model declares, as the struct the UDF hands to the model.

    A column the signature types as ``double`` or ``string`` is cast to it (Spark
    reads day counts as BIGINT, which MLflow's enforcement would refuse for a double
    field); an ``any`` column goes as it is, for the model's own conversion.
    """
    casts = {"double": "double", "float": "double", "string": "string"}
    columns = []
    for spec in signature.inputs.inputs:
        if spec.name not in frame.columns:
            continue
        kind = getattr(spec.type, "name", None)
        column = functions.col(spec.name)
        columns.append(column.cast(casts[kind]).alias(spec.name) if kind in casts else column)
    return columns


def score_on_spark(
    raw_dir: str | Path,
    out: str | Path,
    *,
    model_uri: str,
    engine: SparkEngine,
    spec: HistorySpec | None = None,
) -> SparkBatchSummary:
    """Score the applicants under ``raw_dir`` into Parquet parts under ``out``.

    See the module docstring. ``engine`` is an open :class:`SparkEngine` the caller
    owns (local or on a cluster). A missing directory, a missing applications file or a
    file lacking a declared column raises :class:`SchemaError` before anything runs.
    """
    import mlflow

    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    frame, missing = features_frame(engine, raw_dir, spec)
    signature = _signature(model_uri)
    entry = registry_entry(model_uri, default_name="")
    result_type, outputs = _result_type(signature, scorecard=_has_scorecard(model_uri))
    udf = mlflow.pyfunc.spark_udf(
        engine.session,
        model_uri,
        result_type=result_type,
        env_manager="local",
        params={"reasons": False},
    )
    prediction = udf(functions.struct(*_model_inputs(frame, signature)))
    renamed = {"model_version": "run_id"}  # the model's own: its training run
    columns = {renamed.get(name, name): functions.col(f"prediction.{name}") for name in outputs}
    columns["model_version"] = functions.lit(entry.version)  # the registry's
    columns[KEY] = functions.col(KEY)
    layout = [c for c in output_columns(scorecard="points" in outputs) if c in columns]
    scored = frame.select(KEY, prediction.alias("prediction")).select(
        *(columns[name].alias(name) for name in layout)
    )
    seconds["plan"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    target = str(out)
    if "://" in target and not target.startswith("file://"):
        scored.write.mode("overwrite").parquet(target)
    else:
        with atomic_dir(target.removeprefix("file://")) as scratch:
            scored.write.mode("overwrite").parquet(str(scratch))
        target = str(Path(target.removeprefix("file://")).resolve())
    seconds["score_and_write"] = round(time.perf_counter() - clock, 3)
    applicants = engine.session.read.parquet(target).count()
    for table in SIDE_TABLES:
        engine.unregister(table)
    summary = SparkBatchSummary(applicants, target, model_uri, tuple(layout), missing, seconds)
    log.info("%s", summary)
    return summary
