"""The pandas oracle itself: the 795 names in order, and the kernel semantics it must keep."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.schema import SIDE_TABLES, TABLES, feature_name, features_795
from tests.oracle import oracle_features
from tests.oracle.heads import linked_heads, real_heads_dir

#: Index of the first history feature: the application block is the first 245.
N_APPLICATION_FEATURES = 245


@pytest.fixture(scope="module")
def linked_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return linked_heads(tmp_path_factory.mktemp("linked_heads"))


@pytest.fixture(scope="module")
def linked(linked_dir: Path) -> pd.DataFrame:
    return oracle_features(linked_dir).set_index("SK_ID_CURR")


@pytest.fixture()
def raw(linked_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the linked heads, for a test to damage."""
    copy = tmp_path / "raw"
    copy.mkdir()
    for path in linked_dir.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


def _read(raw_dir: Path, table: str) -> pd.DataFrame:
    dtypes = {c.name: "str" for c in TABLES[table].categorical}
    return pd.read_csv(raw_dir / TABLES[table].file_name, dtype=dtypes)


def test_real_heads_yield_exactly_the_795_features_in_order() -> None:
    heads = real_heads_dir()
    features = oracle_features(heads)
    applicants = pd.read_csv(heads / "application_train.csv", usecols=["SK_ID_CURR", "CODE_GENDER"])

    assert list(features.columns) == ["SK_ID_CURR", "TARGET", *features_795()]
    assert (features.dtypes.iloc[2:] == np.float64).all()
    kept = applicants.loc[applicants["CODE_GENDER"] != "XNA", "SK_ID_CURR"]
    assert features["SK_ID_CURR"].tolist() == kept.tolist()


def test_history_features_are_missing_for_clients_without_rows(
    linked_dir: Path, linked: pd.DataFrame
) -> None:
    with_history: set[int] = set()
    for table in ("bureau", *SIDE_TABLES[2:]):
        with_history |= set(_read(linked_dir, table)["SK_ID_CURR"])
    without = linked.index.difference(sorted(with_history))

    assert len(without) > 0
    history = linked.loc[without, list(features_795()[N_APPLICATION_FEATURES:])]
    assert history.isna().all().all()


def test_absent_declared_category_is_zero_for_clients_with_rows(
    linked_dir: Path, linked: pd.DataFrame
) -> None:
    bureau = _read(linked_dir, "bureau")
    vocabulary = TABLES["bureau"].column("CREDIT_TYPE").vocabulary or ()
    absent = [v for v in vocabulary if v not in set(bureau["CREDIT_TYPE"])]
    clients = sorted(set(bureau["SK_ID_CURR"]))

    assert absent, "the heads hold every credit type; pick another column"
    for value in absent:
        column = feature_name(f"BURO_CREDIT_TYPE_{value}_MEAN")
        assert (linked.loc[clients, column] == 0).all(), column


def test_variance_is_the_sample_variance(linked_dir: Path, linked: pd.DataFrame) -> None:
    bureau = _read(linked_dir, "bureau")
    checked = {"single": 0, "several": 0}
    for client, days in bureau.groupby("SK_ID_CURR")["DAYS_CREDIT"]:
        got = linked.loc[client, "BURO_DAYS_CREDIT_VAR"]
        if len(days) == 1:
            assert np.isnan(got)
            checked["single"] += 1
        else:
            assert got == pytest.approx(statistics.variance(days.tolist()), rel=1e-12)
            checked["several"] += 1
    assert checked["single"] > 0
    assert checked["several"] > 0


def test_missing_payment_date_counts_as_zero_days_and_zero_sum(raw: Path) -> None:
    instalments = _read(raw, "installments_payments")
    client = int(instalments["SK_ID_CURR"].iloc[0])
    only = instalments[instalments["SK_ID_CURR"] == client].head(1).copy()
    only["DAYS_ENTRY_PAYMENT"] = np.nan
    rest = instalments[instalments["SK_ID_CURR"] != client]
    pd.concat([only, rest]).to_csv(raw / "installments_payments.csv", index=False)

    row = oracle_features(raw).set_index("SK_ID_CURR").loc[client]

    # The kernel's ``x if x > 0 else 0`` turns a missing day count into 0 ...
    assert row["INSTAL_DPD_MAX"] == 0
    assert row["INSTAL_DBD_MAX"] == 0
    # ... and pandas sums nothing to 0 while the mean of nothing stays missing.
    assert row["INSTAL_DAYS_ENTRY_PAYMENT_SUM"] == 0
    assert np.isnan(row["INSTAL_DAYS_ENTRY_PAYMENT_MEAN"])


def test_xna_gender_is_dropped_and_undeclared_category_is_all_zero(raw: Path) -> None:
    applicants = _read(raw, "application_train")
    dropped, odd = applicants["SK_ID_CURR"].iloc[:2]
    applicants.loc[0, "CODE_GENDER"] = "XNA"
    applicants.loc[1, "NAME_TYPE_SUITE"] = "Neighbours"
    applicants.to_csv(raw / "application_train.csv", index=False)

    features = oracle_features(raw).set_index("SK_ID_CURR")

    assert dropped not in features.index
    suite = [c for c in features_795() if c.startswith("NAME_TYPE_SUITE_")]
    assert len(suite) == len(TABLES["application_train"].column("NAME_TYPE_SUITE").vocabulary or ())
    assert (features.loc[odd, suite] == 0).all()
