"""Reading and validating the Home Credit CSV files: the one loader every stage uses.

Each file is parsed by ``pyarrow.csv`` with the column types declared in
:data:`credit_scoring.data.schema.TABLES` (``int`` -> int64, ``float`` -> float64,
``str`` -> string), never inferred, so a file always yields the same Arrow schema
whatever its content, and later stages can hand the tables to DuckDB zero-copy
or call ``.to_pandas()``. Every check is vectorised; the only Python loops over
rows run on the error path, to point at the exact line of a malformed record.

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
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm import tqdm

from credit_scoring.data.schema import DAYS_SENTINEL, SENTINEL_COLUMNS, TABLES, Column, TableSchema
from credit_scoring.errors import SchemaError

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

#: Values pyarrow accepts for each numeric type (checked against pyarrow 25). Used on
#: the error path only, to find every bad value of a column pyarrow refused; the
#: value pyarrow names is matched literally as well, so a gap here loses no error.
_NUMBER_PATTERNS = {
    "int": r"^\s*-?[0-9]+\s*$",
    "float": r"(?i)^\s*[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|nan|inf|infinity)\s*$",
}

_CONVERSION_ERROR = re.compile(
    r"In CSV column #(?P<index>\d+): (?:Row #\d+: )?CSV conversion error to \w+: "
    r"invalid value '(?P<value>.*)'$",
    re.DOTALL,
)


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
    raw_dir: Path, *, strict: bool, tables: Iterable[str] | None
) -> tuple[dict[str, pa.Table | None], ValidationReport]:
    names = list(TABLES) if tables is None else list(tables)
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; expected some of {sorted(TABLES)}")
    report = ValidationReport()
    loaded: dict[str, pa.Table | None] = {}
    if not raw_dir.is_dir():
        report.errors.append(Issue(str(raw_dir), "no such directory"))
        return dict.fromkeys(names), report
    for name in tqdm(names, desc="reading", unit="table", disable=None):
        loaded[name] = _load_one(raw_dir, TABLES[name], report)
    _check_application_keys(raw_dir, loaded, report)
    _check_links(raw_dir, loaded, report)
    if strict:
        report.make_strict()
    return loaded, report


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
    table, refused = parsed
    report.rows[file] = table.num_rows
    _check_values(file, table, schema, report, skip=refused)
    log.debug("%s: %d rows read in %.2f s", file, table.num_rows, time.perf_counter() - start)
    # With refused columns (already reported) the table lacks its declared types.
    return None if refused else table


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


class _MalformedRows:
    """pyarrow's invalid-row handler: count the bad records and keep the first few."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[pacsv.InvalidRow] = []

    def __call__(self, row: pacsv.InvalidRow) -> str:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(row)
        return "skip"


def _parse(
    path: Path, schema: TableSchema, header: list[str], report: ValidationReport
) -> tuple[pa.Table, frozenset[str]] | None:
    """The file as an Arrow table and the columns that failed their declared type.

    pyarrow stops at the first value it cannot convert and, reading with threads,
    says in which column but not on which row. So each refused column is re-read as
    text (a retry on the error path only) until the file parses; then every bad value
    of those columns is found and reported at once, with its line, and the other
    columns can still be checked. ``None`` (after reporting why) if the file is not
    a readable CSV of well-formed records.
    """
    types = {col.name: _ARROW_TYPES[col.kind] for col in schema.columns}
    refused: dict[str, str] = {}  # column -> the value pyarrow named
    while True:
        malformed = _MalformedRows()
        try:
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(
                    invalid_row_handler=malformed,
                    # An empty line stays a (null) record, so record i is line i + 2.
                    ignore_empty_lines=False,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    include_columns=list(schema.column_names),
                    # Empty is the files' only missing marker; "NA" or "null" would be
                    # values (and fail to parse in a numeric column).
                    null_values=[""],
                    strings_can_be_null=True,
                ),
            )
            break
        except pa.ArrowInvalid as exc:
            hit = _CONVERSION_ERROR.search(str(exc))
            column = header[int(hit["index"])] if hit else ""
            if not hit or column in refused or column not in types:
                report.errors.append(Issue(str(path), f"cannot be read as CSV: {exc}"))
                return None
            refused[column] = hit["value"]
            types[column] = pa.string()
    if malformed.count:
        # Skipped records shift every later row, so no value can be located: stop here.
        _report_malformed(path, len(header), malformed, report)
        return None
    for name, value in refused.items():
        _report_unparsable(str(path), table[name], schema.column(name), value, report)
    return table, frozenset(refused)


def _report_malformed(
    path: Path, n_fields: int, malformed: _MalformedRows, report: ValidationReport
) -> None:
    """Report records with the wrong number of fields, located by a csv-module scan."""
    # pyarrow's threaded reader gives the record's text but not its number; the scan
    # below runs only on this error path and stops at the last bad record shown.
    located = list(_wrong_width_records(path, n_fields, limit=EXAMPLES))
    examples = tuple(f"line {line}: {_width_problem(width)}" for line, width in located)
    if not examples:
        examples = tuple(
            f"{row.actual_columns} fields: {row.text[:80]!r}" for row in malformed.examples
        )
    report.errors.append(
        Issue(
            str(path),
            f"malformed records (expected {n_fields} fields): {_count(malformed.count, 'row')}",
            line=located[0][0] if located else None,
            count=malformed.count,
            examples=examples,
        )
    )


def _width_problem(width: int) -> str:
    if width == 1:
        return "1 field (is the whole record quoted?)"
    return f"{width} fields"


def _wrong_width_records(path: Path, n_fields: int, limit: int) -> Iterator[tuple[int, int]]:
    """(line, field count) of the first ``limit`` records whose width is not ``n_fields``."""
    found = 0
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for fields in reader:
            # Blank lines are null records for pyarrow, not malformed ones.
            if fields and len(fields) != n_fields:
                yield reader.line_num, len(fields)
                found += 1
                if found == limit:
                    return


def _report_unparsable(
    file: str, text: pa.ChunkedArray, column: Column, refused: str, report: ValidationReport
) -> None:
    """Report every value of a numeric column read as text that is not a number."""
    bad = pc.or_(
        pc.invert(pc.match_substring_regex(text, _NUMBER_PATTERNS[column.kind])),
        pc.equal(text, refused),
    )
    what = "an integer" if column.kind == "int" else "a number"
    _add(report.errors, _flag(file, column.name, text, bad, f"not {what}"))


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
    skip: frozenset[str] = frozenset(),
) -> None:
    """Row-level checks of one parsed table: nulls, key uniqueness, domains, vocabularies.

    Columns in ``skip`` (read as text after failing their type) are left out.
    """
    ints = [col.name for col in schema.columns if col.kind == "int" and col.name not in skip]
    filled = pc.scalar(True)
    if any(table[name].null_count for name in ints):
        # pyarrow keeps a blank line as a record of nulls (so that record i stays on
        # line i + 2): name it once rather than as a missing value in every column.
        blank = functools.reduce(pc.and_, [pc.is_null(column) for column in table.columns])
        _add(report.errors, _flag(file, None, blank, blank, "blank line"))
        filled = pc.invert(blank)
    for col in schema.columns:
        if col.name in skip:
            continue
        values = table[col.name]
        if col.name in ints and values.null_count:
            missing = pc.and_(pc.is_null(values), filled)
            _add(report.errors, _flag(file, col.name, values, missing, "missing value"))
        if col.vocabulary is not None:
            _check_vocabulary(file, col, values, report)
    for rule in _RULES.get(_group(schema.name), ()):
        if rule.column in table.column_names and rule.column not in skip:
            values = table[rule.column]
            _add(
                report.errors,
                _flag(file, rule.column, values, rule.violated(values), rule.requirement),
            )
    if schema.key is not None and schema.key not in skip:
        _check_unique(file, table[schema.key], schema.key, report)


def _check_vocabulary(
    file: str, col: Column, values: pa.ChunkedArray, report: ValidationReport
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
    first_line = _lines(unseen, 1)[0]
    examples = tuple(
        f"{value!r} x{n} (first on line {_first_line(values, value)})"
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


def _check_unique(file: str, keys: pa.ChunkedArray, column: str, report: ValidationReport) -> None:
    if pc.count_distinct(keys).as_py() == len(keys) - keys.null_count:  # nulls: another check
        return
    per_key = pa.table({"key": keys}).group_by("key").aggregate([("key", "count")])
    repeated = per_key.filter(pc.greater(per_key["key_count"], 1))["key"].combine_chunks()
    examples = tuple(
        f"{key} on lines {', '.join(map(str, _lines(pc.equal(keys, key), EXAMPLES)))}"
        for key in repeated[:EXAMPLES].to_pylist()
    )
    first = repeated[0].as_py()
    report.errors.append(
        Issue(
            file,
            f"key values occur more than once: {_count(len(repeated), 'key')}",
            line=_first_line(keys, first),
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


def _lines(mask: pa.ChunkedArray | pa.Array, limit: int) -> list[int]:
    """Editor line numbers of the first ``limit`` true rows (record i is on line i + 2)."""
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    indices = pc.indices_nonzero(pc.fill_null(mask, False))
    return [i + 2 for i in indices[:limit].to_pylist()]


def _first_line(values: pa.ChunkedArray, value: object) -> int:
    return _lines(pc.equal(values, pa.scalar(value, values.type)), 1)[0]


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
) -> Issue | None:
    """An issue for the rows where ``mask`` holds, counted, with the first few quoted.

    With ``is_key`` the column holds keys and the issue names the first offending one.
    """
    mask = pc.fill_null(mask, False)
    count = pc.sum(mask).as_py() or 0
    if not count:
        return None
    message = f"{problem}: {_count(count, 'row')}"
    if not is_key:
        rows = _lines(mask, EXAMPLES)
        examples = tuple(
            f"{values[line - 2].as_py()!r} on line {line}" if column else f"line {line}"
            for line in rows
        )
        return Issue(file, message, rows[0], column, count=count, examples=examples)
    # A key repeats over many rows (an orphan client's dozens of bureau credits):
    # quote distinct keys, in order of appearance, each with its first line.
    keys = pc.unique(values.filter(mask))
    shown = keys[:EXAMPLES].to_pylist()
    return Issue(
        file,
        f"{message}, {_count(len(keys), 'distinct key')}",
        _first_line(values, shown[0]),
        column,
        key=shown[0],
        count=count,
        examples=tuple(f"{key} (first on line {_first_line(values, key)})" for key in shown),
    )
