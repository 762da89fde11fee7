"""The correctness oracle: the 795 features computed by a deliberately plain pandas recipe.

The product computes the features with DuckDB SQL compiled from a declarative
spec; this package recomputes them the way the original notebook did, so that
tests and benchmarks can compare the two value by value.
"""

from tests.oracle.recipe import oracle_features

__all__ = ["oracle_features"]
