"""``build_features`` equals the plain pandas recipe on all 795 features, value by value.

The data are made hard on purpose: a small synthetic set, then edited so that every
corner of the recipe's semantics is reached at least once (a whole category missing
from a side table, clients without any history, a single bureau credit so the
variance is undefined, credits without monthly balance, missing and undeclared
categories, zero denominators, missing payment dates, XNA genders); and the real
files' first rows, as they are and with their keys linked to the head applicants.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.schema import TABLES, features_795
from credit_scoring.data.synthetic import generate
from credit_scoring.features.build import build_features
from tests.oracle import oracle_features
from tests.oracle.heads import linked_heads, real_heads_dir

N_CLIENTS = 1_500
SEED = 7
#: Both sides compute in float64, but sum in different orders: a few ulps of the
#: largest term, relative, and an absolute floor far below any meaningful value.
RTOL = 1e-9
ATOL = 1e-9
#: The application block comes first in features_795(); the history aggregates follow.
N_APPLICATION_FEATURES = 245


def _read(raw: Path, table: str) -> pd.DataFrame:
    dtypes = {c.name: "str" for c in TABLES[table].categorical}
    return pd.read_csv(raw / TABLES[table].file_name, dtype=dtypes)


def _write(raw: Path, table: str, df: pd.DataFrame) -> None:
    df.to_csv(raw / TABLES[table].file_name, index=False)


@dataclass(frozen=True)
class Edits:
    """Which applicants ``make_adversarial`` singled out."""

    no_history: tuple[int, ...]
    single_bureau_credit: int


def make_adversarial(raw: Path) -> Edits:
    """Edit a generated data set in place so that it reaches the recipe's edge cases."""
    rng = np.random.default_rng(SEED)
    app = _read(raw, "application_train")
    bureau = _read(raw, "bureau")
    bb = _read(raw, "bureau_balance")
    prev = _read(raw, "previous_application")
    pos = _read(raw, "POS_CASH_balance")
    ins = _read(raw, "installments_payments")
    cc = _read(raw, "credit_card_balance")

    # Clients without any history; their credits' monthly rows stay behind as orphans.
    no_history = app["SK_ID_CURR"].sample(10, random_state=SEED)
    bureau, prev, pos, ins, cc = (
        t[~t["SK_ID_CURR"].isin(no_history)] for t in (bureau, prev, pos, ins, cc)
    )
    # A client with a single bureau credit (variance undefined) and no monthly balance
    # for it (MONTHS_BALANCE_SIZE missing, so its sum is a sum of nothing).
    counts = bureau["SK_ID_CURR"].value_counts()
    single = counts[counts >= 2].index[0]
    keep = bureau[bureau["SK_ID_CURR"] == single].index[0]
    bureau = bureau[(bureau["SK_ID_CURR"] != single) | (bureau.index == keep)]
    bb = bb[bb["SK_ID_BUREAU"] != bureau.loc[keep, "SK_ID_BUREAU"]]
    # Whole categories absent: their one-hot columns must exist and be 0.
    prev = prev[prev["NAME_CONTRACT_STATUS"] != "Refused"]  # and every REFUSED_ missing
    bb = bb[bb["STATUS"] != "C"]
    cc = cc[cc["NAME_CONTRACT_STATUS"] != "Completed"]
    # Missing categories (one-hot _nan) and an undeclared one (all-zero one-hot).
    bureau.loc[bureau.sample(5, random_state=SEED).index, "CREDIT_CURRENCY"] = np.nan
    pos.loc[pos.sample(5, random_state=SEED).index, "NAME_CONTRACT_STATUS"] = np.nan
    bureau.loc[bureau.index[rng.integers(len(bureau))], "CREDIT_TYPE"] = "Space loan"
    # Zero denominators, as in the real files: x/0 is inf, 0/0 is NaN.
    zero_credit = prev.sample(6, random_state=SEED).index
    prev.loc[zero_credit, "AMT_CREDIT"] = 0.0
    prev.loc[zero_credit[:3], "AMT_APPLICATION"] = 0.0
    ins.loc[ins.sample(3, random_state=SEED).index, "AMT_INSTALMENT"] = 0.0
    # Instalments never paid: no payment date, no amount.
    unpaid = ins.sample(5, random_state=SEED + 1).index
    ins.loc[unpaid, ["DAYS_ENTRY_PAYMENT", "AMT_PAYMENT"]] = np.nan
    # Unknown gender (left out of the matrix by both sides), among the other applicants.
    others = app[~app["SK_ID_CURR"].isin(no_history)]
    app.loc[others.sample(2, random_state=SEED).index, "CODE_GENDER"] = "XNA"

    for table, df in {
        "application_train": app,
        "bureau": bureau,
        "bureau_balance": bb,
        "previous_application": prev,
        "POS_CASH_balance": pos,
        "installments_payments": ins,
        "credit_card_balance": cc,
    }.items():
        _write(raw, table, df)
    return Edits(tuple(int(i) for i in no_history), int(single))


def assert_edge_cases_reached(expected: pd.DataFrame, edits: Edits) -> None:
    """Guard the guard: the edited data do reach the cases the comparison claims to cover."""
    expected = expected.set_index("SK_ID_CURR")
    history = list(features_795()[N_APPLICATION_FEATURES:])
    assert expected.loc[list(edits.no_history), history].isna().all().all()
    single = expected.loc[edits.single_bureau_credit]
    assert np.isnan(single["BURO_DAYS_CREDIT_VAR"])
    assert single["BURO_MONTHS_BALANCE_SIZE_SUM"] == 0
    assert expected.filter(like="REFUSED_").isna().all().all()
    assert (expected["PREV_NAME_CONTRACT_STATUS_Refused_MEAN"].dropna() == 0).all()
    assert (expected["BURO_STATUS_C_MEAN_MEAN"].dropna() == 0).all()
    assert (expected["BURO_CREDIT_CURRENCY_nan_MEAN"] > 0).any()
    assert np.isinf(expected["PREV_APP_CREDIT_PERC_MAX"]).any()
    assert np.isinf(expected["INSTAL_PAYMENT_PERC_MAX"]).any()


def assert_same_features(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal columns, applicants, targets and, per feature, values (NaN and inf included).

    Every differing feature is reported, each with one example row, not just the first.
    """
    assert list(got.columns) == ["SK_ID_CURR", "TARGET", *features_795()]
    got_ids, expected_ids = set(got["SK_ID_CURR"]), set(expected["SK_ID_CURR"])
    assert got_ids == expected_ids, (
        f"applicants only in build_features: {sorted(got_ids - expected_ids)[:10]}, "
        f"only in the oracle: {sorted(expected_ids - got_ids)[:10]}"
    )
    got = got.set_index("SK_ID_CURR").sort_index()
    expected = expected.set_index("SK_ID_CURR").sort_index()
    assert (got["TARGET"] == expected["TARGET"]).all()

    differences = []
    for name in features_795():
        actual, desired = got[name].to_numpy(np.float64), expected[name].to_numpy(np.float64)
        try:
            np.testing.assert_allclose(actual, desired, rtol=RTOL, atol=ATOL, equal_nan=True)
        except AssertionError:
            same = np.isclose(actual, desired, rtol=RTOL, atol=ATOL, equal_nan=True)
            bad = np.flatnonzero(~same)
            row = bad[0]
            differences.append(
                f"{name}: {bad.size} rows, e.g. SK_ID_CURR={got.index[row]} "
                f"expected {float(desired[row])!r} got {float(actual[row])!r}"
            )
    assert not differences, f"{len(differences)} features differ:\n" + "\n".join(differences)


def _compare(raw: Path, out: Path) -> pd.DataFrame:
    """Build the features of ``raw`` and compare them with the oracle's; return the latter."""
    build_features(raw, out)
    expected = oracle_features(raw)
    assert_same_features(pd.read_parquet(out / "features_795.parquet"), expected)
    return expected


@pytest.mark.slow
def test_adversarial_synthetic_data_match(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    generate(raw, n_clients=N_CLIENTS, seed=SEED, progress=False)
    edits = make_adversarial(raw)
    expected = _compare(raw, tmp_path / "features")
    assert_edge_cases_reached(expected, edits)


def test_real_heads_match(tmp_path: Path) -> None:
    _compare(real_heads_dir(), tmp_path / "features")


def test_linked_real_heads_match(tmp_path: Path) -> None:
    _compare(linked_heads(tmp_path / "raw"), tmp_path / "features")
