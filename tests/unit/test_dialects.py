"""The history SQL in Spark's dialect: transpiled by sqlglot, DuckDB's division kept.

These run without Spark: the rewritten SQL is also written back in DuckDB's dialect
and run by DuckDB, which must give the very values of the original text; the Spark
side of the same claim is tested against a real Spark session in
``tests/integration/test_spark.py``.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
import sqlglot
from sqlglot import exp

from credit_scoring.config import compose_config
from credit_scoring.features.dialects import to_spark_sql, transpile
from credit_scoring.features.engine import DuckDBEngine, engine_from_config, open_engine
from credit_scoring.features.history import compile_sql, load_spec

DIVISIONS = """
SELECT
  a / b AS plain,
  a / (b / c) AS nested,
  CAST(a AS DOUBLE) / NULLIF(c, 1) AS cast_over_nullif,
  (a + 1) / (b - b) AS expressions
FROM t
"""


@pytest.fixture(scope="module")
def rows() -> duckdb.DuckDBPyConnection:
    """Every sign of numerator against zero, NULL and non-zero denominators."""
    con = duckdb.connect()
    con.sql(
        "CREATE TABLE t AS SELECT * FROM (VALUES "
        "(1.0, 0.0, 2.0), (-1.0, 0.0, 2.0), (0.0, 0.0, 0.0), (NULL, 0.0, 1.0), "
        "(3.0, NULL, 1.0), (6.0, 3.0, 0.0), (CAST('nan' AS DOUBLE), 0.0, 1.0), "
        "(5, 2, 4)) AS v(a, b, c)"
    )
    return con


def _values(con: duckdb.DuckDBPyConnection, sql: str) -> np.ndarray:
    return np.array(con.sql(sql).fetchall(), dtype=float)


def test_guarded_division_gives_duckdbs_own_answers(rows: duckdb.DuckDBPyConnection) -> None:
    """x/0 = ±inf, 0/0 = NaN, NULL stays NULL: the rewrite changes no value at all."""
    original = _values(rows, DIVISIONS)
    rewritten = _values(rows, transpile(DIVISIONS, "duckdb"))
    np.testing.assert_array_equal(rewritten, original)
    assert np.isposinf(original[0, 0]) and np.isneginf(original[1, 0])
    assert np.isnan(original[2, 0]) and np.isnan(original[3, 0])


def test_no_division_is_left_unguarded_in_spark_sql() -> None:
    """Every ``/`` Spark sees sits in the ELSE of a CASE whose condition is its divisor = 0."""
    tree = sqlglot.parse_one(to_spark_sql(DIVISIONS), read="spark")
    divisions = list(tree.find_all(exp.Div))
    # The 5 of the source, plus a copy of the nested b / c in the guard of a / (b / c).
    assert len(divisions) == 6
    for division in divisions:
        case = division.parent
        assert isinstance(case, exp.Case) and case.args["default"] is division
        condition = case.args["ifs"][0].this
        assert isinstance(condition, exp.EQ)
        assert condition.this == division.expression


def test_every_history_query_transpiles_to_spark_sql() -> None:
    """The 5 queries of the product's spec, in Spark's dialect, still name every feature."""
    queries = compile_sql(load_spec())
    assert len(queries) == 5
    names = 0
    for sql in queries.values():
        spark = to_spark_sql(sql)
        tree = sqlglot.parse_one(spark, read="spark")
        names += len(tree.expressions) - 1  # the key, then one column per feature
        assert "VAR_SAMP" not in spark  # Spark's name of it is VARIANCE
        assert ("VARIANCE(" in spark) == ("VAR_SAMP(" in sql)
    assert names == 550


def test_engine_is_chosen_by_config_or_switch() -> None:
    """``features.engine`` names the engine, its block configures it, a switch overrides."""
    config = compose_config(["features.duckdb.threads=3"])[1].features
    assert config.engine == "duckdb" and config.spark.master == "local[2]"
    engine = engine_from_config(config)
    try:
        assert isinstance(engine, DuckDBEngine) and engine.workers == 3
    finally:
        engine.close()
    with pytest.raises(ValueError, match="known: \\['duckdb', 'spark'\\]"):
        open_engine("postgres")
