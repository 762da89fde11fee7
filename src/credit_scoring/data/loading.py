"""Reading and validating the Home Credit CSV files: the one loader every stage uses.

Each file is parsed by DuckDB's CSV reader (all cores) with the column types
declared in :data:`credit_scoring.data.schema.TABLES` (``int`` -> int64, ``float``
-> float64, ``str`` -> string), never inferred, so a file always yields the same
Arrow schema whatever its content. The reader runs with ``store_rejects``: every
value it cannot convert and every record of the wrong width is recorded by the
engine with its line and column, so the errors are located without re-reading the
file or reading an error text. Every other check is vectorised over the parsed
columns (Arrow compute); the only Python loops over rows run on the error path.

The checks are declared here, once, from the facts of the schema module:

* structure: required columns present (error), unexpected columns (warning, dropped),
  well-formed records, values that parse as the declared type, integers never missing;
* keys: SK_ID_CURR unique across application_train and application_test,
  SK_ID_BUREAU unique in bureau, SK_ID_PREV unique in previous_application (errors);
* domains: TARGET in {0, 1}, DAYS_BIRTH negative, DAYS columns either negative or the
  365243 sentinel (errors); categories outside the declared vocabulary (warnings:
  the encoder maps them to "unknown");
* links: side-table keys without a parent row (warnings, because sampled or truncated
  files, such as the first rows of the real tables, always have some).

Problems are located the way a person looks for them: file, line as a text editor
numbers it (the header is line 1), column and key. Nothing is ever written.
"""

from __future__ import annotations

import csv
import functools
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from credit_scoring.data.schema import DAYS_SENTINEL, SENTINEL_COLUMNS, TABLES, Column, TableSchema
from credit_scoring.errors import SchemaError
from credit_scoring.io import read_ahead

log = logging.getLogger(__name__)

#: How many offending rows or keys an issue quotes; the count covers all of them.
EXAMPLES = 5

_ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
}

#: Train and test applicants share one SK_ID_CURR key space: side tables point into
#: both (foreign-key parent "application"), and no applicant may be in both.
_APPLICATION = ("application_train", "application_test")

#: Of the previous_application sentinel columns, the one holding a *planned* date:
#: the first version of the last due date lies in the future for loans still
#: running, so positive values there are real (the real files hold them).
_PLANNED_DATES = frozenset({"DAYS_LAST_DUE_1ST_VERSION"})

#: How DuckDB reads each declared kind. Integers are read as DOUBLE and checked to
#: be whole afterwards: DuckDB's cast to BIGINT rounds "1.5" to 2 instead of refusing it.
_ENGINE_TYPES = {"int": "DOUBLE", "float": "DOUBLE", "str": "VARCHAR"}

#: Rejected-record kinds of DuckDB's CSV reader that mean a record of the wrong shape
#: (as opposed to CAST: a value of the wrong type, INVALID ENCODING: not UTF-8).
_STRUCTURAL = frozenset({"MISSING COLUMNS", "TOO MANY COLUMNS", "UNQUOTED VALUE"})


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Issue:
    """One problem in one file, located as precisely as known, with a count and examples.

    ``line`` is the first offending line (header = line 1); ``count`` how many rows,
    values or keys share the problem; ``examples`` quote a few of them with their lines.
    """

    file: str
    message: str
    line: int | None = None
    column: str | None = None
    key: object | None = None
    count: int = 1
    examples: tuple[str, ...] = ()

    def to_error(self) -> SchemaError:
        """This issue as the typed error the rest of the product raises and reports."""
        message = self.message
        if self.examples:
            message += ", e.g. " + "; ".join(self.examples)
        return SchemaError(
            message, file=self.file, line=self.line, column=self.column, key=self.key
        )

    def __str__(self) -> str:
        return str(self.to_error())


@dataclass
class ValidationReport:
    """Everything found while reading a directory of Home Credit files.

    Errors make the data unusable (a stage must stop); warnings are worth a look but
    leave a usable table (orphan keys, unseen categories, a missing optional file).
    ``rows`` counts the records read per file, for the summary.
    """

    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    strict: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing stops the data from being used."""
        return not self.errors

    def extend(self, other: ValidationReport) -> None:
        """Add another report's findings (one table's) to this one."""
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)
        self.rows.update(other.rows)

    def make_strict(self) -> None:
        """Turn every warning into an error (``--strict``): for data that must be clean."""
        self.errors.extend(self.warnings)
        self.warnings.clear()
        self.strict = True

    def format(self) -> str:
        """A human-readable summary: totals, then one issue per line, errors first."""
        n_rows = sum(self.rows.values())
        head = (
            f"{len(self.rows)} files read ({n_rows:,} rows): "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings"
        )
        if self.strict:
            head += " (strict: warnings count as errors)"
        lines = [head]
        lines += [f"ERROR   {issue}" for issue in self.errors]
        lines += [f"WARNING {issue}" for issue in self.warnings]
        return "\n".join(lines)

    def raise_for_errors(self) -> None:
        """Raise a :class:`SchemaError` located at the first error, its message listing all."""
        if not self.errors:
            return
        first = self.errors[0].to_error()
        if len(self.errors) > 1:
            others = "\n".join(f"  {issue}" for issue in self.errors[1:])
            first = SchemaError(
                f"{first.message}\nand {len(self.errors) - 1} more:\n{others}",
                file=first.file,
                line=first.line,
                column=first.column,
                key=first.key,
            )
        raise first


# ----------------------------------------------------------------------- public API


def read_table(
    raw_dir: Path | str, table: str, report: ValidationReport | None = None
) -> pa.Table | None:
    """Read and check one table of ``raw_dir``, with the declared columns in declared order.

    Returns ``None`` for a missing optional table (with a warning), raises
    :class:`SchemaError` for a missing ``application_train.csv`` and for any error in
    the file. Warnings (and errors) are added to ``report`` when given, logged otherwise.
    Cross-table checks need every table: they are :func:`load_tables`' job.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(TABLES)}")
    found = ValidationReport()
    result = _load_one(Path(raw_dir), TABLES[table], found)
    if report is not None:
        report.extend(found)
    else:
        _log_warnings(found)
    found.raise_for_errors()
    return result


def load_tables(
    raw_dir: Path | str, *, strict: bool = False, tables: Iterable[str] | None = None
) -> tuple[dict[str, pa.Table | None], ValidationReport]:
    """Read and check all (or the named) tables, including the cross-table checks.

    Returns every requested table (``None`` for a missing optional one) and the
    report. Raises :class:`SchemaError` if anything is wrong; with ``strict`` warnings
    count as errors. The warnings of a successful load are logged.
    """
    loaded, report = _load_all(Path(raw_dir), strict=strict, tables=tables)
    _log_warnings(report)
    report.raise_for_errors()
    return loaded, report


def validate_dir(raw_dir: Path | str, *, strict: bool = False) -> ValidationReport:
    """Check every table of ``raw_dir`` and report; never raises for problems in the data."""
    return _load_all(Path(raw_dir), strict=strict, tables=None)[1]


# ---------------------------------------------------------------------- orchestration


def _load_all(
    raw_dir: Path,
    *,
    strict: bool,
    tables: Iterable[str] | None,
    keep: Callable[[str, pa.Table], pa.Table] | None = None,
) -> tuple[dict[str, pa.Table | None], ValidationReport]:
    """Read and check the tables, then check them against each other.

    ``keep``, if given, receives each usable table as soon as it is checked and
    returns what to hold on to (at least its key and foreign-key columns, which the
    cross-table checks read): the ingest stage writes the table and keeps the keys.
    """
    names = list(TABLES) if tables is None else list(tables)
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; expected some of {sorted(TABLES)}")
    report = ValidationReport()
    loaded: dict[str, pa.Table | None] = {}
    if not raw_dir.is_dir():
        report.errors.append(Issue(str(raw_dir), "no such directory"))
        return dict.fromkeys(names), report
    # Two tables in flight: while DuckDB parses one on every core, the other's checks
    # (single-threaded Arrow kernels, which release the GIL) run beside it. Each table
    # reports into its own report, merged in table order, so the findings and their
    # order do not depend on which finishes first.
    with ThreadPoolExecutor(max_workers=2) as pool:
        checked = read_ahead(pool, functools.partial(_load_own, raw_dir), names)
        for name, (table, own) in zip(
            tqdm(names, desc="reading", unit="table", disable=None), checked, strict=True
        ):
            report.extend(own)
            loaded[name] = table if keep is None or table is None else keep(name, table)
    _check_application_keys(raw_dir, loaded, report)
    _check_links(raw_dir, loaded, report)
    if strict:
        report.make_strict()
    return loaded, report


def _load_own(raw_dir: Path, name: str) -> tuple[pa.Table | None, ValidationReport]:
    """``_load_one`` of table ``name`` into a report of its own (for ``_load_all``'s threads)."""
    own = ValidationReport()
    return _load_one(raw_dir, TABLES[name], own), own


def _load_one(raw_dir: Path, schema: TableSchema, report: ValidationReport) -> pa.Table | None:
    """Parse and check one file; problems go to ``report``; ``None`` if unusable or absent."""
    path = raw_dir / schema.file_name
    file = str(path)
    if not path.is_file():
        if schema.required:
            report.errors.append(Issue(file, "required file is missing"))
        else:
            report.warnings.append(
                Issue(file, "optional file is missing: its features will be empty")
            )
        return None
    start = time.perf_counter()
    header = _read_header(path, report)
    if header is None or not _check_header(file, header, schema, report):
        return None
    parsed = _parse(path, schema, header, report)
    if parsed is None:
        return None
    table = parsed.table
    report.rows[file] = table.num_rows
    _check_values(file, table, schema, report, parsed.line_of, parsed.not_whole)
    log.debug("%s: %d rows read in %.2f s", file, table.num_rows, time.perf_counter() - start)
    # With rejected records (already reported) the table is not the file's.
    return table if parsed.usable else None


def _log_warnings(report: ValidationReport) -> None:
    for issue in report.warnings:
        log.warning("%s", issue)


# -------------------------------------------------------------------------- parsing


def _read_header(path: Path, report: ValidationReport) -> list[str] | None:
    # utf-8-sig: a byte-order mark (Excel exports) must not end up in the first name;
    # pyarrow skips it too.
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        report.errors.append(Issue(str(path), f"header is not UTF-8 text ({exc.reason})", line=1))
        return None
    if not header:
        report.errors.append(Issue(str(path), "file is empty: no header line", line=1))
        return None
    return header


def _check_header(
    file: str, header: list[str], schema: TableSchema, report: ValidationReport
) -> bool:
    """Missing or repeated columns are errors (False); unexpected ones are warnings."""
    usable = True
    seen: set[str] = set()
    for name in header:
        if name in seen and name in schema.column_names:
            report.errors.append(Issue(file, "column appears twice in the header", 1, name))
            usable = False
        seen.add(name)
    for name in schema.column_names:
        if name not in seen:
            report.errors.append(Issue(file, "required column is missing", 1, name))
            usable = False
    for name in header:
        if name not in schema.column_names:
            report.warnings.append(Issue(file, "unexpected column, ignored", 1, name))
    return usable


@dataclass(frozen=True)
class _Parsed:
    """A file as DuckDB read it: the accepted records and what the engine rejected.

    ``line_of`` maps each accepted record to its line when some lines hold no
    accepted record (rejected or blank ones); ``None`` when record i is on line i + 2.
    ``usable`` is False when any value or record was rejected; ``not_whole`` names
    the integer columns holding non-integers (reported; missing there since).
    """

    table: pa.Table
    line_of: np.ndarray | None
    usable: bool
    not_whole: frozenset[str] = frozenset()


def _parse(
    path: Path, schema: TableSchema, header: list[str], report: ValidationReport
) -> _Parsed | None:
    """The file as an Arrow table of the declared types, every rejected value reported.

    DuckDB reads the file with the declared types and ``store_rejects``: a value it
    cannot convert (CAST), a record of the wrong width, a byte sequence that is not
    UTF-8 leaves its record out and lands in the rejects table with its line and
    column. Those become the issues; the other records are still checked, located
    through ``line_of``. ``None`` (after reporting why) for a file of malformed
    records, whose later lines cannot be trusted, or one DuckDB cannot read.
    """
    file = str(path)
    columns = {f"c{i}": _column_type(schema, name) for i, name in enumerate(header)}
    positions = {name: i for i, name in enumerate(header)}
    select = ", ".join(f'c{positions[col.name]} AS "{col.name}"' for col in schema.columns)
    # One private connection per file: its rejects table holds this scan alone.
    with duckdb.connect(config={"preserve_insertion_order": True}) as con:
        try:
            table = con.sql(
                f"SELECT {select} FROM read_csv(?, header = true, auto_detect = false, "
                "delim = ',', quote = '\"', escape = '\"', nullstr = '', "
                "columns = ?, store_rejects = true, rejects_limit = 0)",
                params=[file, columns],
            ).to_arrow_table()
        except duckdb.Error as exc:
            report.errors.append(Issue(file, f"cannot be read as CSV: {exc}"))
            return None
        rejects = con.execute(
            "SELECT line, column_idx, error_type, csv_line FROM reject_errors "
            "ORDER BY line, column_idx"
        ).fetchall()
    structural = [r for r in rejects if r[2] in _STRUCTURAL]
    if structural:
        # A record of the wrong width may be a record split or merged by a stray
        # quote: nothing after it can be located with confidence, so stop here.
        _report_malformed(file, len(header), structural, report)
        return None
    _report_rejected_values(file, header, schema, rejects, report)
    rejected = sorted({int(r[0]) for r in rejects})
    blank = _blank_lines(path, table.num_rows + len(rejected))
    if blank:
        report.errors.append(
            Issue(
                file,
                f"blank line: {_count(len(blank), 'row')}",
                blank[0],
                count=len(blank),
                examples=tuple(f"line {line}" for line in blank[:EXAMPLES]),
            )
        )
    line_of = None
    if rejected or blank:
        skipped = np.array(sorted({*rejected, *blank}), dtype=np.int64)
        lines = np.arange(2, table.num_rows + len(skipped) + 2, dtype=np.int64)
        line_of = np.setdiff1d(lines, skipped, assume_unique=True)
    table, not_whole = _cast_integers(file, table, schema, report, line_of)
    return _Parsed(table, line_of, not (rejects or blank or not_whole), not_whole)


def _column_type(schema: TableSchema, name: str) -> str:
    """The engine type a header column is read with (unexpected columns: text)."""
    if name in schema.column_names:
        return _ENGINE_TYPES[schema.column(name).kind]
    return "VARCHAR"


def _cast_integers(
    file: str,
    table: pa.Table,
    schema: TableSchema,
    report: ValidationReport,
    line_of: np.ndarray | None,
) -> tuple[pa.Table, frozenset[str]]:
    """Integer columns (read as DOUBLE) as int64; a value that is not whole is an error.

    A non-integer value is reported here (with its line, as the engine's CAST errors
    are) and left out of the column, which becomes missing there: the table is
    unusable anyway once an error is reported. Returns the table and the columns
    that held such values.
    """
    not_whole: set[str] = set()
    for index, col in enumerate(schema.columns):
        if col.kind != "int":
            continue
        values = table.column(index)
        try:  # a safe cast refuses fractions, inf and nan: one pass when all is well
            table = table.set_column(index, col.name, pc.cast(values, pa.int64()))
            continue
        except pa.ArrowInvalid:
            pass
        # False for a fraction, inf, nan, or a whole number beyond int64.
        whole = pc.and_(pc.equal(values, pc.floor(values)), pc.less(pc.abs(values), 2.0**63))
        bad = pc.invert(pc.fill_null(whole, True))
        if pc.any(bad).as_py():
            text = pc.cast(values, pa.string())
            _add(report.errors, _flag(file, col.name, text, bad, "not an integer", line_of=line_of))
            values = pc.if_else(bad, pa.scalar(None, pa.float64()), values)
            not_whole.add(col.name)
        table = table.set_column(index, col.name, pc.cast(values, pa.int64()))
    return table, frozenset(not_whole)


def _report_rejected_values(
    file: str,
    header: list[str],
    schema: TableSchema,
    rejects: list[tuple],
    report: ValidationReport,
) -> None:
    """One issue per column whose values the engine refused, in schema order."""
    by_column: dict[str, list[tuple[int, str]]] = {}
    for line, column_idx, error_type, csv_line in rejects:
        name = header[int(column_idx) - 1] if column_idx else ""
        if error_type == "INVALID ENCODING":
            by_column.setdefault("", []).append((int(line), ""))
            continue
        fields = next(csv.reader([csv_line]), [])
        value = fields[int(column_idx) - 1] if int(column_idx) <= len(fields) else ""
        by_column.setdefault(name, []).append((int(line), value))
    order = {name: i for i, name in enumerate(schema.column_names)}
    for name in sorted(by_column, key=lambda n: order.get(n, -1)):
        found = sorted(set(by_column[name]))
        if not name:
            message = f"not UTF-8 text: {_count(len(found), 'row')}"
            examples = tuple(f"line {line}" for line, _ in found[:EXAMPLES])
            report.errors.append(
                Issue(file, message, found[0][0], count=len(found), examples=examples)
            )
            continue
        what = "an integer" if schema.column(name).kind == "int" else "a number"
        report.errors.append(
            Issue(
                file,
                f"not {what}: {_count(len(found), 'row')}",
                found[0][0],
                name,
                count=len(found),
                examples=tuple(f"{value!r} on line {line}" for line, value in found[:EXAMPLES]),
            )
        )


def _blank_lines(path: Path, n_records: int) -> list[int]:
    """Line numbers of the blank lines, which DuckDB skips without a trace.

    Counting line ends (a byte scan, no parsing) tells whether every line after the
    header holds a record; only when it does not are the blank ones located.
    """
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"  # a last line without its line end
    if lines - 1 <= n_records:  # (a quoted value spanning lines makes it fewer)
        return []
    with path.open("rb") as handle:
        return [n for n, line in enumerate(handle, 1) if n > 1 and not line.strip(b"\r\n")]


def _report_malformed(
    file: str, n_fields: int, rejects: list[tuple], report: ValidationReport
) -> None:
    """Report the records of the wrong width, located by the engine's rejects."""
    widths: dict[int, int] = {}
    for line, _, _, csv_line in rejects:
        widths.setdefault(int(line), len(next(csv.reader([csv_line]), [])))
    located = sorted(widths.items())
    examples = tuple(f"line {line}: {_width_problem(width)}" for line, width in located[:EXAMPLES])
    report.errors.append(
        Issue(
            file,
            f"malformed records (expected {n_fields} fields): {_count(len(located), 'row')}",
            line=located[0][0],
            count=len(located),
            examples=examples,
        )
    )


def _width_problem(width: int) -> str:
    if width == 1:
        return "1 field (is the whole record quoted?)"
    return f"{width} fields"


# --------------------------------------------------------------------- value checks


@dataclass(frozen=True)
class _Rule:
    """A condition every value of a column must meet; a violation is an error."""

    column: str
    requirement: str
    violated: Callable[[pa.ChunkedArray], pa.ChunkedArray]


def _days_or_sentinel(values: pa.ChunkedArray) -> pa.ChunkedArray:
    # Day counts are relative to the application, so positive ones can only be the
    # "not applicable" code; anything else is a unit or sign mistake.
    return pc.and_(pc.greater(values, 0), pc.not_equal(values, DAYS_SENTINEL))


def _sentinel_rules(group: str) -> tuple[_Rule, ...]:
    return tuple(
        _Rule(column, f"must be 0 or less, or {DAYS_SENTINEL} (not applicable)", _days_or_sentinel)
        for column in SENTINEL_COLUMNS.get(group, ())
        if column not in _PLANNED_DATES
    )


#: Value rules per table group ("application" covers train and test).
_RULES: dict[str, tuple[_Rule, ...]] = {
    "application": (
        _Rule("TARGET", "must be 0 or 1", lambda v: _outside(v, pa.array([0, 1]))),
        _Rule(
            "DAYS_BIRTH",
            "must be negative (days before the application)",
            lambda v: pc.greater_equal(v, 0),
        ),
        *_sentinel_rules("application"),
    ),
    "previous_application": _sentinel_rules("previous_application"),
}


def _outside(values: pa.ChunkedArray, allowed: pa.Array) -> pa.ChunkedArray:
    """True for present values not in ``allowed`` (missing ones are another check's business)."""
    return pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed)))


def _group(table: str) -> str:
    return "application" if table in _APPLICATION else table


def _check_values(
    file: str,
    table: pa.Table,
    schema: TableSchema,
    report: ValidationReport,
    line_of: np.ndarray | None = None,
    skip: frozenset[str] = frozenset(),
) -> None:
    """Row-level checks of one parsed table: nulls, key uniqueness, domains, vocabularies.

    ``line_of`` locates the records when some lines hold none (see ``_Parsed``).
    Columns in ``skip`` (non-integers already reported) are left out.
    """
    for col in schema.columns:
        if col.name in skip:
            continue
        values = table[col.name]
        if col.kind == "int" and values.null_count:
            missing = pc.is_null(values)
            _add(
                report.errors,
                _flag(file, col.name, values, missing, "missing value", line_of=line_of),
            )
        if col.vocabulary is not None:
            _check_vocabulary(file, col, values, report, line_of)
    for rule in _RULES.get(_group(schema.name), ()):
        if rule.column in table.column_names and rule.column not in skip:
            values = table[rule.column]
            issue = _flag(
                file, rule.column, values, rule.violated(values), rule.requirement, line_of=line_of
            )
            _add(report.errors, issue)
    if schema.key is not None and schema.key not in skip:
        _check_unique(file, table[schema.key], schema.key, report, line_of)


def _check_vocabulary(
    file: str,
    col: Column,
    values: pa.ChunkedArray,
    report: ValidationReport,
    line_of: np.ndarray | None = None,
) -> None:
    assert col.vocabulary is not None
    unseen = _outside(values, pa.array(col.vocabulary))
    count = pc.sum(unseen).as_py() or 0
    if not count:
        return
    # Distinct unseen values, most frequent first: one typo repeated a million times
    # is one example, not five.
    counts = pc.value_counts(values.filter(unseen)).to_pylist()
    counts.sort(key=lambda item: -item["counts"])
    first_line = _lines(unseen, 1, line_of)[0]
    examples = tuple(
        f"{value!r} x{n} (first on line {_first_line(values, value, line_of)})"
        for value, n in ((item["values"], item["counts"]) for item in counts[:EXAMPLES])
    )
    report.warnings.append(
        Issue(
            file,
            f"values outside the declared vocabulary, encoded as unknown: "
            f"{_count(count, 'row')}, {_count(len(counts), 'distinct value')}",
            line=first_line,
            column=col.name,
            count=count,
            examples=examples,
        )
    )


def _check_unique(
    file: str,
    keys: pa.ChunkedArray,
    column: str,
    report: ValidationReport,
    line_of: np.ndarray | None = None,
) -> None:
    if pc.count_distinct(keys).as_py() == len(keys) - keys.null_count:  # nulls: another check
        return
    per_key = pa.table({"key": keys}).group_by("key").aggregate([("key", "count")])
    repeated = per_key.filter(pc.greater(per_key["key_count"], 1))["key"].combine_chunks()
    examples = tuple(
        f"{key} on lines {', '.join(map(str, _lines(pc.equal(keys, key), EXAMPLES, line_of)))}"
        for key in repeated[:EXAMPLES].to_pylist()
    )
    first = repeated[0].as_py()
    report.errors.append(
        Issue(
            file,
            f"key values occur more than once: {_count(len(repeated), 'key')}",
            line=_first_line(keys, first, line_of),
            column=column,
            key=first,
            count=len(repeated),
            examples=examples,
        )
    )


# --------------------------------------------------------------------- cross-table


def _check_application_keys(
    raw_dir: Path, loaded: dict[str, pa.Table | None], report: ValidationReport
) -> None:
    """No applicant may be both a train and a test applicant."""
    train, test = (loaded.get(name) for name in _APPLICATION)
    if train is None or test is None:
        return
    key = TABLES["application_test"].key
    assert key is not None
    train_file = TABLES["application_train"].file_name
    shared = pc.is_in(test[key], value_set=train[key].combine_chunks())
    issue = _flag(
        str(raw_dir / TABLES["application_test"].file_name),
        key,
        test[key],
        shared,
        f"applicants also in {train_file}",
        is_key=True,
    )
    if issue is not None:
        where = f"line {_first_line(train[key], issue.key)} of {train_file}"
        report.errors.append(
            replace(issue, message=f"{issue.message} (key {issue.key} on {where})")
        )


def _check_links(
    raw_dir: Path, loaded: dict[str, pa.Table | None], report: ValidationReport
) -> None:
    """Side-table keys without a parent row: warnings, since sampled files always have some."""
    present = {name: table for name, table in loaded.items() if table is not None}
    for name, table in present.items():
        for fk in TABLES[name].foreign_keys:
            candidates = _APPLICATION if fk.parent == "application" else (fk.parent,)
            parents = [p for p in candidates if p in present]
            if not parents:
                continue  # parent absent or not requested: already reported, nothing to check
            parent_keys = pc.unique(
                pa.chunked_array(
                    [chunk for p in parents for chunk in present[p][fk.column].chunks],
                    type=pa.int64(),
                )
            )
            values = table[fk.column]
            orphans = _outside(values, parent_keys)
            parent_files = " + ".join(TABLES[p].file_name for p in parents)
            issue = _flag(
                str(raw_dir / TABLES[name].file_name),
                fk.column,
                values,
                orphans,
                f"keys without a parent row in {parent_files}",
                is_key=True,
            )
            _add(report.warnings, issue)


# ------------------------------------------------------------------------- helpers


def _rows(mask: pa.ChunkedArray | pa.Array, limit: int) -> list[int]:
    """Indices of the first ``limit`` true rows."""
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return pc.indices_nonzero(pc.fill_null(mask, False))[:limit].to_pylist()


def _line(row: int, line_of: np.ndarray | None) -> int:
    """The editor line of record ``row``: ``row + 2`` (header = line 1) unless mapped."""
    return row + 2 if line_of is None else int(line_of[row])


def _lines(
    mask: pa.ChunkedArray | pa.Array, limit: int, line_of: np.ndarray | None = None
) -> list[int]:
    """Editor line numbers of the first ``limit`` true rows."""
    return [_line(row, line_of) for row in _rows(mask, limit)]


def _first_line(values: pa.ChunkedArray, value: object, line_of: np.ndarray | None = None) -> int:
    return _lines(pc.equal(values, pa.scalar(value, values.type)), 1, line_of)[0]


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _add(issues: list[Issue], issue: Issue | None) -> None:
    if issue is not None:
        issues.append(issue)


def _flag(
    file: str,
    column: str | None,
    values: pa.ChunkedArray,
    mask: pa.ChunkedArray,
    problem: str,
    *,
    is_key: bool = False,
    line_of: np.ndarray | None = None,
) -> Issue | None:
    """An issue for the rows where ``mask`` holds, counted, with the first few quoted.

    With ``is_key`` the column holds keys and the issue names the first offending one;
    ``line_of`` locates the records (see ``_Parsed``).
    """
    mask = pc.fill_null(mask, False)
    count = pc.sum(mask).as_py() or 0
    if not count:
        return None
    message = f"{problem}: {_count(count, 'row')}"
    if not is_key:
        rows = _rows(mask, EXAMPLES)
        examples = tuple(
            f"{values[row].as_py()!r} on line {_line(row, line_of)}"
            if column
            else f"line {_line(row, line_of)}"
            for row in rows
        )
        first = _line(rows[0], line_of)
        return Issue(file, message, first, column, count=count, examples=examples)
    # A key repeats over many rows (an orphan client's dozens of bureau credits):
    # quote distinct keys, in order of appearance, each with its first line.
    keys = pc.unique(values.filter(mask))
    shown = keys[:EXAMPLES].to_pylist()
    return Issue(
        file,
        f"{message}, {_count(len(keys), 'distinct key')}",
        _first_line(values, shown[0], line_of),
        column,
        key=shown[0],
        count=count,
        examples=tuple(
            f"{key} (first on line {_first_line(values, key, line_of)})" for key in shown
        ),
    )
