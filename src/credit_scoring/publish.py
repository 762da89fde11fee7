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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.types import Schema
from sqlalchemy import Connection, Engine, MetaData, create_engine, insert, make_url, text
from sqlalchemy.engine import URL
from tqdm import tqdm

from credit_scoring.api.tables import (
    MODEL_NAMES,
    POPULATIONS,
    define_tables,
    input_column_name,
)
from credit_scoring.contracts import model_io
from credit_scoring.data.schema import DAYS_SENTINEL, SENTINEL_COLUMNS
from credit_scoring.errors import SchemaError
from credit_scoring.io import atomic_file
from credit_scoring.models.pyfunc import Predictor, batch_predictor

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


@dataclass(frozen=True)
class PublishSettings:
    """The tunable parts of publishing (conf/publish/default.yaml)."""

    client_fields: tuple[str, ...]
    histogram_features: tuple[str, ...]
    bins: tuple[int, ...]
    quantiles: tuple[float, ...]
    histogram_range: tuple[float, float]
    batch_size: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> PublishSettings:
        """Build from the ``publish`` config group."""
        lo, hi = cfg["histogram_range_quantiles"]
        return cls(
            client_fields=tuple(cfg["client_fields"]),
            histogram_features=tuple(cfg["histogram_features"]),
            bins=tuple(int(b) for b in cfg["bins"]),
            quantiles=tuple(float(q) for q in cfg["quantiles"]),
            histogram_range=(float(lo), float(hi)),
            batch_size=int(cfg["batch_size"]),
        )


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


def load_champion(name: str, registered_name: str, alias: str) -> Champion:
    """Load ``models:/<registered_name>@<alias>`` with mlflow.pyfunc, with its registry record.

    Version and run come from the registry; test AUC and threshold from the run's
    metrics; the training date from the run's ``trained_at`` tag or start time.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    version = client.get_model_version_by_alias(registered_name, alias)
    uri = f"models:/{registered_name}@{alias}"
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


def read_clients(train_path: Path | str, test_path: Path | str) -> pd.DataFrame:
    """Every known applicant: the train rows (with TARGET) then the test rows (TARGET missing)."""
    train = pd.read_parquet(train_path)
    test = pd.read_parquet(test_path)
    train.insert(1, "split", "train")
    test.insert(1, "split", "test")
    clients = pd.concat([train, test], ignore_index=True)
    duplicated = clients["SK_ID_CURR"].duplicated()
    if duplicated.any():
        raise SchemaError(
            "applicant present in both train and test",
            file=str(test_path),
            column="SK_ID_CURR",
            key=int(clients.loc[duplicated, "SK_ID_CURR"].iloc[0]),
        )
    return clients


def model_frame(clients: pd.DataFrame, inputs: Sequence[InputColumn], model: str) -> pd.DataFrame:
    """A model's stored inputs: its record fields from the clients frame, in signature order.

    The full model's history is stored as its ``HISTORY`` record, built from the feature
    data's aggregate columns by the contract's helper. A required column the data lacks
    is a schema error; a missing optional one is stored as null, which the contract
    says the model accepts.
    """
    names = [c.name for c in inputs]
    if model_io.HISTORY_COLUMN in names and model_io.HISTORY_COLUMN not in clients.columns:
        clients = clients.assign(**{model_io.HISTORY_COLUMN: model_io.history_json(clients)})
    missing = [c.name for c in inputs if c.name not in clients.columns]
    required = [c.name for c in inputs if c.required and c.name in missing]
    if required:
        raise SchemaError(
            f"the {model} model requires columns the feature data lacks: {required[:5]}",
            column=required[0],
        )
    if missing:
        log.warning("%s model: %d optional inputs absent from the data", model, len(missing))
    return clients.reindex(columns=names)


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
    clients: pd.DataFrame, settings: PublishSettings
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
        lo, hi = known.quantile(list(settings.histogram_range)).to_numpy(float)
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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values, missing values as None (SQL NULL)."""
    obj = frame.astype(object)
    return obj.where(frame.notna(), None).to_dict(orient="records")


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    for start in range(0, len(rows), chunk):
        conn.execute(insert(table), rows[start : start + chunk])


def _load(
    engine: Engine,
    clients: pd.DataFrame,
    champions: Mapping[str, Champion],
    predictions: Mapping[str, pd.DataFrame],
    settings: PublishSettings,
    publish_id: str,
) -> dict[str, int]:
    """Load every table under a staging suffix, then swap them in one transaction."""
    suffix = f"__{publish_id}"
    input_kinds = {m: [c.kind for c in champions[m].inputs] for m in champions}
    staging_md = MetaData()
    staged = define_tables(
        staging_md, client_fields=settings.client_fields, input_kinds=input_kinds, suffix=suffix
    )
    live = define_tables(MetaData(), client_fields=settings.client_fields, input_kinds=input_kinds)
    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            staging_md.create_all(conn)
            base = clients[["SK_ID_CURR", "split"]].copy()
            base["TARGET"] = clients["TARGET"].astype("Int64")
            base = pd.concat([base, clients.reindex(columns=list(settings.client_fields))], axis=1)
            for model, pred in predictions.items():
                for field in ("probability", "score", "decision"):
                    base[f"{model}_{field}"] = pred[field].to_numpy()
                base[f"{model}_model_version"] = champions[model].record.version
            rows = _records(base)
            _insert(conn, staged["clients"], rows)
            counts["clients"] = len(rows)
            for model, champion in champions.items():
                frame = model_frame(clients, champion.inputs, model)
                frame.columns = [input_column_name(i) for i in range(frame.shape[1])]
                frame = pd.concat([clients[["SK_ID_CURR"]], frame], axis=1)
                rows = _records(frame)
                _insert(conn, staged[f"inputs_{model}"], rows)
                counts[f"inputs_{model}"] = len(rows)
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
            }
            _insert(conn, staged["meta"], [{"key": k, "value": v} for k, v in meta.items()])
        with engine.begin() as conn:
            # The swap: short, one transaction. Old generations of the inputs tables
            # may have another column count, so they are dropped by name.
            quote = engine.dialect.identifier_preparer.quote
            for logical, table in live.items():
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
    settings: PublishSettings,
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
