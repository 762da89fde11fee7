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
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from credit_scoring.data.loading import load_tables
from credit_scoring.data.schema import SIDE_TABLES, TABLES, features_795
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
    raw_dir: Path | str,
    out_dir: Path | str,
    *,
    spec: HistorySpec | None = None,
    engine: str | SqlEngine = "duckdb",
    strict: bool = False,
    chunk_rows: int = 50_000,
) -> FeatureSummary:
    """Build the feature tables of ``raw_dir`` into ``out_dir`` (replaced only on success).

    ``spec`` is the history aggregation spec (default: the product's, the 550 history
    features of the full model), ``engine`` an SQL engine name or an open engine the
    caller owns, ``strict`` turns validation warnings into errors, ``chunk_rows`` bounds
    the rows encoded at once (memory). A missing optional side table only empties its
    features (NaN, with a warning); a missing or invalid application file raises
    :class:`~credit_scoring.errors.SchemaError` naming the file.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    summary = FeatureSummary()
    clock = _Clock(summary.seconds)

    tables, report = load_tables(raw_dir, strict=strict)
    summary.warnings += [str(issue) for issue in report.warnings]
    clock.lap("load")

    history = aggregate_history(tables, spec, engine)
    # Only the application tables are read from here on: the side tables (gigabytes at
    # the real scale) go now, before the output tables are assembled beside them.
    tables = {name: table for name, table in tables.items() if name not in SIDE_TABLES}
    derived = application_features()
    absent = [f for f in features_795() if f not in derived and f not in history.columns]
    if absent:
        message = (
            f"the history spec does not produce {len(absent)} of the model's features "
            f"(NaN in {MATRIX_FILE}), e.g. {absent[:3]}"
        )
        log.warning("%s", message)
        summary.warnings.append(message)
    clock.lap("history")

    train = _with_history(tables["application_train"], "application_train", history)
    test_rows = tables.get("application_test")
    if test_rows is None:  # no rows, the same columns: every reader finds what it expects
        test_columns = list(TABLES["application_test"].column_names)
        test_rows = tables["application_train"].select(test_columns).schema.empty_table()
    test = _with_history(test_rows, "application_test", history)
    for file, table in ((TRAIN_FILE, train), (TEST_FILE, test)):
        summary.rows[file] = table.num_rows
        ids = table.column("SK_ID_CURR").to_numpy()
        summary.clients_with_history[file] = int(history.index.isin(ids).sum())
    del tables, history  # the side tables run to gigabytes at the real scale

    with atomic_dir(out_dir) as scratch:
        pq.write_table(train, scratch / TRAIN_FILE)
        pq.write_table(test, scratch / TEST_FILE)
        clock.lap("write_tables")

        known_gender = pc.fill_null(
            pc.not_equal(train.column("CODE_GENDER"), _UNKNOWN_GENDER), True
        )
        matrix_rows = train.filter(known_gender)
        summary.dropped_unknown_gender = train.num_rows - matrix_rows.num_rows
        unseen = _write_matrix(matrix_rows, scratch / MATRIX_FILE, chunk_rows)
        summary.rows[MATRIX_FILE] = matrix_rows.num_rows
        summary.unseen_categories = {column: sum(c.values()) for column, c in unseen.items()}
        if unseen:
            message = (
                f"categories outside the schema, encoded as unknown: {describe_unseen(unseen)}"
            )
            log.warning("%s", message)
            summary.warnings.append(message)
        clock.lap("encode")
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


def _with_history(table: pa.Table, name: str, history: pd.DataFrame) -> pa.Table:
    """The application table ``name``'s columns, then its applicants' history aggregates."""
    table = table.select(list(TABLES[name].column_names))
    aggregates = history.reindex(pd.Index(table.column("SK_ID_CURR").to_numpy()))
    history_table = pa.Table.from_pandas(aggregates, preserve_index=False)
    return pa.Table.from_arrays(
        [*table.columns, *history_table.columns],
        names=[*table.column_names, *history_table.column_names],
    )


def _write_matrix(rows: pa.Table, path: Path, chunk_rows: int) -> Mapping[str, Counter[str]]:
    """Encode ``rows`` batch by batch into ``path``; return the unseen categories met."""
    encoder = ApplicationEncoder().fit()
    names = ["SK_ID_CURR", "TARGET", *encoder.get_feature_names_out()]
    schema = pa.schema(
        [("SK_ID_CURR", pa.int64()), ("TARGET", pa.int64())]
        + [(name, pa.float64()) for name in names[2:]]
    )
    unseen: dict[str, Counter[str]] = {}
    with pq.ParquetWriter(path, schema) as writer:
        batches = rows.to_batches(max_chunksize=chunk_rows)
        for batch in tqdm(batches, desc="encoding", unit="batch", disable=None):
            encoded = encoder.encode(batch.to_pandas())
            for column, counts in encoded.unseen.items():
                unseen.setdefault(column, Counter()).update(counts)
            arrays = [batch.column("SK_ID_CURR"), batch.column("TARGET")]
            arrays += [pa.array(encoded.values[:, j]) for j in range(encoded.values.shape[1])]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return unseen
