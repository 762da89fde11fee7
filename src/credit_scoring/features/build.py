"""The feature stage: raw Home Credit files in, the feature tables every later stage reads.

``build_features`` loads and validates the raw directory, aggregates each client's
history (SQL, :mod:`credit_scoring.features.history`) and writes, all or nothing:

- ``train.parquet`` / ``test.parquet``: SK_ID_CURR, TARGET (train only), every raw
  application column in schema order with its raw value and type, then the history
  aggregates (NaN for a client without any history). These are what the model
  pipelines train on and what the clients database is published from: raw fields in,
  because the served model encodes them itself.
- ``features_795.parquet``: SK_ID_CURR, TARGET and the 795 encoded features in
  ``features_795()`` order for the train applicants, encoded from the rows of
  ``train.parquet`` by the same :class:`ApplicationEncoder` the served model holds. It
  feeds feature selection and reproduces the seed model's training matrix.
- ``summary.json``: row counts, warnings, unseen categories and timings.

Like the recipe, ``features_795.parquet`` leaves out the train applicants whose
CODE_GENDER is "XNA" (4 in the real data): it is the recipe's matrix. The encoder
itself accepts "XNA" (gender missing), and ``train.parquet`` keeps every applicant,
since the clients database must know all of them.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from credit_scoring.data.ingest import (
    MANIFEST_FILE,
    IngestManifest,
    ingest,
    is_ingested,
    table_paths,
)
from credit_scoring.data.schema import TABLES, features_795
from credit_scoring.errors import SchemaError
from credit_scoring.features.application import (
    ApplicationEncoder,
    application_features,
    describe_unseen,
)
from credit_scoring.features.engine import SqlEngine
from credit_scoring.features.history import HistorySpec, aggregate_history
from credit_scoring.io import atomic_dir

log = logging.getLogger(__name__)

TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
MATRIX_FILE = "features_795.parquet"
SUMMARY_FILE = "summary.json"

#: CODE_GENDER value whose train rows the recipe leaves out of its training matrix.
_UNKNOWN_GENDER = "XNA"


@dataclass
class FeatureSummary:
    """What one feature build produced, as written to ``summary.json``.

    ``rows`` counts the rows of each output file, ``clients_with_history`` the
    applicants of each having rows in at least one side table; ``warnings`` lists the
    validation warnings and anything the build itself noticed; ``unseen_categories``
    counts the encoded train rows per field whose category the schema does not
    declare; ``seconds`` times each step.
    """

    rows: dict[str, int] = field(default_factory=dict)
    clients_with_history: dict[str, int] = field(default_factory=dict)
    dropped_unknown_gender: int = 0
    warnings: list[str] = field(default_factory=list)
    unseen_categories: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def build_features(
    source_dir: Path | str,
    out_dir: Path | str,
    *,
    spec: HistorySpec | None = None,
    engine: str | SqlEngine = "duckdb",
    strict: bool = False,
    chunk_rows: int = 50_000,
) -> FeatureSummary:
    """Build the feature tables of ``source_dir`` into ``out_dir`` (replaced only on success).

    ``source_dir`` is the ingest stage's directory of validated Parquet tables
    (:mod:`credit_scoring.data.ingest`), or a directory of raw CSV files, which is
    ingested first into a scratch directory beside ``out_dir``. ``spec`` is the
    history aggregation spec (default: the product's, the 550 history features of
    the full model), ``engine`` an SQL engine name or an open engine the caller owns,
    ``strict`` turns validation warnings into errors, ``chunk_rows`` bounds the rows
    assembled and encoded at once (memory). A missing optional side table only
    empties its features (NaN, with a warning); a missing or invalid application file
    raises :class:`~credit_scoring.errors.SchemaError` naming the file.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    if is_ingested(source_dir):
        return _build(Path(source_dir), Path(out_dir), spec, engine, strict, chunk_rows, {})
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.ingest.", dir=out_dir.parent) as tmp:
        ingested = Path(tmp) / "ingested"
        ingest(source_dir, ingested, strict=strict)
        seconds = {"ingest": round(time.perf_counter() - start, 3)}
        return _build(ingested, out_dir, spec, engine, strict, chunk_rows, seconds)


def _build(
    source: Path,
    out_dir: Path,
    spec: HistorySpec | None,
    engine: str | SqlEngine,
    strict: bool,
    chunk_rows: int,
    seconds: dict[str, float],
) -> FeatureSummary:
    """``build_features`` on an ingested directory."""
    summary = FeatureSummary(seconds=seconds)
    clock = _Clock(summary.seconds)
    manifest = IngestManifest.read(source)
    if strict and manifest.warnings and not manifest.strict:
        # Ingested leniently, built strictly: the warnings now stop the build.
        raise SchemaError(
            f"{len(manifest.warnings)} validation warnings (strict): " + manifest.warnings[0],
            file=str(source / MANIFEST_FILE),
        )
    summary.warnings += manifest.warnings
    paths = table_paths(source)
    if paths["application_train"] is None:  # the ingest never writes such a directory
        raise SchemaError("required table is missing", file=str(source))

    history = aggregate_history(paths, spec, engine)
    clients = history.index.to_numpy()
    block = history.to_numpy().T  # feature-major, the frame's own block (no copy)
    history_names = list(history.columns)
    del history
    derived = application_features()
    absent = [f for f in features_795() if f not in derived and f not in history_names]
    if absent:
        message = (
            f"the history spec does not produce {len(absent)} of the model's features "
            f"(NaN in {MATRIX_FILE}), e.g. {absent[:3]}"
        )
        log.warning("%s", message)
        summary.warnings.append(message)
    clock.lap("history")

    history_block = _HistoryBlock(clients, block, history_names)
    with atomic_dir(out_dir) as scratch, ThreadPoolExecutor(max_workers=1) as test_io:
        tables = {
            name: (
                _empty_application(name)  # no rows, the same columns: readers find them
                if paths[name] is None
                else pq.read_table(paths[name], columns=list(TABLES[name].column_names))
            )
            for name in ("application_train", "application_test")
        }
        for file, name in ((TRAIN_FILE, "application_train"), (TEST_FILE, "application_test")):
            summary.rows[file] = tables[name].num_rows
            summary.clients_with_history[file] = history_block.count(tables[name])
        # The test table is written on its own thread while the train table and the
        # matrix are: Parquet encoding releases the GIL, and each file has one writer.
        test_written = test_io.submit(
            _write_table,
            tables.pop("application_test"),
            history_block,
            scratch / TEST_FILE,
            chunk_rows,
        )
        rows = tables.pop("application_train")
        matrix = _write_train(
            rows, history_block, scratch / TRAIN_FILE, scratch / MATRIX_FILE, chunk_rows
        )
        summary.rows[MATRIX_FILE] = matrix.rows
        summary.dropped_unknown_gender = rows.num_rows - matrix.rows
        summary.unseen_categories = {column: sum(c.values()) for column, c in matrix.unseen.items()}
        if matrix.unseen:
            unseen = describe_unseen(matrix.unseen)
            message = f"categories outside the schema, encoded as unknown: {unseen}"
            log.warning("%s", message)
            summary.warnings.append(message)
        del rows
        test_written.result()
        clock.lap("write")
        summary.seconds["total"] = round(sum(summary.seconds.values()), 3)
        (scratch / SUMMARY_FILE).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")

    log.info(
        "features: %d train, %d test applicants, %d encoded rows in %s (%.1f s, %d warnings)",
        summary.rows[TRAIN_FILE],
        summary.rows[TEST_FILE],
        summary.rows[MATRIX_FILE],
        out_dir,
        summary.seconds["total"],
        len(summary.warnings),
    )
    return summary


class _Clock:
    """Records the seconds since the previous lap under each step's name."""

    def __init__(self, laps: dict[str, float]) -> None:
        self.laps = laps
        self.last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = round(now - self.last, 3)
        self.last = now


def _empty_application(name: str) -> pa.Table:
    """No rows, the declared columns and types of application table ``name``."""
    kinds = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    return pa.schema([(c.name, kinds[c.kind]) for c in TABLES[name].columns]).empty_table()


class _HistoryBlock:
    """The history aggregates, feature-major, looked up by applicant.

    ``block[i, j]`` is feature ``names[i]`` of client ``clients[j]`` (sorted keys);
    an applicant without any history gets NaN for every feature.
    """

    def __init__(self, clients: np.ndarray, block: np.ndarray, names: list[str]) -> None:
        self.clients = clients
        self.block = block
        self.names = names

    def _positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.searchsorted(self.clients, ids)
        at = np.minimum(at, max(len(self.clients) - 1, 0))
        found = self.clients[at] == ids if len(self.clients) else np.zeros(len(ids), dtype=bool)
        return at, found

    def count(self, rows: pa.Table) -> int:
        """How many of the applicants of ``rows`` have a history."""
        return int(self._positions(rows.column("SK_ID_CURR").to_numpy())[1].sum())

    def take(self, ids: np.ndarray) -> np.ndarray:
        """The aggregates of the applicants ``ids``, feature-major (features x ids)."""
        at, found = self._positions(ids)
        if not len(self.clients):
            return np.full((len(self.names), len(ids)), np.nan)
        values = self.block[:, at]  # a copy: fancy indexing
        values[:, ~found] = np.nan
        return values


def _schema(rows: pa.Table, names: list[str]) -> pa.Schema:
    return pa.schema([*rows.schema, *((name, pa.float64()) for name in names)])


def _with_history(rows: pa.Table, values: np.ndarray, names: list[str]) -> pa.Table:
    """The application rows, then their history aggregates (one row of ``values`` each)."""
    return pa.Table.from_arrays(
        [*rows.columns, *(pa.array(values[i]) for i in range(len(names)))],
        names=[*rows.column_names, *names],
    )


def _write_table(rows: pa.Table, history: _HistoryBlock, path: Path, chunk_rows: int) -> None:
    """Write the application ``rows`` with their history into ``path``, chunk by chunk."""
    with pq.ParquetWriter(path, _schema(rows, history.names)) as writer:
        for start in range(0, max(rows.num_rows, 1), chunk_rows):
            chunk = rows.slice(start, chunk_rows)
            values = history.take(chunk.column("SK_ID_CURR").to_numpy())
            writer.write_table(_with_history(chunk, values, history.names))


@dataclass
class _Matrix:
    rows: int = 0
    unseen: dict[str, Counter[str]] = field(default_factory=dict)


def _write_train(
    rows: pa.Table, history: _HistoryBlock, table_path: Path, matrix_path: Path, chunk_rows: int
) -> _Matrix:
    """Write the train table and the 795-column matrix together, chunk by chunk.

    The matrix's application features are encoded from the raw fields alone by the
    encoder the served model holds (restricted to them); its history features are
    the same aggregates the train table holds, copied, not re-encoded: the encoder
    would only pass them through.
    """
    derived = application_features()
    encoded_names = [f for f in features_795() if f in derived]
    encoder = ApplicationEncoder(encoded_names).fit()
    encoded_at = {name: j for j, name in enumerate(encoded_names)}
    history_at = {name: i for i, name in enumerate(history.names)}
    schema = pa.schema(
        [("SK_ID_CURR", pa.int64()), ("TARGET", pa.int64())]
        + [(name, pa.float64()) for name in features_795()]
    )
    nan = None
    matrix = _Matrix()
    with (
        pq.ParquetWriter(table_path, _schema(rows, history.names)) as table_writer,
        pq.ParquetWriter(matrix_path, schema) as matrix_writer,
        ThreadPoolExecutor(max_workers=1) as table_io,
    ):
        # The train table's chunks are written on a thread of their own while this one
        # encodes the same chunk into the matrix (one chunk in flight: bounded memory).
        written: Future[None] | None = None
        starts = range(0, max(rows.num_rows, 1), chunk_rows)
        for start in tqdm(starts, desc="encoding", unit="chunk", disable=None):
            chunk = rows.slice(start, chunk_rows)
            values = history.take(chunk.column("SK_ID_CURR").to_numpy())
            if written is not None:
                written.result()
            written = table_io.submit(
                table_writer.write_table, _with_history(chunk, values, history.names)
            )

            known = pc.fill_null(pc.not_equal(chunk.column("CODE_GENDER"), _UNKNOWN_GENDER), True)
            keep = known.to_numpy(zero_copy_only=False)
            kept = chunk.filter(known)
            encoded = encoder.encode(kept.to_pandas())
            for column, counts in encoded.unseen.items():
                matrix.unseen.setdefault(column, Counter()).update(counts)
            kept_history = values[:, keep]
            if nan is None or len(nan) != kept.num_rows:
                nan = pa.nulls(kept.num_rows, pa.float64()).fill_null(np.nan)
            arrays = [kept.column("SK_ID_CURR"), kept.column("TARGET")]
            for name in features_795():
                if name in encoded_at:
                    arrays.append(pa.array(encoded.values[:, encoded_at[name]]))
                elif name in history_at:
                    arrays.append(pa.array(kept_history[history_at[name]]))
                else:  # a model feature the history spec does not produce
                    arrays.append(nan)
            matrix_writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            matrix.rows += kept.num_rows
        if written is not None:
            written.result()
    return matrix
