"""The history SQL in other engines' dialects: sqlglot transpiles it, one rule is ours.

:mod:`credit_scoring.features.history` compiles the spec to one SQL text, written
for DuckDB (the embedded default). Any other engine runs that same text after
``sqlglot`` has rewritten it into its dialect, so there is exactly one
implementation of every feature: the spec and its compiler.

sqlglot maps names and syntax (``VAR_SAMP`` is Spark's ``VARIANCE``, ``::`` casts,
``//`` integer division...), not semantics where the engines disagree. One such
disagreement matters here: DuckDB divides floats as IEEE 754 does (``x/0`` is
``±inf``, ``0/0`` NaN), while Spark returns NULL (``spark.sql.ansi.enabled=false``)
or fails the query (ANSI mode, Spark 4's default). :func:`to_spark_sql` therefore
rewrites every ``/`` into a guarded division that gives DuckDB's answer on Spark
in either mode, so a derived column of the spec (``{ratio: ...}`` or a plain
expression with ``/``) means the same on both engines.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

#: The dialect the history compiler writes.
SOURCE_DIALECT = "duckdb"


def _double(value: str) -> exp.Expression:
    """``CAST('<value>' AS DOUBLE)``: Spark and DuckDB both read IEEE specials from text."""
    return exp.cast(exp.Literal.string(value), exp.DataType.build("DOUBLE"))


def _ieee_division(node: exp.Expression) -> exp.Expression:
    """``a / b`` as DuckDB computes it, written so that Spark never divides by zero.

    ``CASE WHEN b = 0 THEN a * inf ELSE a / b END``: ``a * inf`` is ``+inf`` for a
    positive ``a``, ``-inf`` for a negative one and NaN for 0 or NaN, exactly IEEE's
    ``a / +0``; a NULL operand stays NULL. A negative zero divides as a positive
    one: Spark does not keep the sign of a zero through its own conversions, so no
    engine-neutral SQL could tell them apart.
    """
    if not isinstance(node, exp.Div):
        return node
    numerator = node.this.transform(_ieee_division)
    denominator = node.expression.transform(_ieee_division)
    division = exp.Div(this=numerator, expression=denominator.copy())
    return exp.Case(
        ifs=[
            exp.If(
                this=exp.EQ(this=denominator.copy(), expression=exp.Literal.number(0)),
                true=exp.Mul(this=exp.Paren(this=numerator.copy()), expression=_double("Infinity")),
            )
        ],
        default=division,
    )


@lru_cache(maxsize=64)
def transpile(sql: str, dialect: str) -> str:
    """``sql`` (DuckDB dialect, one statement) in sqlglot's ``dialect``, DuckDB's division kept.

    Cached: the history compiler produces the same few queries on every build.
    Raises ``sqlglot.errors.ParseError`` for text DuckDB's grammar does not accept.
    """
    tree = sqlglot.parse_one(sql, read=SOURCE_DIALECT)
    return tree.transform(_ieee_division).sql(dialect=dialect, pretty=True)


def to_spark_sql(sql: str) -> str:
    """``sql`` (DuckDB dialect) as Spark SQL meaning the same, ANSI mode or not."""
    return transpile(sql, "spark")
