"""The ingest stage: raw Home Credit CSV files in, validated and typed Parquet tables out.

Parsing the CSV files is the most expensive step of reading them and it gives the
same result for the same bytes, so it happens once per data version, here, and
DVC caches its output. Every later reader (the feature stage, scoring a new batch)
reads the Parquet copy: the schema's types, no parsing, no re-validation.

``ingest`` reads and checks each table with the project's loader
(:mod:`credit_scoring.data.loading`: DuckDB's CSV reader, every rejected value
located by file, line, column and key), writes it as ``<table>.parquet`` as soon as
it is checked and keeps only its key columns for the cross-table checks, so one
table at a time is held in memory. The validation report goes beside the tables as
``validation.json``: what was read, the warnings (an absent optional file among
them), and which tables are absent. Errors raise :class:`~credit_scoring.errors.SchemaError`
and leave the previous output, or nothing, in place.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from credit_scoring.data.loading import ValidationReport, _load_all, _log_warnings
from credit_scoring.data.schema import TABLES
from credit_scoring.errors import SchemaError
from credit_scoring.io import WriteBehind, atomic_dir, parquet_options

log = logging.getLogger(__name__)

#: The report of the ingest, beside the tables; its presence marks an ingested directory.
MANIFEST_FILE = "validation.json"

#: Rows per Parquet row group: the unit a reader (DuckDB, Spark) scans in parallel.
ROW_GROUP_ROWS = 500_000


def parquet_name(table: str) -> str:
    """The file name of ``table``'s Parquet copy."""
    return f"{table}.parquet"


@dataclass
class IngestManifest:
    """What ``validation.json`` holds: the tables written, the absent ones, the warnings.

    ``rows`` counts the records of each table written; ``absent`` lists the
    optional tables the raw directory lacks (their features will be missing);
    ``warnings`` are the validation warnings as text (file, line, column, key).
    """

    rows: dict[str, int] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    strict: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (no timings: the same data give the same bytes)."""
        return {
            "rows": self.rows,
            "absent": self.absent,
            "warnings": self.warnings,
            "strict": self.strict,
        }

    @classmethod
    def read(cls, directory: Path | str) -> IngestManifest:
        """The manifest of an ingested directory (``SchemaError`` if there is none)."""
        path = Path(directory) / MANIFEST_FILE
        if not path.is_file():
            raise SchemaError("not an ingested directory (no manifest)", file=str(path))
        data = json.loads(path.read_text())
        return cls(
            rows=dict(data["rows"]),
            absent=list(data["absent"]),
            warnings=list(data["warnings"]),
            strict=bool(data.get("strict", False)),
        )


def is_ingested(directory: Path | str) -> bool:
    """True for a directory ``ingest`` wrote (it holds the manifest)."""
    return (Path(directory) / MANIFEST_FILE).is_file()


def table_paths(directory: Path | str) -> dict[str, Path | None]:
    """Each table's Parquet file in an ingested directory, ``None`` for an absent one."""
    manifest = IngestManifest.read(directory)
    return {
        name: (Path(directory) / parquet_name(name) if name in manifest.rows else None)
        for name in TABLES
    }


def _key_columns(table: str) -> list[str]:
    """The columns the cross-table checks read: the key and the foreign keys."""
    schema = TABLES[table]
    names = [schema.key] if schema.key else []
    names += [fk.column for fk in schema.foreign_keys if fk.column not in names]
    return names


def ingest(raw_dir: Path | str, out_dir: Path | str, *, strict: bool = False) -> IngestManifest:
    """Validate the tables of ``raw_dir`` and write them as Parquet into ``out_dir``.

    ``out_dir`` is replaced only on success; ``strict`` turns warnings into errors.
    Raises :class:`SchemaError` located at the first error (its message lists all).
    """
    start = time.perf_counter()
    # Each checked table is written on a thread of its own while the next one is
    # parsed (Parquet encoding releases the GIL); one write in flight at a time.
    with atomic_dir(out_dir) as scratch, ThreadPoolExecutor(max_workers=1) as pool:
        behind = WriteBehind(pool)

        def write(name: str, table: pa.Table) -> pa.Table:
            behind.submit(
                pq.write_table,
                table,
                scratch / parquet_name(name),
                row_group_size=ROW_GROUP_ROWS,
                **parquet_options(table.schema),
            )
            return table.select(_key_columns(name))

        loaded, report = _load_all(Path(raw_dir), strict=strict, tables=None, keep=write)
        behind.wait()
        _log_warnings(report)
        report.raise_for_errors()
        manifest = _manifest(loaded, report)
        (scratch / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    log.info(
        "ingest: %d tables (%s rows) from %s into %s in %.1f s, %d warnings",
        len(manifest.rows),
        f"{sum(manifest.rows.values()):,}",
        raw_dir,
        out_dir,
        time.perf_counter() - start,
        len(manifest.warnings),
    )
    return manifest


def _manifest(loaded: dict[str, pa.Table | None], report: ValidationReport) -> IngestManifest:
    return IngestManifest(
        rows={name: table.num_rows for name, table in loaded.items() if table is not None},
        absent=[name for name, table in loaded.items() if table is None],
        warnings=[str(issue) for issue in report.warnings],
        strict=report.strict,
    )
