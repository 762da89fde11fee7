"""Loading and validation of the Home Credit CSV files.

Every bad-input test starts from the first rows of the real files, corrupts one
cell or line of a copy in ``tmp_path`` and checks that the error names the exact
file, line (header = line 1), column and key.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from credit_scoring.data.loading import (
    ValidationReport,
    load_tables,
    read_table,
    validate_dir,
)
from credit_scoring.data.schema import DAYS_SENTINEL, TABLES
from credit_scoring.errors import SchemaError

HEADS = Path(__file__).resolve().parents[1] / "fixtures" / "real_heads"
ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A private copy of the real heads, free to corrupt."""
    target = tmp_path / "raw"
    shutil.copytree(HEADS, target)
    return target


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def cell(raw: Path, table: str, line: int, column: str) -> str:
    """The text of one cell, addressed as an editor shows it (header = line 1)."""
    rows = _rows(raw / f"{table}.csv")
    return rows[line - 1][rows[0].index(column)]


def set_cell(raw: Path, table: str, line: int, column: str, value: str) -> Path:
    """Overwrite one cell; returns the file's path."""
    path = raw / f"{table}.csv"
    rows = _rows(path)
    rows[line - 1][rows[0].index(column)] = value
    _write(path, rows)
    return path


def set_line(raw: Path, table: str, line: int, text: str) -> Path:
    """Replace a whole physical line with raw text."""
    path = raw / f"{table}.csv"
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


def errors_of(raw: Path) -> list[str]:
    return [str(issue) for issue in validate_dir(raw).errors]


# ------------------------------------------------------------------ the real heads


def test_real_heads_load_with_declared_schema() -> None:
    tables, report = load_tables(HEADS)

    assert report.ok, report.format()
    assert set(tables) == set(TABLES)
    for name, schema in TABLES.items():
        table = tables[name]
        assert table is not None
        assert table.schema.names == list(schema.column_names)
        assert [f.type for f in table.schema] == [ARROW[c.kind] for c in schema.columns]
        assert table.num_rows == len(_rows(HEADS / schema.file_name)) - 1


def test_real_heads_orphans_are_counted_warnings() -> None:
    report = validate_dir(HEADS)
    clients = {
        row[0]
        for name in ("application_train", "application_test")
        for row in _rows(HEADS / f"{name}.csv")[1:]
    }
    bureau = _rows(HEADS / "bureau.csv")[1:]
    orphans = [row[0] for row in bureau if row[0] not in clients]
    first_line = next(i for i, row in enumerate(bureau, start=2) if row[0] not in clients)

    (issue,) = [w for w in report.warnings if w.file.endswith("bureau.csv")]
    assert report.ok
    assert issue.column == "SK_ID_CURR"
    assert issue.count == len(orphans)
    assert issue.line == first_line
    assert issue.key == int(bureau[first_line - 2][0])
    assert f"{len(set(orphans))} distinct keys" in issue.message


def test_empty_strings_are_missing_not_values() -> None:
    table = read_table(HEADS, "application_train")
    empty = sum(1 for row in _rows(HEADS / "application_train.csv")[1:] if row[28] == "")

    assert table is not None
    assert _rows(HEADS / "application_train.csv")[0][28] == "OCCUPATION_TYPE"
    assert table["OCCUPATION_TYPE"].null_count == empty > 0


# ---------------------------------------------------------------- files and columns


def test_missing_train_file_is_an_error(raw: Path) -> None:
    path = raw / "application_train.csv"
    path.unlink()

    with pytest.raises(SchemaError) as caught:
        read_table(raw, "application_train")
    assert caught.value.file == str(path)
    assert "required file is missing" in str(caught.value)
    report = validate_dir(raw)  # never raises for data problems
    assert not report.ok and report.errors[0].file == str(path)
    with pytest.raises(SchemaError):
        load_tables(raw)


def test_missing_side_table_is_a_warning_and_strict_makes_it_fatal(raw: Path) -> None:
    path = raw / "credit_card_balance.csv"
    path.unlink()
    report = ValidationReport()

    assert read_table(raw, "credit_card_balance", report) is None
    assert [w.file for w in report.warnings] == [str(path)]
    assert validate_dir(raw).ok
    strict = validate_dir(raw, strict=True)
    assert not strict.ok and str(path) in {e.file for e in strict.errors}
    with pytest.raises(SchemaError):
        load_tables(raw, strict=True)


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    report = validate_dir(tmp_path / "nowhere")
    assert not report.ok
    assert report.errors[0].file == str(tmp_path / "nowhere")


def test_missing_column_names_file_and_column(raw: Path) -> None:
    path = raw / "application_train.csv"
    rows = _rows(path)
    drop = rows[0].index("AMT_CREDIT")
    _write(path, [row[:drop] + row[drop + 1 :] for row in rows])

    assert errors_of(raw) == [f"{path}, line 1, column AMT_CREDIT: required column is missing"]


def test_extra_column_is_a_warning_and_dropped(raw: Path) -> None:
    path = raw / "bureau.csv"
    rows = _rows(path)
    _write(path, [[*row[:3], "X" if i else "SURPRISE", *row[3:]] for i, row in enumerate(rows)])
    report = ValidationReport()

    table = read_table(raw, "bureau", report)

    assert table is not None and table.schema.names == list(TABLES["bureau"].column_names)
    assert [str(w) for w in report.warnings] == [
        f"{path}, line 1, column SURPRISE: unexpected column, ignored"
    ]


# ------------------------------------------------------------------ types and nulls


@pytest.mark.parametrize(
    ("table", "line", "column", "value"),
    [
        ("application_train", 5, "AMT_INCOME_TOTAL", "12k"),
        ("bureau", 10, "DAYS_CREDIT", "1.5"),
        # Whole, but beyond int64: an error located like the others, not a crash.
        ("bureau", 11, "DAYS_CREDIT", "1e+300"),
        ("bureau", 12, "DAYS_CREDIT", "nan"),
        ("installments_payments", 100, "AMT_PAYMENT", "n/a"),
    ],
)
def test_non_numeric_value(raw: Path, table: str, line: int, column: str, value: str) -> None:
    path = set_cell(raw, table, line, column, value)

    with pytest.raises(SchemaError) as caught:
        read_table(raw, table)

    assert (caught.value.file, caught.value.line, caught.value.column) == (str(path), line, column)
    assert str(caught.value).startswith(f"{path}, line {line}, column {column}: not a")
    assert f"{value!r} on line {line}" in str(caught.value)


def test_every_bad_value_of_every_column_is_reported(raw: Path) -> None:
    path = set_cell(raw, "previous_application", 3, "AMT_CREDIT", "lots")
    set_cell(raw, "previous_application", 7, "AMT_CREDIT", "1,000")
    set_cell(raw, "previous_application", 4, "SELLERPLACE_AREA", "north")
    set_cell(raw, "previous_application", 9, "DAYS_DECISION", "")

    errors = errors_of(raw)

    assert f"{path}, line 3, column AMT_CREDIT: not a number: 2 rows" in errors[0]
    assert "'1,000' on line 7" in errors[0]
    assert errors[1].startswith(f"{path}, line 4, column SELLERPLACE_AREA: not an integer")
    assert errors[2].startswith(f"{path}, line 9, column DAYS_DECISION: missing value")


def test_missing_integer(raw: Path) -> None:
    path = set_cell(raw, "bureau_balance", 7, "MONTHS_BALANCE", "")
    assert errors_of(raw) == [
        f"{path}, line 7, column MONTHS_BALANCE: missing value: 1 row, e.g. None on line 7"
    ]


def test_errors_are_located_across_read_blocks(tmp_path: Path) -> None:
    # Enough rows for several of pyarrow's 1 MiB blocks, read by several threads.
    rows = _rows(HEADS / "installments_payments.csv")
    big = [rows[0]] + rows[1:] * 300
    line = len(big) - 123
    big[line - 1] = [*big[line - 1][:6], "oops", big[line - 1][7]]
    _write(tmp_path / "installments_payments.csv", big)

    with pytest.raises(SchemaError) as caught:
        read_table(tmp_path, "installments_payments")

    assert (caught.value.line, caught.value.column) == (line, "AMT_INSTALMENT")


# ------------------------------------------------------------------------ records


def test_quoted_record_is_malformed(raw: Path) -> None:
    path = raw / "POS_CASH_balance.csv"
    text = path.read_text().splitlines()[7]
    set_line(raw, "POS_CASH_balance", 8, f'"{text}"')

    (error,) = errors_of(raw)

    assert error.startswith(f"{path}, line 8: malformed records (expected 8 fields): 1 row")
    assert "line 8: 1 field (is the whole record quoted?)" in error


def test_record_with_missing_field_is_malformed(raw: Path) -> None:
    path = raw / "bureau_balance.csv"
    set_line(raw, "bureau_balance", 12, path.read_text().splitlines()[11].rsplit(",", 1)[0])

    assert errors_of(raw) == [
        f"{path}, line 12: malformed records (expected 3 fields): 1 row, e.g. line 12: 2 fields"
    ]


def test_blank_line_is_named(raw: Path) -> None:
    path = set_line(raw, "bureau", 6, "")
    assert errors_of(raw) == [f"{path}, line 6: blank line: 1 row, e.g. line 6"]


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("application_train", "SK_ID_CURR"),
        ("bureau", "SK_ID_BUREAU"),
        ("previous_application", "SK_ID_PREV"),
    ],
)
def test_duplicated_key(raw: Path, table: str, column: str) -> None:
    key = cell(raw, table, 3, column)
    path = set_cell(raw, table, 40, column, key)

    errors = errors_of(raw)

    assert errors == [
        f"{path}, line 3, column {column}, key {key}: key values occur more than once: "
        f"1 key, e.g. {key} on lines 3, 40"
    ]


def test_applicant_in_train_and_test(raw: Path) -> None:
    key = cell(raw, "application_train", 2, "SK_ID_CURR")
    path = set_cell(raw, "application_test", 5, "SK_ID_CURR", key)

    (error,) = errors_of(raw)

    assert error.startswith(
        f"{path}, line 5, column SK_ID_CURR, key {key}: applicants also in application_train.csv"
    )
    assert f"(key {key} on line 2 of application_train.csv)" in error


# ------------------------------------------------------------------------ domains


def test_unknown_category_is_a_counted_warning(raw: Path) -> None:
    path = set_cell(raw, "application_train", 6, "CODE_GENDER", "X")
    set_cell(raw, "application_train", 9, "CODE_GENDER", "X")
    report = validate_dir(raw)

    (issue,) = [w for w in report.warnings if w.column == "CODE_GENDER"]
    assert report.ok
    assert (issue.file, issue.line, issue.count) == (str(path), 6, 2)
    assert issue.examples == ("'X' x2 (first on line 6)",)


@pytest.mark.parametrize(
    ("table", "line", "column", "value", "requirement"),
    [
        ("application_train", 4, "TARGET", "2", "must be 0 or 1"),
        ("application_train", 8, "DAYS_BIRTH", "9000", "must be negative"),
        ("application_test", 8, "DAYS_EMPLOYED", "1200", f"must be 0 or less, or {DAYS_SENTINEL}"),
        ("previous_application", 5, "DAYS_TERMINATION", "12.0", "must be 0 or less, or"),
    ],
)
def test_out_of_domain_value(
    raw: Path, table: str, line: int, column: str, value: str, requirement: str
) -> None:
    path = set_cell(raw, table, line, column, value)

    (error,) = errors_of(raw)

    assert error.startswith(f"{path}, line {line}, column {column}: {requirement}")


def test_sentinel_is_accepted(raw: Path) -> None:
    set_cell(raw, "application_train", 3, "DAYS_EMPLOYED", str(DAYS_SENTINEL))
    set_cell(raw, "previous_application", 3, "DAYS_TERMINATION", f"{DAYS_SENTINEL}.0")
    assert errors_of(raw) == []


# ------------------------------------------------------------------- the report


def test_raise_for_errors_locates_first_and_lists_all(raw: Path) -> None:
    first = set_cell(raw, "application_train", 4, "TARGET", "7")
    second = set_cell(raw, "bureau", 9, "DAYS_CREDIT", "soon")

    with pytest.raises(SchemaError) as caught:
        load_tables(raw)

    assert (caught.value.file, caught.value.line, caught.value.column) == (str(first), 4, "TARGET")
    assert f"{second}, line 9, column DAYS_CREDIT" in str(caught.value)
    assert "and 1 more" in str(caught.value)


def test_format_counts_and_lists_issues(raw: Path) -> None:
    path = set_cell(raw, "application_train", 4, "TARGET", "7")
    report = validate_dir(raw)

    text = report.format().splitlines()

    assert text[0].startswith(f"8 files read ({sum(report.rows.values()):,} rows): 1 errors")
    assert text[1].startswith(f"ERROR   {path}, line 4, column TARGET")
    assert len(text) == 1 + len(report.errors) + len(report.warnings)


def test_named_tables_only(raw: Path) -> None:
    (raw / "bureau.csv").write_text("not,a,bureau\n")  # not requested, so not read

    tables, report = load_tables(raw, tables=["application_train", "previous_application"])

    assert set(tables) == {"application_train", "previous_application"}
    assert set(report.rows) == {
        str(raw / "application_train.csv"),
        str(raw / "previous_application.csv"),
    }


def test_validation_writes_nothing(raw: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in raw.parent.rglob("*")}
    validate_dir(raw, strict=True)
    assert {p: p.stat().st_mtime_ns for p in raw.parent.rglob("*")} == before
