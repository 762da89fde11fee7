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

import itertools
import json
import logging
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from credit_scoring.features.engine import SqlEngine, engine_from_config
from credit_scoring.features.history import HistorySpec, aggregate_history, load_spec
from credit_scoring.io import WriteBehind, atomic_dir, parquet_options

if TYPE_CHECKING:
    from credit_scoring.config import FeaturesConfig

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
    partition_rows: int | None = None,
) -> FeatureSummary:
    """Build the feature tables of ``source_dir`` into ``out_dir`` (replaced only on success).

    ``source_dir`` is the ingest stage's directory of validated Parquet tables
    (:mod:`credit_scoring.data.ingest`), or a directory of raw CSV files, which is
    ingested first into a scratch directory beside ``out_dir``. ``spec`` is the
    history aggregation spec (default: the product's, the 550 history features of
    the full model), ``engine`` an SQL engine name or an open engine the caller owns,
    ``strict`` turns validation warnings into errors, ``chunk_rows`` bounds the rows
    assembled and encoded at once (memory). ``partition_rows`` bounds the applicants
    whose history is aggregated and held at once (``None``: all of them): the
    applicants are taken in parts of about that many, each part's history aggregated
    (only its clients' rows are read) and written before the next, so the engine's
    working memory and the history block scale with the part, not the population.
    The output is the same, to the byte, for any ``partition_rows`` (the parts are
    cut on chunk bounds); ``chunk_rows`` only changes the Parquet row groups. A
    missing optional side table only empties its features (NaN, with a warning); a
    missing or invalid application file raises
    :class:`~credit_scoring.errors.SchemaError` naming the file.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    if partition_rows is not None and partition_rows < 1:
        raise ValueError(f"partition_rows must be positive, got {partition_rows}")
    settings = _Settings(spec or load_spec(), engine, strict, chunk_rows, partition_rows)
    if is_ingested(source_dir):
        return _build(Path(source_dir), Path(out_dir), settings, {})
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.ingest.", dir=out_dir.parent) as tmp:
        ingested = Path(tmp) / "ingested"
        ingest(source_dir, ingested, strict=strict)
        seconds = {"ingest": round(time.perf_counter() - start, 3)}
        return _build(ingested, out_dir, settings, seconds)


def build_configured(
    source_dir: Path | str,
    out_dir: Path | str,
    features: FeaturesConfig | None = None,
    *,
    strict: bool = False,
    engine: str | None = None,
) -> FeatureSummary:
    """:func:`build_features` as ``conf/features`` sets it up: spec, engine, parts, chunks.

    The one way in for every caller outside the tests (the stage, the ``features``
    and ``score`` commands, the monitor on a raw directory), so a batch scored from
    raw files is built with the stage's settings, not the code's defaults.
    ``features`` is that configuration (``None``: ``conf/features`` composed here);
    ``engine`` overrides ``features.engine``.
    """
    if features is None:
        from credit_scoring.config import compose_config

        features = compose_config()[1].features
    with engine_from_config(features, engine) as opened:  # Spark asked for but absent: exit 2
        return build_features(
            source_dir,
            out_dir,
            spec=load_spec(features.history),
            engine=opened,
            strict=strict,
            chunk_rows=features.build.chunk_rows,
            partition_rows=features.build.partition_rows,
        )


@dataclass(frozen=True)
class _Settings:
    """``build_features``' options, the spec resolved."""

    spec: HistorySpec
    engine: str | SqlEngine
    strict: bool
    chunk_rows: int
    partition_rows: int | None


def _parts(rows: int, parts: int, chunk_rows: int) -> list[tuple[int, int]]:
    """``parts`` consecutive (offset, length) slices of ``rows`` rows, as even as can be.

    The bounds fall on multiples of ``chunk_rows``, so that the chunks, and with them
    the files' row groups, are the same however many parts there are (some parts may
    then be empty).
    """
    chunks = -(-rows // chunk_rows)
    bounds = (np.linspace(0, chunks, parts + 1).round() * chunk_rows).astype(int)
    bounds = np.minimum(bounds, rows)
    return [(int(a), int(b - a)) for a, b in itertools.pairwise(bounds)]


def _build(
    source: Path, out_dir: Path, settings: _Settings, seconds: dict[str, float]
) -> FeatureSummary:
    """``build_features`` on an ingested directory."""
    summary = FeatureSummary(seconds=seconds)
    clock = _Clock(summary.seconds)
    manifest = IngestManifest.read(source)
    if settings.strict and manifest.warnings and not manifest.strict:
        # Ingested leniently, built strictly: the warnings now stop the build.
        raise SchemaError(
            f"{len(manifest.warnings)} validation warnings (strict): " + manifest.warnings[0],
            file=str(source / MANIFEST_FILE),
        )
    summary.warnings += manifest.warnings
    paths = table_paths(source)
    if paths["application_train"] is None:  # the ingest never writes such a directory
        raise SchemaError("required table is missing", file=str(source))
    history_names = list(settings.spec.feature_names())
    derived = application_features()
    absent = [f for f in features_795() if f not in derived and f not in history_names]
    if absent:
        message = (
            f"the history spec does not produce {len(absent)} of the model's features "
            f"(NaN in {MATRIX_FILE}), e.g. {absent[:3]}"
        )
        log.warning("%s", message)
        summary.warnings.append(message)

    tables = {
        name: (
            _empty_application(name)  # no rows, the same columns: readers find them
            if paths[name] is None
            else pq.read_table(paths[name], columns=list(TABLES[name].column_names))
        )
        for name in ("application_train", "application_test")
    }
    train, test = tables["application_train"], tables["application_test"]
    summary.rows = {TRAIN_FILE: train.num_rows, TEST_FILE: test.num_rows}
    summary.clients_with_history = dict.fromkeys((TRAIN_FILE, TEST_FILE), 0)
    applicants = train.num_rows + test.num_rows
    n_parts = max(1, -(-applicants // (settings.partition_rows or max(applicants, 1))))
    chunk_rows = settings.chunk_rows
    parts = zip(
        _parts(train.num_rows, n_parts, chunk_rows),
        _parts(test.num_rows, n_parts, chunk_rows),
        strict=True,
    )
    with atomic_dir(out_dir) as scratch:
        with _Writers(scratch, train.schema, test.schema, history_names) as writers:
            for index, (train_slice, test_slice) in enumerate(parts, 1):
                train_part, test_part = train.slice(*train_slice), test.slice(*test_slice)
                ids = np.concatenate(
                    [t.column("SK_ID_CURR").to_numpy() for t in (train_part, test_part)]
                )
                if not len(ids) and n_parts > 1:
                    continue
                history = aggregate_history(
                    paths,
                    settings.spec,
                    settings.engine,
                    clients=None if n_parts == 1 else ids,
                )
                block = _HistoryBlock(history.index.to_numpy(), history.to_numpy().T, history_names)
                del history
                clock.lap("history")
                if n_parts > 1:
                    log.info("features: part %d of %d (%d applicants)", index, n_parts, len(ids))
                summary.clients_with_history[TRAIN_FILE] += block.count(train_part)
                summary.clients_with_history[TEST_FILE] += block.count(test_part)
                writers.write(train_part, test_part, block, chunk_rows)
                del block
                clock.lap("write")
        summary.rows[MATRIX_FILE] = writers.matrix.rows
        summary.dropped_unknown_gender = train.num_rows - writers.matrix.rows
        unseen = writers.matrix.unseen
        summary.unseen_categories = {column: sum(c.values()) for column, c in unseen.items()}
        if unseen:
            message = (
                f"categories outside the schema, encoded as unknown: {describe_unseen(unseen)}"
            )
            log.warning("%s", message)
            summary.warnings.append(message)
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
    """Records the seconds between laps under each step's name, summed over repeats."""

    def __init__(self, laps: dict[str, float]) -> None:
        self.laps = laps
        self.last = time.perf_counter()

    def lap(self, step: str) -> None:
        """Add the seconds since the previous lap to ``step`` (steps repeat per part)."""
        now = time.perf_counter()
        self.laps[step] = round(self.laps.get(step, 0.0) + now - self.last, 3)
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


def _with_history(rows: pa.Table, values: np.ndarray, names: list[str]) -> pa.Table:
    """The application rows, then their history aggregates (one row of ``values`` each)."""
    return pa.Table.from_arrays(
        [*rows.columns, *(pa.array(values[i]) for i in range(len(names)))],
        names=[*rows.column_names, *names],
    )


@dataclass
class _Matrix:
    rows: int = 0
    unseen: dict[str, Counter[str]] = field(default_factory=dict)


class _Writers:
    """The three output files, written part after part, chunk by chunk.

    The train table and the matrix are written from the same chunks; the test table
    on a thread of its own (Parquet encoding releases the GIL, and each file has one
    writer), as is each train chunk while this thread encodes the same chunk into the
    matrix. One chunk of each is in flight at a time: memory stays bounded.
    """

    def __init__(
        self, directory: Path, train: pa.Schema, test: pa.Schema, history_names: list[str]
    ) -> None:
        self.names = history_names
        history = [(name, pa.float64()) for name in history_names]
        derived = application_features()
        self.encoded_names = [f for f in features_795() if f in derived]
        self.encoder = ApplicationEncoder(self.encoded_names).fit()
        self.matrix_schema = pa.schema(
            [("SK_ID_CURR", pa.int64()), ("TARGET", pa.int64())]
            + [(name, pa.float64()) for name in features_795()]
        )
        self.matrix = _Matrix()
        self._stack = ExitStack()
        self.train = self._writer(directory / TRAIN_FILE, pa.schema([*train, *history]))
        self.test = self._writer(directory / TEST_FILE, pa.schema([*test, *history]))
        self.matrix_writer = self._writer(directory / MATRIX_FILE, self.matrix_schema)
        self._io = self._stack.enter_context(ThreadPoolExecutor(max_workers=2))

    def _writer(self, path: Path, schema: pa.Schema) -> pq.ParquetWriter:
        writer = pq.ParquetWriter(path, schema, **parquet_options(schema))
        return self._stack.enter_context(writer)

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def write(
        self, train: pa.Table, test: pa.Table, history: _HistoryBlock, chunk_rows: int
    ) -> None:
        """Append one part's applicants (and their history) to every file."""
        test_written = self._io.submit(self._write_test, test, history, chunk_rows)
        try:
            self._write_train(train, history, chunk_rows)
        finally:
            test_written.result()

    def _write_test(self, rows: pa.Table, history: _HistoryBlock, chunk_rows: int) -> None:
        for start in range(0, rows.num_rows, chunk_rows):
            chunk = rows.slice(start, chunk_rows)
            values = history.take(chunk.column("SK_ID_CURR").to_numpy())
            self.test.write_table(_with_history(chunk, values, self.names))

    def _write_train(self, rows: pa.Table, history: _HistoryBlock, chunk_rows: int) -> None:
        """The train rows and their matrix rows, chunk by chunk.

        The matrix's application features are encoded from the raw fields alone by the
        encoder the served model holds (restricted to them); its history features are
        the same aggregates the train table holds, copied, not re-encoded: the encoder
        would only pass them through.
        """
        encoded_at = {name: j for j, name in enumerate(self.encoded_names)}
        history_at = {name: i for i, name in enumerate(self.names)}
        nan = None
        behind = WriteBehind(self._io)
        try:
            starts = range(0, rows.num_rows, chunk_rows)
            for start in tqdm(starts, desc="encoding", unit="chunk", disable=None):
                chunk = rows.slice(start, chunk_rows)
                values = history.take(chunk.column("SK_ID_CURR").to_numpy())
                # Built before the previous write is waited for: Arrow wraps the history
                # rows without copying them, so no second chunk is held.
                behind.submit(self.train.write_table, _with_history(chunk, values, self.names))
                known = pc.fill_null(
                    pc.not_equal(chunk.column("CODE_GENDER"), _UNKNOWN_GENDER), True
                )
                keep = known.to_numpy(zero_copy_only=False)
                kept = chunk.filter(known)
                encoded = self.encoder.encode(kept.to_pandas())
                for column, counts in encoded.unseen.items():
                    self.matrix.unseen.setdefault(column, Counter()).update(counts)
                kept_history = values if keep.all() else values[:, keep]  # XNA rows are rare
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
                self.matrix_writer.write_table(
                    pa.Table.from_arrays(arrays, schema=self.matrix_schema)
                )
                self.matrix.rows += kept.num_rows
        finally:
            behind.wait()
