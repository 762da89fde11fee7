"""Per-client history aggregates: a declarative spec, compiled to portable SQL.

The full model's 550 history features (BURO_, ACTIVE_, CLOSED_, PREV_, APPROVED_,
REFUSED_, POS_, INSTAL_, CC_) are declared in ``conf/features/history.yaml``: which
table, which rows, which derived columns, which aggregations of which columns,
which one-hot shares. ``load_spec`` reads and checks that declaration against the
schema, ``compile_sql`` turns it into one SQL query per side table, and
``aggregate_history`` runs the queries on an engine (DuckDB by default, see
``features.engine``) and assembles one float64 frame indexed by SK_ID_CURR.

The SQL stays within what DuckDB, Spark SQL and PostgreSQL share (CASE WHEN, AVG,
SUM, MIN, MAX, COUNT, COUNT(DISTINCT), VAR_SAMP, NULLIF, COALESCE, CAST, LEFT JOIN,
GROUP BY, WITH), so that the same spec can run beyond one machine.

Semantics are the pandas recipe's ("LightGBM with simple features"), value for
value, because that is what the seed model was trained on and what the pandas
oracle (``tests/oracle``) recomputes:

- VAR is the sample variance (n-1): missing with fewer than 2 non-missing values.
- MEAN, MIN, MAX ignore missing values; SUM of only-missing values is 0 (pandas),
  not NULL (SQL); SIZE and ``count`` count rows, missing values included; NUNIQUE
  counts distinct non-missing values.
- One-hot columns come from the schema's vocabularies, never from the data: a
  declared category absent from the data still has its column (0 for a client
  with rows), ``nan`` is the share of missing values, an undeclared value counts
  in no column.
- A ratio ``{ratio: [a, b]}`` divides like pandas floats: a/0 is +inf or -inf,
  0/0 and anything with a missing operand is missing. The infinities are kept
  (the seed model saw them); their means and sums are infinite, their variance
  missing, exactly as in pandas.
- DPD / DBD map a missing payment date to 0 (the recipe's ``x if x > 0 else 0``).
- The schema's 365243 "not applicable" day codes are missing values.
- A client without rows in a table (or in a family's filtered rows) has missing
  values for that family, even for SUM and SIZE.
- A side table that is missing altogether (``None``) makes every feature that
  reads it missing, with a logged warning. That includes the bureau features built
  from bureau_balance when only bureau_balance is absent: unknown, not "no
  months" (a recipe that reads an absent file as an empty one gives 0 for
  MONTHS_BALANCE_SIZE_SUM there).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from tqdm import tqdm

from credit_scoring.data.schema import (
    DAYS_SENTINEL,
    SENTINEL_COLUMNS,
    TABLES,
    TableSchema,
    feature_name,
)
from credit_scoring.errors import CreditScoringError, SchemaError
from credit_scoring.features.engine import SqlEngine, open_engine, run_queries

log = logging.getLogger(__name__)

#: The spec shipped with the product; ``load_spec(None)`` reads it.
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[3] / "conf" / "features" / "history.yaml"

#: SQL of each aggregation, ``{}`` standing for the aggregated expression.
AGGREGATES: dict[str, str] = {
    "MIN": "MIN({})",
    "MAX": "MAX({})",
    "MEAN": "AVG({})",
    # pandas sums only-missing values to 0 where SQL gives NULL.
    "SUM": "COALESCE(SUM({}), 0)",
    # The sample variance (n-1), NULL under two values: pandas' ``var``.
    "VAR": "VAR_SAMP({})",
    # Rows, missing values included: pandas' ``size``.
    "SIZE": "COUNT(*)",
    "NUNIQUE": "COUNT(DISTINCT {})",
}

#: The name under which ``aggregate_history`` registers the keys it is restricted to.
CLIENTS_TABLE = "history_clients"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAN = "nan"


class HistorySpecError(CreditScoringError):
    """The history spec is malformed or names something the schema does not declare.

    ``where`` is the dotted path of the offending entry (``families.bureau.columns``),
    ``source`` the file or object the spec came from.
    """

    def __init__(self, message: str, *, where: str, source: str) -> None:
        self.message = message
        self.where = where
        self.source = source
        super().__init__(f"{source}: {where}: {message}")


@dataclass(frozen=True)
class Aggregation:
    """Aggregations of one column, in output order (``MIN``, ``MEAN``, ...)."""

    column: str
    aggs: tuple[str, ...]


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` with pandas' float semantics (x/0 = ±inf, 0/0 missing)."""

    numerator: str
    denominator: str


@dataclass(frozen=True)
class PreAggregation:
    """A table aggregated per ``key`` before its aggregates join the rows of another table.

    Outputs are named ``COLUMN_AGG`` (``MONTHS_BALANCE_MIN``) and, for one-hot
    columns, ``COLUMN_VALUE_AGG`` (``STATUS_C_MEAN``).
    """

    name: str
    table: str
    key: str
    columns: tuple[Aggregation, ...] = ()
    one_hot: tuple[Aggregation, ...] = ()


@dataclass(frozen=True)
class TableRows:
    """How the rows of a side table are prepared before any family aggregates them.

    Sentinel codes become missing first and joined pre-aggregations are added;
    ``derived`` expressions then see those prepared columns (not each other).
    """

    table: str
    null_sentinels: bool = False
    derived: tuple[tuple[str, str | Ratio], ...] = ()
    join: tuple[str, ...] = ()


@dataclass(frozen=True)
class Family:
    """One group of features: rows of ``table`` (filtered by ``where``) aggregated per client.

    ``one_hot`` entries name a categorical column of the table, or
    ``PRE_AGGREGATION.COLUMN`` for the one-hot outputs of a joined pre-aggregation.
    ``count``, if set, adds the feature PREFIX + count = the number of rows.
    """

    name: str
    prefix: str
    table: str
    where: str | None = None
    columns: tuple[Aggregation, ...] = ()
    one_hot: tuple[Aggregation, ...] = ()
    count: str | None = None


@dataclass(frozen=True)
class HistorySpec:
    """The whole declaration: pre-aggregations, row preparation and feature families."""

    key: str
    nan_category: bool
    pre_aggregations: tuple[PreAggregation, ...]
    tables: tuple[TableRows, ...]
    families: tuple[Family, ...]

    def rows(self, table: str) -> TableRows:
        """The row preparation of ``table`` (none declared: the raw rows)."""
        return next((t for t in self.tables if t.table == table), TableRows(table))

    def pre_aggregation(self, name: str) -> PreAggregation:
        """The pre-aggregation called ``name``."""
        return next(p for p in self.pre_aggregations if p.name == name)

    def feature_names(self) -> tuple[str, ...]:
        """Every output feature, in output order (families in order, then their entries)."""
        return tuple(f.name for family in self.families for f in _family_features(self, family))

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (``"*"`` expanded), which ``load_spec`` reads back equal."""

        def aggs(entries: tuple[Aggregation, ...]) -> dict[str, list[str]]:
            return {a.column: list(a.aggs) for a in entries}

        def derived(expr: str | Ratio) -> str | dict[str, list[str]]:
            return (
                {"ratio": [expr.numerator, expr.denominator]} if isinstance(expr, Ratio) else expr
            )

        return {
            "key": self.key,
            "nan_category": self.nan_category,
            "pre_aggregations": {
                p.name: {
                    "table": p.table,
                    "key": p.key,
                    "columns": aggs(p.columns),
                    "one_hot": aggs(p.one_hot),
                }
                for p in self.pre_aggregations
            },
            "tables": {
                t.table: {
                    "null_sentinels": t.null_sentinels,
                    "derived": {name: derived(expr) for name, expr in t.derived},
                    "join": list(t.join),
                }
                for t in self.tables
            },
            "families": {
                f.name: {
                    "prefix": f.prefix,
                    "table": f.table,
                    "where": f.where,
                    "columns": aggs(f.columns),
                    "one_hot": aggs(f.one_hot),
                    "count": f.count,
                }
                for f in self.families
            },
        }


# --------------------------------------------------------------------------- loading


def load_spec(source: str | Path | Mapping[str, Any] | DictConfig | None = None) -> HistorySpec:
    """Read and check a history spec.

    ``source`` is a YAML file, a mapping or an OmegaConf node (e.g.
    ``cfg.features.history``); ``None`` reads the product's default
    (``conf/features/history.yaml``). Interpolations such as ``${..bureau.columns}``
    are resolved, ``"*"`` entries expanded from the schema. Raises
    ``HistorySpecError`` naming the offending entry.
    """
    if source is None:
        source = DEFAULT_SPEC_PATH
    if isinstance(source, str | Path):
        origin = str(source)
        if not Path(source).is_file():
            raise HistorySpecError("file not found", where="(file)", source=origin)
        node = OmegaConf.load(source)
    else:
        origin = type(source).__name__
        node = source if isinstance(source, DictConfig) else OmegaConf.create(dict(source))
    try:
        raw = OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException as exc:
        raise HistorySpecError(f"cannot resolve: {exc}", where="(root)", source=origin) from exc
    return _SpecParser(origin).spec(raw)


class _SpecParser:
    """Turns plain spec data into a ``HistorySpec``, naming the entry at fault in every error."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, message: str) -> HistorySpecError:
        return HistorySpecError(message, where=where, source=self.origin)

    def mapping(self, value: Any, where: str, allowed: Iterable[str] | None = None) -> dict:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        if allowed is not None and (unknown := sorted(set(value) - set(allowed))):
            raise self.fail(where, f"unknown keys {unknown}; allowed: {sorted(allowed)}")
        return dict(value)

    def identifier(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            raise self.fail(where, f"{value!r} is not a plain SQL identifier")
        return value

    def table(self, value: Any, where: str) -> TableSchema:
        if value not in TABLES or str(value).startswith("application"):
            side = sorted(t for t in TABLES if not t.startswith("application"))
            raise self.fail(where, f"unknown side table {value!r}; known: {side}")
        return TABLES[value]

    def aggs(self, value: Any, where: str) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list of aggregations")
        for agg in value:
            if agg not in AGGREGATES:
                raise self.fail(where, f"unknown aggregation {agg!r}; known: {list(AGGREGATES)}")
        return tuple(value)

    def aggregations(
        self, value: Any, where: str, known: tuple[str, ...], star: tuple[str, ...]
    ) -> tuple[Aggregation, ...]:
        """``{column: [aggs]}`` entries; ``"*"`` stands for every column of ``star``."""
        out: list[Aggregation] = []
        for column, aggs in self.mapping(value, where).items():
            parsed = self.aggs(aggs, f"{where}.{column}")
            if column == "*":
                out.extend(Aggregation(c, parsed) for c in star)
            elif column in known:
                out.append(Aggregation(column, parsed))
            else:
                raise self.fail(f"{where}.{column}", f"no such column; known: {list(known)}")
        return tuple(out)

    def spec(self, raw: Any) -> HistorySpec:
        raw = self.mapping(
            raw, "(root)", ("key", "nan_category", "pre_aggregations", "tables", "families")
        )
        key = self.identifier(raw.get("key", "SK_ID_CURR"), "key")
        nan_category = raw.get("nan_category", True)
        if not isinstance(nan_category, bool):
            raise self.fail("nan_category", "expected true or false")
        pre = tuple(
            self.pre_aggregation(name, body, f"pre_aggregations.{name}")
            for name, body in self.mapping(raw.get("pre_aggregations"), "pre_aggregations").items()
        )
        tables = tuple(
            self.table_rows(table, body, pre, f"tables.{table}")
            for table, body in self.mapping(raw.get("tables"), "tables").items()
        )
        partial = HistorySpec(key, nan_category, pre, tables, ())
        families = tuple(
            self.family(name, body, partial, f"families.{name}")
            for name, body in self.mapping(raw.get("families"), "families").items()
        )
        spec = HistorySpec(key, nan_category, pre, tables, families)
        names = [n.upper() for n in spec.feature_names()]
        # SQL identifiers are case-insensitive: names equal but for case would collide.
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise self.fail("families", f"duplicate feature names {duplicates[:5]}")
        return spec

    def pre_aggregation(self, name: str, body: Any, where: str) -> PreAggregation:
        body = self.mapping(body, where, ("table", "key", "columns", "one_hot"))
        schema = self.table(body.get("table"), f"{where}.table")
        key = body.get("key")
        if key not in schema.column_names:
            raise self.fail(f"{where}.key", f"{key!r} is not a column of {schema.name}")
        categorical = tuple(c.name for c in schema.categorical)
        return PreAggregation(
            name=self.identifier(name, where),
            table=schema.name,
            key=key,
            columns=self.aggregations(
                body.get("columns"), f"{where}.columns", schema.column_names, ()
            ),
            one_hot=self.aggregations(
                body.get("one_hot"), f"{where}.one_hot", categorical, categorical
            ),
        )

    def table_rows(
        self, table: str, body: Any, pre: tuple[PreAggregation, ...], where: str
    ) -> TableRows:
        body = self.mapping(body, where, ("null_sentinels", "derived", "join"))
        schema = self.table(table, where)
        join = tuple(body.get("join") or ())
        for name in join:
            match = next((p for p in pre if p.name == name), None)
            if match is None:
                raise self.fail(f"{where}.join", f"no pre-aggregation called {name!r}")
            if match.key not in schema.column_names:
                raise self.fail(f"{where}.join", f"{table} has no column {match.key!r} to join on")
        derived: list[tuple[str, str | Ratio]] = []
        for name, expr in self.mapping(body.get("derived"), f"{where}.derived").items():
            self.identifier(name, f"{where}.derived.{name}")
            derived.append((name, self.derived(expr, schema, f"{where}.derived.{name}")))
        null_sentinels = body.get("null_sentinels", False)
        if not isinstance(null_sentinels, bool):
            raise self.fail(f"{where}.null_sentinels", "expected true or false")
        return TableRows(table, null_sentinels, tuple(derived), join)

    def derived(self, expr: Any, schema: TableSchema, where: str) -> str | Ratio:
        if isinstance(expr, str) and expr.strip():
            return expr
        ratio = self.mapping(expr, where, ("ratio",)).get("ratio")
        if not isinstance(ratio, list) or len(ratio) != 2:
            raise self.fail(
                where, "expected an SQL expression or {ratio: [numerator, denominator]}"
            )
        for column in ratio:
            if column not in schema.column_names:
                raise self.fail(where, f"{column!r} is not a column of {schema.name}")
        return Ratio(*ratio)

    def family(self, name: str, body: Any, spec: HistorySpec, where: str) -> Family:
        body = self.mapping(
            body, where, ("prefix", "table", "where", "columns", "one_hot", "count")
        )
        schema = self.table(body.get("table"), f"{where}.table")
        if spec.key not in schema.column_names:
            raise self.fail(f"{where}.table", f"{schema.name} has no {spec.key} to group by")
        rows = spec.rows(schema.name)
        keys = {schema.key, *(fk.column for fk in schema.foreign_keys)}
        derived = tuple(n for n, _ in rows.derived)
        joined = tuple(
            out
            for p in rows.join
            for out, _, _ in _pre_aggregation_outputs(spec, spec.pre_aggregation(p))
        )
        numeric = tuple(c.name for c in schema.columns if c.kind != "str" and c.name not in keys)
        categorical = tuple(c.name for c in schema.categorical)
        joined_one_hot = tuple(
            f"{p}.{a.column}" for p in rows.join for a in spec.pre_aggregation(p).one_hot
        )
        prefix = body.get("prefix")
        if not isinstance(prefix, str) or not _IDENTIFIER.match(prefix):
            raise self.fail(f"{where}.prefix", f"{prefix!r} is not a plain SQL identifier")
        filter_sql = body.get("where")
        if filter_sql is not None and (not isinstance(filter_sql, str) or not filter_sql.strip()):
            raise self.fail(f"{where}.where", "expected an SQL condition")
        count = body.get("count")
        if count is not None:
            self.identifier(count, f"{where}.count")
        return Family(
            name=self.identifier(name, where),
            prefix=prefix,
            table=schema.name,
            where=filter_sql,
            columns=self.aggregations(
                body.get("columns"),
                f"{where}.columns",
                (*schema.column_names, *joined, *derived),
                (*numeric, *derived),
            ),
            one_hot=self.aggregations(
                body.get("one_hot"),
                f"{where}.one_hot",
                (*categorical, *joined_one_hot),
                categorical,
            ),
            count=count,
        )


# --------------------------------------------------------------------------- compiling


@dataclass(frozen=True)
class _Feature:
    """One output column: its name, its SQL aggregate and the tables it reads."""

    name: str
    sql: str
    reads: frozenset[str]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _categories(spec: HistorySpec, table: str, column: str) -> list[tuple[str, str]]:
    """(label, SQL condition) of each one-hot category: the schema's values, then ``nan``."""
    vocabulary = TABLES[table].column(column).vocabulary or ()
    out = [(value, f"{column} = {_literal(value)}") for value in vocabulary]
    if spec.nan_category:
        out.append((_NAN, f"{column} IS NULL"))
    return out


def _aggregate(agg: str, expr: str) -> str:
    return f"CAST({AGGREGATES[agg].format(expr)} AS DOUBLE)"


def _one_hot_aggregate(agg: str, condition: str) -> str:
    """An aggregate of the 0/1 indicator of ``condition``.

    Shares and sums are counts: an engine keeps one integer per group for them
    instead of the wider state of AVG/SUM, which matters with ~200 aggregates over
    ~350,000 clients (a third of the memory, a little less time).
    """
    hits = f"COUNT(CASE WHEN {condition} THEN 1 END)"
    if agg == "MEAN":
        return f"CAST({hits} AS DOUBLE) / COUNT(*)"
    if agg == "SUM":
        return f"CAST({hits} AS DOUBLE)"
    return _aggregate(agg, f"CASE WHEN {condition} THEN 1 ELSE 0 END")


def _pre_aggregation_outputs(spec: HistorySpec, pre: PreAggregation) -> list[tuple[str, str, str]]:
    """(output column, SQL aggregate, origin) of a pre-aggregation, in declaration order.

    The origin is the column for plain aggregates and ``PRE.COLUMN`` for one-hot
    ones, the name a family's ``one_hot`` entry uses to pick them up.
    """
    out = [
        (f"{a.column}_{agg}", _aggregate(agg, a.column), a.column)
        for a in pre.columns
        for agg in a.aggs
    ]
    for a in pre.one_hot:
        for label, condition in _categories(spec, pre.table, a.column):
            out.extend(
                (
                    feature_name(f"{a.column}_{label}_{agg}"),
                    _one_hot_aggregate(agg, condition),
                    f"{pre.name}.{a.column}",
                )
                for agg in a.aggs
            )
    return out


def _family_features(spec: HistorySpec, family: Family) -> list[_Feature]:
    """The features of ``family`` in output order, with their SQL over the prepared rows."""
    rows = spec.rows(family.table)
    own = frozenset({family.table})
    reads_of = {
        out: own | {pre.table}
        for pre in map(spec.pre_aggregation, rows.join)
        for out, _, _ in _pre_aggregation_outputs(spec, pre)
    }
    features = [
        _Feature(
            feature_name(f"{family.prefix}{a.column}_{agg}"),
            _aggregate(agg, a.column),
            reads_of.get(a.column, own),
        )
        for a in family.columns
        for agg in a.aggs
    ]
    for a in family.one_hot:
        if "." in a.column:
            # The one-hot outputs of a joined pre-aggregation: plain numbers by now.
            pre = spec.pre_aggregation(a.column.split(".")[0])
            features.extend(
                _Feature(
                    feature_name(f"{family.prefix}{out}_{agg}"),
                    _aggregate(agg, out),
                    own | {pre.table},
                )
                for out, _, origin in _pre_aggregation_outputs(spec, pre)
                if origin == a.column
                for agg in a.aggs
            )
            continue
        for label, condition in _categories(spec, family.table, a.column):
            features.extend(
                _Feature(
                    feature_name(f"{family.prefix}{a.column}_{label}_{agg}"),
                    _one_hot_aggregate(agg, condition),
                    own,
                )
                for agg in a.aggs
            )
    if family.count is not None:
        features.append(
            _Feature(feature_name(family.prefix + family.count), _aggregate("SIZE", ""), own)
        )
    return features


def _ratio_sql(ratio: Ratio) -> str:
    """Division as pandas floats do it, spelled out so that every engine agrees.

    Engines differ on x/0 (DuckDB: inf, Spark: NULL or an error, PostgreSQL: an
    error); the CASE gives pandas' answer everywhere. No NaN is ever produced: SQL
    aggregates would not skip it as pandas skips missing values.
    """
    n, d = ratio.numerator, ratio.denominator
    return (
        f"CASE WHEN {d} <> 0 THEN CAST({n} AS DOUBLE) / {d} "
        f"WHEN {n} > 0 THEN CAST('Infinity' AS DOUBLE) "
        f"WHEN {n} < 0 THEN CAST('-Infinity' AS DOUBLE) END"
    )


@dataclass(frozen=True)
class _TableQuery:
    """The query of one side table and what its output columns read."""

    table: str
    sql: str
    features: tuple[_Feature, ...]

    @property
    def reads(self) -> frozenset[str]:
        """Every table the query scans."""
        return frozenset().union(*(f.reads for f in self.features))


def _table_query(
    spec: HistorySpec, table: str, families: list[Family], clients: str | None = None
) -> _TableQuery:
    """One query computing every family of ``table``: shared row preparation, one
    GROUP BY per family, families LEFT JOINed onto the table's clients.

    ``clients`` names a table of keys the query is restricted to: only those clients'
    rows are read (a joined pre-aggregation's too, through ``table``), so each of
    them gets exactly the values of the unrestricted query.
    """
    key = spec.key
    schema = TABLES[table]
    rows = spec.rows(table)
    sentinels = SENTINEL_COLUMNS.get(table, ()) if rows.null_sentinels else ()
    ctes: list[str] = []
    restrict = _restriction(table, key, clients)

    select = [
        f"NULLIF({table}.{c}, {DAYS_SENTINEL}) AS {c}" if c in sentinels else f"{table}.{c}"
        for c in schema.column_names
    ]
    joins = []
    for pre in map(spec.pre_aggregation, rows.join):
        name = f"{pre.name}_per_key"
        outputs = _pre_aggregation_outputs(spec, pre)
        body = ",\n    ".join([pre.key, *(f"{sql} AS {out}" for out, sql, _ in outputs)])
        pre_restrict = (
            f"\n  WHERE {pre.key} IN (SELECT {pre.key} FROM {table}{restrict})" if clients else ""
        )
        ctes.append(
            f"{name} AS (\n  SELECT\n    {body}\n  FROM {pre.table}{pre_restrict}\n"
            f"  GROUP BY {pre.key}\n)"
        )
        select.extend(f"{name}.{out}" for out, _, _ in outputs)
        joins.append(f"LEFT JOIN {name} ON {table}.{pre.key} = {name}.{pre.key}")
    body = ",\n    ".join(select)
    ctes.append(
        f"{table}_base AS (\n  SELECT\n    {body}\n  FROM {table}"
        + "".join(f"\n  {j}" for j in joins)
        + (f"\n {restrict}" if restrict else "")
        + "\n)"
    )
    source = f"{table}_base"
    if rows.derived:
        derived = ",\n    ".join(
            f"{_ratio_sql(expr) if isinstance(expr, Ratio) else expr} AS {name}"
            for name, expr in rows.derived
        )
        ctes.append(
            f"{table}_rows AS (\n  SELECT\n    {source}.*,\n    {derived}\n  FROM {source}\n)"
        )
        source = f"{table}_rows"

    features_of = {family.name: _family_features(spec, family) for family in families}
    for family in families:
        body = ",\n    ".join([key, *(f"{f.sql} AS {f.name}" for f in features_of[family.name])])
        where = f"\n  WHERE {family.where}" if family.where else ""
        ctes.append(
            f"{family.name}_family AS (\n  SELECT\n    {body}\n  FROM {source}{where}\n"
            f"  GROUP BY {key}\n)"
        )
    # Every client with rows in the table, whatever the families' filters keep; an
    # unfiltered family already has them all.
    driver = next((f"{f.name}_family" for f in families if f.where is None), None)
    if driver is None:
        driver = f"{table}_clients"
        ctes.append(f"{driver} AS (\n  SELECT DISTINCT {key} FROM {table}{restrict}\n)")
    columns = [f"{driver}.{key}"]
    joins = []
    for family in families:
        cte = f"{family.name}_family"
        columns.extend(f"{cte}.{f.name}" for f in features_of[family.name])
        if cte != driver:
            joins.append(f"LEFT JOIN {cte} ON {driver}.{key} = {cte}.{key}")
    sql = (
        "WITH\n"
        + ",\n".join(ctes)
        + "\nSELECT\n  "
        + ",\n  ".join(columns)
        + f"\nFROM {driver}"
        + "".join(f"\n{j}" for j in joins)
    )
    return _TableQuery(table, sql, tuple(f for fs in features_of.values() for f in fs))


def _restriction(table: str, key: str, clients: str | None) -> str:
    """The WHERE clause keeping the rows of ``table`` whose ``key`` is in ``clients``."""
    return f" WHERE {table}.{key} IN (SELECT {key} FROM {clients})" if clients else ""


def _table_queries(spec: HistorySpec, clients: str | None = None) -> dict[str, _TableQuery]:
    """The queries by side table, in the order of each table's first family.

    ``clients``: the name of a table of keys every query is restricted to, or ``None``.
    """
    by_table: dict[str, list[Family]] = {}
    for family in spec.families:
        by_table.setdefault(family.table, []).append(family)
    return {
        table: _table_query(spec, table, families, clients) for table, families in by_table.items()
    }


def compile_sql(spec: HistorySpec) -> dict[str, str]:
    """One SQL query per side table (``bureau``, ``previous_application``, ...).

    Each query returns SK_ID_CURR (the spec's key) and the features of every family
    of that table, as DOUBLE, one row per client with rows in the table. The
    queries read the tables under their schema names and share nothing, so they
    can be inspected, run one by one, or run on another engine.
    """
    return {table: query.sql for table, query in _table_queries(spec).items()}


def feature_tables(spec: HistorySpec) -> dict[str, dict[str, frozenset[str]]]:
    """For each query of :func:`compile_sql`, the tables each of its features reads.

    An engine that runs the queries itself (Spark, lazily) needs it to blank exactly
    the features of an absent table, as :func:`aggregate_history` does.
    """
    return {
        table: {f.name: f.reads for f in query.features}
        for table, query in _table_queries(spec).items()
    }


# --------------------------------------------------------------------------- running

_ARROW_KINDS: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
}


def _empty_table(table: str) -> pa.Table:
    """No rows, the declared columns: stands in for an absent table another one joins."""
    schema = TABLES[table]
    return pa.schema([(c.name, _ARROW_KINDS[c.kind]) for c in schema.columns]).empty_table()


def _check_table(table: str, data: pa.Table | Path) -> None:
    """Raise ``SchemaError`` if ``data`` lacks a declared column or holds the wrong kind.

    ``data`` is an Arrow table or a Parquet file, whose schema alone is read.
    """
    schema = TABLES[table]
    arrow_schema = pq.read_schema(data) if isinstance(data, Path) else data.schema
    for column in schema.columns:
        if column.name not in arrow_schema.names:
            raise SchemaError("column missing", file=schema.file_name, column=column.name)
        dtype = arrow_schema.field(column.name).type
        if pa.types.is_dictionary(dtype):
            dtype = dtype.value_type
        if column.kind == "str":
            ok = pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
        else:
            ok = pa.types.is_integer(dtype) or pa.types.is_floating(dtype)
        if not (ok or pa.types.is_null(dtype)):
            raise SchemaError(
                f"expected {column.kind} values, got Arrow type {dtype}",
                file=schema.file_name,
                column=column.name,
            )


def _clients(
    engine: SqlEngine, key: str, queries: Mapping[str, _TableQuery], clients: str | None
) -> np.ndarray:
    """The sorted keys of every client having rows in a table the queries aggregate
    (among the keys of the ``clients`` table, if one is named)."""
    if not queries:
        return np.array([], dtype=np.int64)
    # DISTINCT in every branch: a single table has no UNION to drop its repeated keys
    # (a client's many bureau credits), and the keys index the result frame.
    union = "\nUNION\n".join(
        f"SELECT DISTINCT {key} FROM {table}{_restriction(table, key, clients)}"
        for table in queries
    )
    return np.sort(engine.query(union).column(key).to_numpy())


def aggregate_history(
    tables: Mapping[str, pa.Table | Path | None],
    spec: HistorySpec | None = None,
    engine: str | SqlEngine = "duckdb",
    clients: np.ndarray | None = None,
) -> pd.DataFrame:
    """The history features of every client having rows in any side table.

    ``tables`` maps schema table names to Arrow tables of the declared types or to
    Parquet files holding them (the ingest stage's; the engine scans those itself),
    other entries (e.g. the application tables) are ignored; a table that is
    ``None`` or absent makes the features reading it NaN, with a warning. The
    queries of the side tables run in parallel where the engine can
    (``features.engine.run_queries``); each feature lands at its own position, so the
    result does not depend on which finishes first.
    ``spec`` defaults to the product's spec (the 550 history features of the full
    model); ``engine`` is an engine name (opened and closed here, with its default
    settings) or an open ``SqlEngine`` the caller owns and closes. ``clients``, if
    given, restricts the work to those keys: only their rows are read and aggregated,
    and each gets the same values, to the bit, as without the restriction (the same
    rows in the same order). Aggregating a large population part by part bounds the
    engine's working memory and the result's size by the part's.

    Returns a float64 frame indexed by SK_ID_CURR (sorted), with the spec's
    features as columns in spec order. Raises ``SchemaError`` for a table lacking
    a declared column.
    """
    spec = spec if spec is not None else load_spec()
    names = spec.feature_names()
    restrict = None if clients is None else CLIENTS_TABLE
    queries = _table_queries(spec, restrict)
    missing = {t for q in queries.values() for t in q.reads if tables.get(t) is None}
    for table in sorted(missing):
        log.warning("history: table %s is missing, its features will be NaN", table)
    for table in {t for q in queries.values() for t in q.reads} - missing:
        _check_table(table, tables[table])  # type: ignore[arg-type]

    runnable = {t: q for t, q in queries.items() if t not in missing}
    sql_engine = open_engine(engine) if isinstance(engine, str) else engine
    registered: list[str] = []
    try:
        for table in {t for q in runnable.values() for t in q.reads}:
            # An absent joined table still lets its parent's other features through.
            sql_engine.register(table, _empty_table(table) if table in missing else tables[table])
            registered.append(table)
        if clients is not None:
            keys = pa.table({spec.key: pa.array(np.asarray(clients), pa.int64())})
            sql_engine.register(CLIENTS_TABLE, keys)
            registered.append(CLIENTS_TABLE)
        clients = _clients(sql_engine, spec.key, runnable, restrict)
        # Feature-major: each feature is one contiguous row of the block, which becomes
        # the frame's single float64 block without a copy. Each table's result is
        # written in and dropped at once, so only one is ever held beside the block.
        values = np.full((len(names), len(clients)), np.nan)
        position = {name: i for i, name in enumerate(names)}
        start = time.perf_counter()
        results = run_queries(sql_engine, {table: query.sql for table, query in runnable.items()})
        for table, result in tqdm(
            results, total=len(runnable), desc="history", unit="table", disable=None
        ):
            rows = np.searchsorted(clients, result.column(spec.key).to_numpy())
            for feature in runnable[table].features:
                if not feature.reads & missing:
                    values[position[feature.name], rows] = result.column(feature.name).to_numpy()
            log.info(
                "history: %s aggregated for %d clients (%.1f s since the start)",
                table,
                result.num_rows,
                time.perf_counter() - start,
            )
            del result
    finally:
        if isinstance(engine, str):
            sql_engine.close()
        else:  # the caller's engine must not keep gigabytes of side tables alive
            for table in registered:
                sql_engine.unregister(table)
    return pd.DataFrame(
        values.T,
        index=pd.Index(clients, name=spec.key),
        columns=pd.Index(names),
        copy=False,
    )
