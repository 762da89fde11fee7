"""Publish the clients database the API reads: clients, champion scores, model inputs, statistics.

The database is written through SQLAlchemy Core to any URL (SQLite by default,
PostgreSQL by configuration). Loading is atomic for readers:

- SQLite file: the whole database is built in a scratch file next to the target
  and moved over it with ``os.replace``; a reader opens either the old file or
  the new one.
- Any other URL: tables are loaded under a per-publish suffix, then one short
  transaction drops the live tables and renames the staged ones (PostgreSQL DDL
  is transactional, so readers see the old generation or the new one).

The champions are scored in process (``mlflow.pyfunc``, batch predict) so that
``/clients/{id}`` can show a score without calling a model server.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.types import Schema
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    insert,
    make_url,
    text,
)
from sqlalchemy.engine import URL
from tqdm import tqdm

from credit_scoring.api.tables import (
    HISTORY_FEATURES_KEY,
    HISTORY_PACKING_KEY,
    MODEL_NAMES,
    POPULATIONS,
    define_tables,
    input_column_name,
)
from credit_scoring.contracts import model_io
from credit_scoring.data.schema import DAYS_SENTINEL, SENTINEL_COLUMNS
from credit_scoring.errors import CreditScoringError, SchemaError
from credit_scoring.io import atomic_file, read_ahead, usable_cpus
from credit_scoring.models.pyfunc import Predictor, batch_predictor

if TYPE_CHECKING:
    from credit_scoring.config import PublishConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputColumn:
    """One column of a model's input signature: name, kind (int/float/str/bool), required."""

    name: str
    kind: str
    required: bool


@dataclass(frozen=True)
class ModelRecord:
    """What the API reports about a champion: registry version, run and quality."""

    name: str
    registered_name: str
    version: str
    run_id: str
    model_uri: str
    test_auc: float | None
    threshold: float | None
    trained_at: str | None


@dataclass(frozen=True)
class Champion:
    """A champion model ready to score: its record, input columns and batch predictor."""

    record: ModelRecord
    inputs: tuple[InputColumn, ...]
    predict: Predictor


def input_columns(schema: Schema) -> tuple[InputColumn, ...]:
    """The record fields a model's signature declares, in its order, with their stored kind.

    The history aggregate columns are left out: a stored client's history is its
    ``HISTORY`` record (see ``credit_scoring.contracts.model_io``).
    """
    return tuple(
        InputColumn(spec.name, model_io.declared_kind(spec.name), bool(spec.required))
        for spec in schema.inputs
        if spec.name not in model_io.HISTORY_FEATURES
    )


class ChampionMissing(CreditScoringError):
    """The registry has no version under the alias to publish (none passed the gates)."""


def load_champion(name: str, registered_name: str, alias: str) -> Champion:
    """Load ``models:/<registered_name>@<alias>`` with mlflow.pyfunc, with its registry record.

    Version and run come from the registry; test AUC and threshold from the run's
    metrics; the training date from the run's ``trained_at`` tag or start time.
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    uri = f"models:/{registered_name}@{alias}"
    try:
        version = client.get_model_version_by_alias(registered_name, alias)
    except MlflowException as exc:  # no such model or alias: nothing passed the gates yet
        raise ChampionMissing(
            f"no {uri} in the registry at {mlflow.get_tracking_uri()}: no version of the {name} "
            f"model has passed the register stage's gates (see models/registry.json) ({exc})"
        ) from None
    model = mlflow.pyfunc.load_model(uri)
    signature = model.metadata.get_input_schema()
    if signature is None or not signature.has_input_names():
        raise SchemaError(f"{uri} has no named input signature; the API cannot build requests")
    inputs = input_columns(signature)
    run = client.get_run(version.run_id) if version.run_id else None
    metrics = run.data.metrics if run else {}
    trained_at = None
    if run:
        trained_at = run.data.tags.get("trained_at") or datetime.fromtimestamp(
            run.info.start_time / 1000, UTC
        ).isoformat(timespec="seconds")
    record = ModelRecord(
        name=name,
        registered_name=registered_name,
        version=str(version.version),
        run_id=version.run_id or "",
        model_uri=uri,
        test_auc=metrics.get("test_auc"),
        threshold=metrics.get("threshold"),
        trained_at=trained_at,
    )
    log.info("loaded %s version %s (run %s)", uri, record.version, record.run_id)
    return Champion(record, inputs, batch_predictor(model))


#: Columns ``read_clients`` reads and converts at a time (~90 MB at the real scale).
_READ_COLUMNS = 32


def read_clients(train_path: Path | str, test_path: Path | str) -> pd.DataFrame:
    """Every known applicant: the train rows (with TARGET) then the test rows (TARGET missing).

    The two files are read a group of columns at a time, each group converted to
    pandas before the next is read: the frame is ~2 GB at the real scale (356,255
    applicants, 672 columns), and reading each file whole, then concatenating, held
    three times that at once.
    """
    files = [pq.ParquetFile(path) for path in (train_path, test_path)]
    names = list(dict.fromkeys(name for file in files for name in file.schema_arrow.names))
    parts = []
    for start in range(0, len(names), _READ_COLUMNS):
        group = names[start : start + _READ_COLUMNS]
        tables = [file.read([n for n in group if n in file.schema_arrow.names]) for file in files]
        # A column one file lacks (the test file's TARGET) is null in its rows.
        parts.append(pa.concat_tables(tables, promote_options="permissive").to_pandas())
    clients = pd.concat(parts, axis=1)
    sizes = [file.metadata.num_rows for file in files]
    clients.insert(1, "split", np.repeat(["train", "test"], sizes))
    duplicated = clients["SK_ID_CURR"].duplicated()
    if duplicated.any():
        raise SchemaError(
            "applicant present in both train and test",
            file=str(test_path),
            column="SK_ID_CURR",
            key=int(clients.loc[duplicated, "SK_ID_CURR"].iloc[0]),
        )
    return clients


def check_inputs(clients: pd.DataFrame, inputs: Sequence[InputColumn], model: str) -> None:
    """Raise ``SchemaError`` for a required input the data lacks; warn about absent optional ones.

    An absent optional input is stored (or sent) as null, which the contract says the
    model accepts. ``HISTORY`` is never absent: it is built from whatever aggregate
    columns the data has.
    """
    missing = [
        c.name
        for c in inputs
        if c.name not in clients.columns and c.name != model_io.HISTORY_COLUMN
    ]
    required = [c.name for c in inputs if c.required and c.name in missing]
    if required:
        raise SchemaError(
            f"the {model} model requires columns the feature data lacks: {required[:5]}",
            column=required[0],
        )
    if missing:
        log.warning("%s model: %d optional inputs absent from the data", model, len(missing))


def stored_inputs(clients: pd.DataFrame, inputs: Sequence[InputColumn]) -> pd.DataFrame:
    """The ``inputs_<model>`` rows of ``clients``: SK_ID_CURR, then each input by position.

    ``HISTORY`` is the client's aggregates packed in ``HISTORY_FEATURES`` order by the
    contract's helper; an input the data lacks is null (see :func:`check_inputs`).
    """
    frame = clients.reindex(columns=[c.name for c in inputs])
    if model_io.HISTORY_COLUMN in frame.columns:
        history = model_io.history_values(clients)
        frame[model_io.HISTORY_COLUMN] = model_io.pack_history(history, threads=usable_cpus())
    frame.columns = [input_column_name(i) for i in range(frame.shape[1])]
    frame.insert(0, "SK_ID_CURR", clients["SK_ID_CURR"].to_numpy())
    return frame


def predict_in_batches(
    predict: Predictor, frame: pd.DataFrame, batch_size: int, model: str
) -> pd.DataFrame:
    """Score ``frame`` batch by batch (bounded memory for the 795-feature model), with progress."""
    parts = [
        predict(frame.iloc[start : start + batch_size])
        for start in tqdm(range(0, len(frame), batch_size), desc=f"score {model}", unit="batch")
    ]
    out = pd.concat(parts, ignore_index=True)
    if len(out) != len(frame):
        raise SchemaError(f"the {model} model returned {len(out)} rows for {len(frame)} inputs")
    return out


def _population_values(clients: pd.DataFrame, feature: str) -> dict[str, pd.Series]:
    values = pd.to_numeric(clients[feature], errors="coerce").astype("float64")
    if feature in SENTINEL_COLUMNS["application"]:
        # The sentinel is a code ("not employed"), not a duration: it is no point of a histogram.
        values = values.mask(values == DAYS_SENTINEL)
    repaid = clients["TARGET"] == 0
    return {"all": values, "repaid": values[repaid.fillna(False).to_numpy(bool)]}


def population_statistics(
    clients: pd.DataFrame, settings: PublishConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Histogram and quantile rows for every (feature, population, bin count).

    Both populations share one set of edges per feature and bin count (so their
    bars compare), spanning the configured quantile range of all clients; values
    outside it are counted in ``below``/``above`` instead of stretching the axis
    over a heavy tail (incomes reach 100x the median).
    """
    histograms: list[dict[str, Any]] = []
    quantiles: list[dict[str, Any]] = []
    for feature in settings.histogram_features:
        if feature not in clients.columns:
            raise SchemaError("histogram feature absent from the feature data", column=feature)
        pops = _population_values(clients, feature)
        known = pops["all"].dropna()
        if known.empty:
            log.warning("no value of %s: no statistics", feature)
            continue
        lo, hi = known.quantile(list(settings.histogram_range_quantiles)).to_numpy(float)
        if hi <= lo:
            hi = lo + 1.0
        for population in POPULATIONS:
            values = pops[population]
            present = values.dropna().to_numpy(float)
            for q in settings.quantiles:
                if present.size:
                    quantiles.append(
                        {
                            "feature": feature,
                            "population": population,
                            "q": q,
                            "value": float(np.quantile(present, q)),
                        }
                    )
            for n_bins in settings.bins:
                counts, edges = np.histogram(present, bins=n_bins, range=(lo, hi))
                histograms.append(
                    {
                        "feature": feature,
                        "population": population,
                        "bins": n_bins,
                        "edges": [float(e) for e in edges],
                        "counts": [int(c) for c in counts],
                        "below": int((present < lo).sum()),
                        "above": int((present > hi).sum()),
                        "missing": int(values.isna().sum()),
                    }
                )
    return histograms, quantiles


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    """Insert a few rows given as dicts through SQLAlchemy (its types convert the JSON columns)."""
    for start in range(0, len(rows), chunk):
        conn.execute(insert(table), rows[start : start + chunk])


def _driver_values(column: pd.Series) -> list[Any]:
    """``column`` as the plain Python values a DBAPI driver binds, missing values as None.

    The values SQLAlchemy was handed when rows went as dicts (numpy scalars unboxed,
    NaN/NA as SQL NULL), built a column at a time with numpy rather than a value at a
    time in Python.
    """
    values = column.to_numpy()
    if values.dtype.kind in "iub":  # no missing value: tolist() unboxes to int/bool
        return values.tolist()
    if values.dtype.kind == "f":
        boxed = values.astype(object)  # Python floats
        boxed[np.isnan(values)] = None
        return boxed.tolist()
    boxed = column.to_numpy(dtype=object, copy=True)
    boxed[column.isna().to_numpy()] = None
    return [v.item() if isinstance(v, np.generic) else v for v in boxed.tolist()]


#: The positional parameter marker of each DBAPI paramstyle that has one (PEP 249).
_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _driver_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """``frame``'s rows as tuples of plain Python values (:func:`_driver_values`)."""
    return list(zip(*(_driver_values(frame[name]) for name in frame.columns), strict=True))


def _insert_frame(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples of ``columns``, named as ``table``'s) in one driver executemany.

    The bulk tables hold ~160 values a client: as dicts through ``insert(table)``,
    building the dicts and SQLAlchemy's per-row parameter processing took three
    quarters of publish's load time. Tuples go to the driver as they are; the
    columns of these tables (numbers, text, bytes) need none of SQLAlchemy's type
    conversions. A driver without positional parameters gets the dicts.
    """
    names = [table.c[name].name for name in columns]
    marker = _MARKERS.get(conn.dialect.paramstyle)
    if marker is None:
        _insert(conn, table, [dict(zip(names, row, strict=True)) for row in rows])
        return
    quote = conn.dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join([marker] * len(names))})"
    )
    if rows:
        conn.exec_driver_sql(sql, rows)


#: A batch of bulk rows ready for the driver: (logical table, column names, row tuples).
_Prepared = list[tuple[str, list[str], list[tuple[Any, ...]]]]


def _prepare_batch(
    batch: pd.DataFrame,
    champions: Mapping[str, Champion],
    answers: Mapping[str, pd.DataFrame],
    settings: PublishConfig,
) -> _Prepared:
    """The ``clients`` and ``inputs_<model>`` rows of one batch, as driver tuples."""
    rows = _client_rows(batch, champions, answers, settings)
    prepared = [("clients", list(rows.columns), _driver_rows(rows))]
    for model, champion in champions.items():
        frame = stored_inputs(batch, champion.inputs)
        prepared.append((f"inputs_{model}", list(frame.columns), _driver_rows(frame)))
    return prepared


def _client_rows(
    clients: pd.DataFrame,
    champions: Mapping[str, Champion],
    predictions: Mapping[str, pd.DataFrame],
    settings: PublishConfig,
) -> pd.DataFrame:
    """The ``clients`` table's rows for ``clients`` and the champions' answers (same positions)."""
    base = clients[["SK_ID_CURR", "split"]].copy()
    base["TARGET"] = clients["TARGET"].astype("Int64")
    base = pd.concat([base, clients.reindex(columns=list(settings.client_fields))], axis=1)
    for model, pred in predictions.items():
        for field in ("probability", "score", "decision"):
            base[f"{model}_{field}"] = pred[field].to_numpy()
        base[f"{model}_model_version"] = champions[model].record.version
    return base


def _load(
    engine: Engine,
    clients: pd.DataFrame,
    champions: Mapping[str, Champion],
    predictions: Mapping[str, pd.DataFrame],
    settings: PublishConfig,
    publish_id: str,
) -> dict[str, int]:
    """Load every table under a staging suffix, then swap them in one transaction.

    Clients are converted and inserted ``settings.batch_size`` at a time: the rows of
    one batch are all that is ever held as Python objects, whatever the population.
    """
    suffix = f"__{publish_id}"
    input_kinds = {m: [c.kind for c in champions[m].inputs] for m in champions}
    staging_md = MetaData()
    staged = define_tables(
        staging_md, client_fields=settings.client_fields, input_kinds=input_kinds, suffix=suffix
    )
    live = define_tables(MetaData(), client_fields=settings.client_fields, input_kinds=input_kinds)
    counts: dict[str, int] = {"clients": len(clients)}
    counts.update({f"inputs_{model}": len(clients) for model in champions})
    try:
        with engine.begin() as conn:
            staging_md.create_all(conn)

            def prepare(start: int) -> _Prepared:
                positions = slice(start, start + settings.batch_size)
                answers = {m: p.iloc[positions] for m, p in predictions.items()}
                return _prepare_batch(clients.iloc[positions], champions, answers, settings)

            # The next batch is converted (and its history compressed) on a worker
            # while the driver inserts this one: two batches of rows are held at most.
            starts = range(0, len(clients), settings.batch_size)
            with ThreadPoolExecutor(1, thread_name_prefix="publish") as pool:
                batches = read_ahead(pool, prepare, starts)
                for prepared in tqdm(batches, total=len(starts), desc="load clients", unit="batch"):
                    for logical, columns, rows in prepared:
                        _insert_frame(conn, staged[logical], columns, rows)
            for model, champion in champions.items():
                _insert(
                    conn,
                    staged["model_inputs"],
                    [
                        {
                            "model": model,
                            "position": i,
                            "column_name": c.name,
                            "kind": c.kind,
                            "required": int(c.required),
                        }
                        for i, c in enumerate(champion.inputs)
                    ],
                )
            _insert(conn, staged["models"], [asdict(c.record) for c in champions.values()])
            histograms, quantiles = population_statistics(clients, settings)
            _insert(conn, staged["distributions"], histograms)
            _insert(conn, staged["quantiles"], quantiles)
            counts["distributions"] = len(histograms)
            counts["quantiles"] = len(quantiles)
            meta = {
                "publish_id": publish_id,
                "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "n_clients": str(len(clients)),
                # The layout of every packed HISTORY (stored_inputs): readers take it from here.
                HISTORY_FEATURES_KEY: json.dumps(model_io.HISTORY_FEATURES),
                HISTORY_PACKING_KEY: model_io.HISTORY_PACKING,
            }
            _insert(conn, staged["meta"], [{"key": k, "value": v} for k, v in meta.items()])
        with engine.begin() as conn:
            # The swap: short, one transaction. Old generations of the inputs tables
            # may have another column count, so they are dropped by name.
            quote = engine.dialect.identifier_preparer.quote
            # `meta` first: every reader's transaction starts on it (credit_scoring.api.db),
            # so the swap waits for readers of the old generation, holding nothing they need.
            for logical, table in sorted(live.items(), key=lambda item: item[0] != "meta"):
                conn.execute(text(f"DROP TABLE IF EXISTS {quote(table.name)}"))
                new = staged[logical].name
                conn.execute(text(f"ALTER TABLE {quote(new)} RENAME TO {quote(table.name)}"))
    except BaseException:
        staging_md.drop_all(engine, checkfirst=True)
        raise
    return counts


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database)
    return None


def publish(
    clients: pd.DataFrame,
    champions: Mapping[str, Champion],
    database_url: str,
    settings: PublishConfig,
) -> dict[str, Any]:
    """Score every client with the champions and load the clients database atomically.

    Returns the manifest (publish id, counts, model records) the stage writes to disk.
    """
    unknown = set(champions) - set(MODEL_NAMES)
    if unknown:
        raise SchemaError(f"unknown model names {sorted(unknown)}; expected {MODEL_NAMES}")
    missing = [f for f in settings.client_fields if f not in clients.columns]
    if missing:
        raise SchemaError("client field absent from the feature data", column=missing[0])
    for model, champion in champions.items():
        check_inputs(clients, champion.inputs, model)
    predictions = {
        model: predict_in_batches(champion.predict, clients, settings.batch_size, model)
        for model, champion in champions.items()
    }
    publish_id = uuid.uuid4().hex[:12]
    url = make_url(database_url)
    target = _sqlite_file(url)
    if target is not None:
        with atomic_file(target) as scratch:
            engine = create_engine(url.set(database=str(scratch)))
            try:
                counts = _load(engine, clients, champions, predictions, settings, publish_id)
            finally:
                engine.dispose()
    else:
        engine = create_engine(url)
        try:
            counts = _load(engine, clients, champions, predictions, settings, publish_id)
        finally:
            engine.dispose()
    log.info("published %d clients to %s", len(clients), url.render_as_string(hide_password=True))
    return {
        "publish_id": publish_id,
        "database_url": url.render_as_string(hide_password=True),
        "rows": counts,
        "n_train": int((clients["split"] == "train").sum()),
        "n_test": int((clients["split"] == "test").sum()),
        "models": {m: asdict(c.record) for m, c in champions.items()},
    }


def write_manifest(manifest: Mapping[str, Any], path: Path | str) -> None:
    """Write the manifest atomically (a DVC output; small, diffable JSON)."""
    with atomic_file(path) as scratch:
        scratch.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
