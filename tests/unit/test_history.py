"""History aggregation: the spec, the SQL it compiles to, and the values it computes.

Expectations are worked out by hand on a tiny data set whose every row is written
below, so that each rule (n-1 variance, missing-value handling, fixed one-hot
vocabularies, sentinels, filters, the bureau_balance pre-aggregation) is checked
on a case small enough to verify with pencil and paper. The real heads are then
compared value by value with the pandas oracle.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from credit_scoring.data.schema import SIDE_TABLES, TABLES, features_795
from credit_scoring.errors import SchemaError
from credit_scoring.features.engine import DuckDBEngine, SqlEngine, open_engine
from credit_scoring.features.history import (
    DEFAULT_SPEC_PATH,
    HistorySpec,
    HistorySpecError,
    aggregate_history,
    compile_sql,
    load_spec,
)
from tests.oracle import oracle_features
from tests.oracle.heads import linked_heads, real_heads_dir

#: The application-level block of features_795 comes first; the history block follows.
N_APPLICATION_FEATURES = 245
HISTORY_FEATURES = features_795()[N_APPLICATION_FEATURES:]
SENTINEL = 365243
_ARROW_KINDS = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}


def _table(name: str, header: str, *rows: tuple[Any, ...]) -> pa.Table:
    """An Arrow table of the declared types from the ``header`` columns' values;
    the other columns are 0 (int) or missing."""
    given = header.split()
    columns = {}
    for column in TABLES[name].columns:
        if column.name in given:
            values = [row[given.index(column.name)] for row in rows]
        else:
            values = [0 if column.kind == "int" else None] * len(rows)
        columns[column.name] = pa.array(values, type=_ARROW_KINDS[column.kind])
    return pa.table(columns)


def _read_csv_dir(raw_dir: Path) -> dict[str, pa.Table]:
    """The side tables of a directory of Home Credit CSVs, read with the declared types."""
    tables = {}
    for name in SIDE_TABLES:
        schema = TABLES[name]
        options = pcsv.ConvertOptions(
            column_types={c.name: _ARROW_KINDS[c.kind] for c in schema.columns},
            strings_can_be_null=True,
        )
        tables[name] = pcsv.read_csv(raw_dir / schema.file_name, convert_options=options)
    return tables


@pytest.fixture(scope="module")
def spec() -> HistorySpec:
    return load_spec()


@pytest.fixture(scope="module")
def tiny() -> dict[str, pa.Table]:
    """Clients 1-4. 1 has some of everything; 2 one closed credit without monthly
    balances; 3 one cancelled application; 4 only a credit card."""
    return {
        "bureau": _table(
            "bureau",
            "SK_ID_CURR SK_ID_BUREAU CREDIT_ACTIVE CREDIT_CURRENCY DAYS_CREDIT AMT_CREDIT_SUM",
            (1, 11, "Active", "currency 1", -100, 1000.0),
            (1, 12, "Closed", "currency 1", -200, 3000.0),
            (1, 13, "Active", None, -400, None),
            (2, 21, "Closed", "currency 2", -50, 500.0),
        ),
        "bureau_balance": _table(
            "bureau_balance",
            "SK_ID_BUREAU MONTHS_BALANCE STATUS",
            (11, 0, "C"),
            (11, -1, "0"),
            (11, -2, "X"),
            (12, 0, "C"),
            (12, -1, None),
            (13, -5, "1"),
            (99, -90, "5"),  # a credit bureau does not list: joins nothing
        ),
        "previous_application": _table(
            "previous_application",
            "SK_ID_PREV SK_ID_CURR NAME_CONTRACT_STATUS AMT_APPLICATION AMT_CREDIT DAYS_DECISION "
            "DAYS_FIRST_DRAWING",
            (101, 1, "Approved", 100.0, 50.0, -10, float(SENTINEL)),
            (102, 1, "Refused", 100.0, 0.0, -20, -5.0),
            (103, 1, "Approved", 0.0, 0.0, -60, None),
            (301, 3, "Canceled", 10.0, 20.0, -7, None),
        ),
        "POS_CASH_balance": _table(
            "POS_CASH_balance",
            "SK_ID_PREV SK_ID_CURR MONTHS_BALANCE NAME_CONTRACT_STATUS SK_DPD",
            (101, 1, -1, "Active", 3),
            (101, 1, -2, None, 0),
        ),
        "installments_payments": _table(
            "installments_payments",
            "SK_ID_PREV SK_ID_CURR NUM_INSTALMENT_VERSION DAYS_INSTALMENT DAYS_ENTRY_PAYMENT "
            "AMT_INSTALMENT AMT_PAYMENT",
            (101, 1, 1.0, -30.0, -25.0, 100.0, 50.0),  # half paid, 5 days late
            (101, 1, 1.0, -60.0, -70.0, 100.0, 100.0),  # paid in full, 10 days early
            (101, 1, None, -90.0, None, 100.0, None),  # not paid (yet)
        ),
        "credit_card_balance": _table(
            "credit_card_balance",
            "SK_ID_PREV SK_ID_CURR MONTHS_BALANCE AMT_BALANCE NAME_CONTRACT_STATUS",
            (401, 4, -1, 10.0, "Active"),
            (401, 4, -2, 30.0, "Active"),
        ),
    }


@pytest.fixture(scope="module")
def tiny_features(tiny: dict[str, pa.Table], spec: HistorySpec) -> pd.DataFrame:
    return aggregate_history(tiny, spec)


# --------------------------------------------------------------------------- spec


def test_default_spec_yields_the_550_history_features_in_order(spec: HistorySpec) -> None:
    assert len(HISTORY_FEATURES) == 550
    assert spec.feature_names() == HISTORY_FEATURES


def test_spec_round_trips_through_plain_data_and_a_yaml_file(
    spec: HistorySpec, tmp_path: Path
) -> None:
    assert load_spec(spec.to_dict()) == spec
    path = tmp_path / "history.yaml"
    path.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
    assert load_spec(path) == spec
    assert load_spec(OmegaConf.load(DEFAULT_SPEC_PATH)) == spec


def test_hydra_mounts_the_spec_under_features_history(spec: HistorySpec, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_SPEC_PATH.parent, conf / "features")
    (conf / "config.yaml").write_text("defaults:\n  - features: default\n  - _self_\n")
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose("config", overrides=["features.duckdb.threads=1"])
    assert load_spec(cfg.features.history) == spec
    assert cfg.features.engine == "duckdb"


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d["families"]["bureau"]["columns"].update(DAYS_CREDT=["MIN"]), "DAYS_CREDT"),
        (lambda d: d["families"]["previous"]["columns"].update(AMT_CREDIT=["MEDIAN"]), "MEDIAN"),
        (lambda d: d["families"]["pos_cash"]["one_hot"].update(SK_DPD=["MEAN"]), "SK_DPD"),
        (lambda d: d["families"]["credit_card"].update(table="credit_cards"), "credit_cards"),
        (lambda d: d["tables"]["bureau"].update(join=["bureau_monthly"]), "bureau_monthly"),
        (lambda d: d["families"]["bureau"].update(prefx="B_"), "prefx"),
    ],
    ids=["column", "aggregation", "one-hot-of-numeric", "table", "join", "key"],
)
def test_a_bad_spec_entry_is_named_in_the_error(spec: HistorySpec, edit: Any, where: str) -> None:
    raw = spec.to_dict()
    edit(raw)
    with pytest.raises(HistorySpecError, match=where):
        load_spec(raw)


# --------------------------------------------------------------------------- SQL

#: DuckDB-only (or non-portable) constructs the compiled SQL must not use.
_NON_PORTABLE = {
    "COLUMNS(": r"\bCOLUMNS\s*\(",
    "EXCLUDE": r"\bEXCLUDE\b",
    "* REPLACE": r"\*\s*REPLACE\b",
    "QUALIFY": r"\bQUALIFY\b",
    "GROUP BY ALL": r"\bGROUP\s+BY\s+ALL\b",
    "list functions": r"\b(LIST_\w+|ARRAY_AGG|UNNEST|STRUCT_PACK)\b",
    "list literal": r"\[",
    ":: cast": r"::",
    "lambda": r"->",
    "PIVOT": r"\bPIVOT\b",
    "ASOF": r"\bASOF\b",
    "quoted identifier": r'"',
    "statement separator": r";",
}


def test_compiled_sql_is_one_portable_query_per_side_table(spec: HistorySpec) -> None:
    queries = compile_sql(spec)
    assert set(queries) == set(SIDE_TABLES) - {"bureau_balance"}
    for table, sql in queries.items():
        for construct, pattern in _NON_PORTABLE.items():
            assert not re.search(pattern, sql, re.IGNORECASE), f"{table} uses {construct}"
        assert sql.lstrip().upper().startswith("WITH")
    assert "VAR_SAMP(" in queries["bureau"]
    assert "LEFT JOIN bureau_balance_per_key" in queries["bureau"]
    assert (
        "NULLIF(previous_application.DAYS_FIRST_DRAWING, 365243)" in queries["previous_application"]
    )


# --------------------------------------------------------------------------- values


def test_output_is_float64_indexed_by_every_client_with_history(
    tiny_features: pd.DataFrame,
) -> None:
    assert tiny_features.index.name == "SK_ID_CURR"
    assert tiny_features.index.tolist() == [1, 2, 3, 4]
    assert tuple(tiny_features.columns) == HISTORY_FEATURES
    assert (tiny_features.dtypes == np.float64).all()


def test_variance_is_the_sample_variance_and_missing_for_a_single_row(
    tiny_features: pd.DataFrame,
) -> None:
    f = tiny_features
    assert f.at[1, "BURO_DAYS_CREDIT_VAR"] == pytest.approx(statistics.variance([-100, -200, -400]))
    assert f.at[1, "BURO_DAYS_CREDIT_MEAN"] == pytest.approx(-700 / 3)
    assert math.isnan(f.at[2, "BURO_DAYS_CREDIT_VAR"])
    assert f.at[2, "BURO_DAYS_CREDIT_MEAN"] == -50
    # Two non-missing payment shares (0.5 and 1.0) out of three instalments.
    assert f.at[1, "INSTAL_PAYMENT_PERC_VAR"] == pytest.approx(statistics.variance([0.5, 1.0]))


def test_missing_values_are_skipped_and_sum_to_zero(tiny_features: pd.DataFrame) -> None:
    f = tiny_features
    assert f.at[1, "BURO_AMT_CREDIT_SUM_MEAN"] == pytest.approx(2000.0)
    assert f.at[1, "BURO_AMT_CREDIT_SUM_SUM"] == pytest.approx(4000.0)
    # Every AMT_CREDIT_SUM_LIMIT is missing: the mean is missing, the sum is 0.
    assert math.isnan(f.at[1, "BURO_AMT_CREDIT_SUM_LIMIT_MEAN"])
    assert f.at[1, "BURO_AMT_CREDIT_SUM_LIMIT_SUM"] == 0
    assert f.at[1, "INSTAL_AMT_PAYMENT_SUM"] == pytest.approx(150.0)
    assert f.at[1, "INSTAL_NUM_INSTALMENT_VERSION_NUNIQUE"] == 1
    # Counts include the rows with missing values.
    assert f.at[1, "INSTAL_COUNT"] == 3
    assert f.at[1, "POS_COUNT"] == f.at[1, "POS_MONTHS_BALANCE_SIZE"] == 2


def test_a_client_without_rows_in_a_table_has_nan_for_its_families(
    tiny_features: pd.DataFrame,
) -> None:
    f = tiny_features
    cc = [c for c in HISTORY_FEATURES if c.startswith("CC_")]
    buro = [c for c in HISTORY_FEATURES if c.startswith(("BURO_", "ACTIVE_", "CLOSED_"))]
    assert f.loc[[1, 2, 3], cc].isna().all().all()
    assert f.loc[4, cc].notna().any()
    # Even the counts and sums, which are 0 only for clients with rows.
    assert f.loc[[3, 4], buro].isna().all().all()
    assert math.isnan(f.at[4, "INSTAL_COUNT"])
    assert math.isnan(f.at[3, "BURO_AMT_CREDIT_SUM_LIMIT_SUM"])


def test_one_hot_shares_follow_the_schema_vocabulary(tiny_features: pd.DataFrame) -> None:
    f = tiny_features
    assert f.at[1, "BURO_CREDIT_ACTIVE_Active_MEAN"] == pytest.approx(2 / 3)
    # Declared but absent from the data: a column of zeros for clients with rows.
    assert f.at[1, "BURO_CREDIT_ACTIVE_Baddebt_MEAN"] == 0
    assert f.at[3, "PREV_NAME_CONTRACT_STATUS_Unusedoffer_MEAN"] == 0
    assert f.at[4, "CC_NAME_CONTRACT_STATUS_Refused_MAX"] == 0
    # `nan` is the share of missing categories.
    assert f.at[1, "BURO_CREDIT_CURRENCY_nan_MEAN"] == pytest.approx(1 / 3)
    assert f.at[1, "POS_NAME_CONTRACT_STATUS_nan_MEAN"] == pytest.approx(0.5)
    assert f.at[1, "BURO_CREDIT_TYPE_nan_MEAN"] == 1
    # Credit-card one-hots take every aggregation, the variance too.
    assert f.at[4, "CC_NAME_CONTRACT_STATUS_Active_SUM"] == 2
    assert f.at[4, "CC_NAME_CONTRACT_STATUS_Active_VAR"] == 0
    assert f.at[4, "CC_AMT_BALANCE_VAR"] == pytest.approx(statistics.variance([10.0, 30.0]))


def test_active_closed_approved_refused_keep_only_their_rows(tiny_features: pd.DataFrame) -> None:
    f = tiny_features
    assert f.at[1, "ACTIVE_DAYS_CREDIT_MEAN"] == pytest.approx((-100 - 400) / 2)
    assert f.at[1, "CLOSED_DAYS_CREDIT_MEAN"] == -200
    assert math.isnan(f.at[1, "CLOSED_DAYS_CREDIT_VAR"])
    # Client 2 has only a closed credit: no ACTIVE_ values at all, not zeros.
    assert f.at[2, "CLOSED_DAYS_CREDIT_MAX"] == -50
    assert math.isnan(f.at[2, "ACTIVE_DAYS_CREDIT_MAX"])
    assert math.isnan(f.at[2, "ACTIVE_MONTHS_BALANCE_SIZE_SUM"])
    assert f.at[1, "APPROVED_DAYS_DECISION_MEAN"] == pytest.approx((-10 - 60) / 2)
    assert f.at[1, "REFUSED_DAYS_DECISION_MEAN"] == -20
    assert f.at[3, "PREV_DAYS_DECISION_MEAN"] == -7
    assert math.isnan(f.at[3, "APPROVED_DAYS_DECISION_MEAN"])
    assert math.isnan(f.at[3, "REFUSED_DAYS_DECISION_MEAN"])


def test_bureau_balance_is_aggregated_per_credit_before_per_client(
    tiny_features: pd.DataFrame,
) -> None:
    f = tiny_features
    # Credits 11, 12, 13 have 3, 2 and 1 months; credit 21 (client 2) none.
    assert f.at[1, "BURO_MONTHS_BALANCE_SIZE_MEAN"] == pytest.approx(2.0)
    assert f.at[1, "BURO_MONTHS_BALANCE_SIZE_SUM"] == 6
    assert f.at[1, "ACTIVE_MONTHS_BALANCE_SIZE_SUM"] == 3 + 1
    assert f.at[1, "BURO_MONTHS_BALANCE_MIN_MIN"] == -5
    assert f.at[1, "BURO_MONTHS_BALANCE_MAX_MAX"] == 0
    # The mean over credits of each credit's share, not the share over all months.
    assert f.at[1, "BURO_STATUS_C_MEAN_MEAN"] == pytest.approx((1 / 3 + 1 / 2 + 0) / 3)
    assert f.at[1, "BURO_STATUS_nan_MEAN_MEAN"] == pytest.approx((0 + 1 / 2 + 0) / 3)
    assert f.at[1, "BURO_STATUS_5_MEAN_MEAN"] == 0
    # A credit without monthly balances: no shares, 0 months in the sum.
    assert math.isnan(f.at[2, "BURO_STATUS_C_MEAN_MEAN"])
    assert math.isnan(f.at[2, "BURO_MONTHS_BALANCE_SIZE_MEAN"])
    assert f.at[2, "BURO_MONTHS_BALANCE_SIZE_SUM"] == 0


def test_ratios_divide_like_pandas_and_dpd_is_never_negative(
    tiny_features: pd.DataFrame,
) -> None:
    f = tiny_features
    # APP_CREDIT_PERC of client 1: 100/50 = 2, 100/0 = +inf, 0/0 = missing.
    assert f.at[1, "PREV_APP_CREDIT_PERC_MIN"] == 2
    assert f.at[1, "PREV_APP_CREDIT_PERC_MAX"] == math.inf
    assert f.at[1, "PREV_APP_CREDIT_PERC_MEAN"] == math.inf
    assert math.isnan(f.at[1, "PREV_APP_CREDIT_PERC_VAR"])
    assert f.at[1, "APPROVED_APP_CREDIT_PERC_MEAN"] == 2
    assert math.isnan(f.at[1, "APPROVED_APP_CREDIT_PERC_VAR"])
    # DPD 5, 0 and 0 (missing payment date); DBD 0, 10, 0.
    assert f.at[1, "INSTAL_DPD_MEAN"] == pytest.approx(5 / 3)
    assert f.at[1, "INSTAL_DBD_SUM"] == 10
    assert f.at[1, "INSTAL_DBD_MAX"] == 10
    assert f.at[1, "INSTAL_PAYMENT_DIFF_SUM"] == 50


def test_sentinel_days_are_missing(spec: HistorySpec, tiny: dict[str, pa.Table]) -> None:
    raw = spec.to_dict()
    raw["families"]["previous"]["columns"]["DAYS_FIRST_DRAWING"] = ["MAX", "MEAN", "SIZE"]
    f = aggregate_history(tiny, load_spec(raw))
    # 365243, -5 and missing: only -5 is a duration.
    assert f.at[1, "PREV_DAYS_FIRST_DRAWING_MAX"] == -5
    assert f.at[1, "PREV_DAYS_FIRST_DRAWING_MEAN"] == -5
    assert f.at[1, "PREV_DAYS_FIRST_DRAWING_SIZE"] == 3


# --------------------------------------------------------------------------- degraded input


def test_a_missing_side_table_gives_nan_features_and_a_warning(
    tiny: dict[str, pa.Table], spec: HistorySpec, caplog: pytest.LogCaptureFixture
) -> None:
    tables = {**tiny, "credit_card_balance": None}
    with caplog.at_level(logging.WARNING, logger="credit_scoring.features.history"):
        f = aggregate_history(tables, spec)
    assert "credit_card_balance" in caplog.text
    assert tuple(f.columns) == HISTORY_FEATURES
    assert f.index.tolist() == [1, 2, 3]
    assert f.filter(like="CC_").isna().all().all()
    assert f.at[1, "INSTAL_COUNT"] == 3


def test_missing_bureau_balance_blanks_only_the_features_built_from_it(
    tiny: dict[str, pa.Table], spec: HistorySpec, caplog: pytest.LogCaptureFixture
) -> None:
    tables = {k: v for k, v in tiny.items() if k != "bureau_balance"}
    with caplog.at_level(logging.WARNING, logger="credit_scoring.features.history"):
        f = aggregate_history(tables, spec)
    assert "bureau_balance" in caplog.text
    bureau = [c for c in HISTORY_FEATURES if c.startswith(("BURO_", "ACTIVE_", "CLOSED_"))]
    from_balance = [c for c in bureau if "MONTHS_BALANCE" in c or c.startswith("BURO_STATUS_")]
    assert len(from_balance) == 4 * 3 + 9
    assert f[from_balance].isna().all().all()
    assert f.at[1, "BURO_DAYS_CREDIT_MEAN"] == pytest.approx(-700 / 3)


def test_a_table_without_a_declared_column_is_a_schema_error(
    tiny: dict[str, pa.Table], spec: HistorySpec
) -> None:
    tables = {**tiny, "bureau": tiny["bureau"].drop_columns(["DAYS_CREDIT"])}
    with pytest.raises(SchemaError, match=r"bureau\.csv.*DAYS_CREDIT"):
        aggregate_history(tables, spec)


def test_a_category_column_of_numbers_is_a_schema_error(
    tiny: dict[str, pa.Table], spec: HistorySpec
) -> None:
    balance = tiny["bureau_balance"]
    status = pa.array([0] * balance.num_rows, type=pa.int64())
    tables = {**tiny, "bureau_balance": balance.set_column(2, "STATUS", status)}
    with pytest.raises(SchemaError, match="STATUS"):
        aggregate_history(tables, spec)


# --------------------------------------------------------------------------- engine, real data


def test_an_open_engine_is_used_and_left_open(tiny: dict[str, pa.Table], spec: HistorySpec) -> None:
    import duckdb

    with DuckDBEngine(threads=1, memory_limit="256MB") as engine:
        assert isinstance(engine, SqlEngine)
        f = aggregate_history(tiny, spec, engine=engine)
        assert engine.query("SELECT 42 AS n").column("n").to_pylist() == [42]  # still open
        # ...but no longer holding the side tables, which run to gigabytes at full scale.
        with pytest.raises(duckdb.CatalogException, match="bureau"):
            engine.query("SELECT COUNT(*) AS n FROM bureau")
    assert f.at[1, "POS_COUNT"] == 2
    with pytest.raises(ValueError, match="duckdb"):
        open_engine("oracle-db")


def test_real_heads_run_as_they_are(spec: HistorySpec) -> None:
    tables = _read_csv_dir(real_heads_dir())
    f = aggregate_history(tables, spec)
    clients = set()
    for name in SIDE_TABLES:
        if "SK_ID_CURR" in tables[name].column_names:
            clients |= set(tables[name].column("SK_ID_CURR").to_pylist())
    assert set(f.index) == clients
    assert tuple(f.columns) == HISTORY_FEATURES
    assert f.notna().any().sum() > 300


def test_real_heads_equal_the_pandas_oracle(spec: HistorySpec, tmp_path: Path) -> None:
    raw_dir = linked_heads(tmp_path)
    f = aggregate_history(_read_csv_dir(raw_dir), spec)
    oracle = oracle_features(raw_dir).set_index("SK_ID_CURR")
    # The oracle lists every train applicant; those with history are ours.
    with_history = oracle.index.intersection(f.index)
    assert len(with_history) == len(f) > 50
    assert oracle.drop(index=with_history)[list(HISTORY_FEATURES)].isna().all().all()
    pd.testing.assert_frame_equal(
        f.loc[with_history],
        oracle.loc[with_history, list(HISTORY_FEATURES)],
        check_exact=False,
        rtol=1e-9,
        atol=1e-9,
        check_names=False,
    )
