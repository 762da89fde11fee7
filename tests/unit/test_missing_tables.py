"""Every combination of present and absent optional side tables builds the 795 features.

A lender often brings only some of the Home Credit side tables (the application and
credit-bureau tables alone is the common case). The five optional families are the
bureau one (bureau + bureau_balance), previous_application, POS_CASH_balance,
installments_payments and credit_card_balance: all 2^5 combinations of them run on
the real heads (keys linked onto the head applicants), and each must give the 795
columns, every feature of an absent family missing, every feature of a present one
equal to the complete build's, and a warning naming each absent file. One more case
drops bureau_balance alone, whose absence empties the bureau features it feeds.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.schema import TABLES, features_795
from credit_scoring.features.build import MATRIX_FILE, TRAIN_FILE, build_features
from credit_scoring.features.engine import SqlEngine, open_engine
from credit_scoring.features.history import HistorySpec, load_spec
from tests.oracle.heads import linked_heads

#: The optional families: the tables each one needs, the prefixes of its features.
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bureau": (("bureau", "bureau_balance"), ("BURO_", "ACTIVE_", "CLOSED_")),
    "previous": (("previous_application",), ("PREV_", "APPROVED_", "REFUSED_")),
    "pos_cash": (("POS_CASH_balance",), ("POS_",)),
    "installments": (("installments_payments",), ("INSTAL_",)),
    "credit_card": (("credit_card_balance",), ("CC_",)),
}

COMBINATIONS = [
    frozenset(absent)
    for n in range(len(FAMILIES) + 1)
    for absent in itertools.combinations(FAMILIES, n)
]

#: The bureau features aggregated from bureau_balance's months (BURO_MONTHS_BALANCE_MIN_MIN,
#: BURO_STATUS_C_MEAN_MEAN, ...).
_FROM_BALANCE = ("MONTHS_BALANCE_", "STATUS_")


def _features_of(prefixes: tuple[str, ...]) -> set[str]:
    return {f for f in features_795() if f.startswith(prefixes)}


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return linked_heads(tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="module")
def engine() -> Iterator[SqlEngine]:
    with open_engine(threads=1) as opened:  # one engine for the 33 builds: no reconnects
        yield opened


@pytest.fixture(scope="module")
def spec() -> HistorySpec:
    return load_spec()  # read once, not by each of the 33 builds


@pytest.fixture(scope="module")
def complete(
    raw: Path, engine: SqlEngine, tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("complete") / "features"
    build_features(raw, out, engine=engine)
    return pd.read_parquet(out / MATRIX_FILE)


def _delivery(raw: Path, into: Path, absent_tables: set[str]) -> Path:
    into.mkdir()
    for table in TABLES.values():
        if table.name not in absent_tables:
            shutil.copy(raw / table.file_name, into / table.file_name)
    return into


def _check(
    raw: Path,
    tmp_path: Path,
    spec: HistorySpec,
    engine: SqlEngine,
    complete: pd.DataFrame,
    absent_tables: set[str],
) -> None:
    delivery = _delivery(raw, tmp_path / "raw", absent_tables)
    summary = build_features(delivery, tmp_path / "features", spec=spec, engine=engine)

    matrix = pd.read_parquet(tmp_path / "features" / MATRIX_FILE)
    assert list(matrix.columns) == ["SK_ID_CURR", "TARGET", *features_795()]
    assert len(matrix) == len(complete)
    train = pd.read_parquet(tmp_path / "features" / TRAIN_FILE)
    assert train["SK_ID_CURR"].is_unique and len(train) == summary.rows[TRAIN_FILE]

    empty = set().union(
        *(
            _features_of(prefixes)
            for tables, prefixes in FAMILIES.values()
            if tables[0] in absent_tables
        )
    )
    if "bureau_balance" in absent_tables:
        bureau = _features_of(FAMILIES["bureau"][1])
        empty |= {f for f in bureau if f.split("_", 1)[1].startswith(_FROM_BALANCE)}
    assert matrix[sorted(empty)].isna().all(axis=None)
    kept = [f for f in features_795() if f not in empty]
    np.testing.assert_array_equal(matrix[kept].to_numpy(), complete[kept].to_numpy())

    warnings = "\n".join(summary.warnings)
    for table in absent_tables:
        assert f"{TABLES[table].file_name}: optional file is missing" in warnings


@pytest.mark.parametrize(
    "absent", COMBINATIONS, ids=lambda a: "+".join(sorted(a)) or "nothing-missing"
)
def test_every_combination_of_absent_families(
    absent: frozenset[str],
    raw: Path,
    tmp_path: Path,
    spec: HistorySpec,
    engine: SqlEngine,
    complete: pd.DataFrame,
) -> None:
    tables = {t for family in absent for t in FAMILIES[family][0]}
    _check(raw, tmp_path, spec, engine, complete, tables)


def test_bureau_without_its_balance(
    raw: Path, tmp_path: Path, spec: HistorySpec, engine: SqlEngine, complete: pd.DataFrame
) -> None:
    _check(raw, tmp_path, spec, engine, complete, {"bureau_balance"})
