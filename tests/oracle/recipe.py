"""The 795 features, the plain pandas way: the "LightGBM with simple features" recipe.

This module is an oracle, not a product path. It follows the public Kaggle kernel
function by function (``application_train_test``, ``bureau_and_balance``,
``previous_applications``, ``pos_cash``, ``installments_payments``,
``credit_card_balance``) with ``pd.get_dummies``, ``groupby().agg()`` and joins, so
that a reader can check it against the kernel line by line and trust it more than
the fast SQL implementation it is compared with.

It departs from the kernel only where the product's contract does:

- Vocabularies are the schema's fixed ones, never the data's. A declared category
  absent from the data still gets its one-hot column (0 on every row), an undeclared
  one gets none (all-zero one-hot). Application one-hots have no ``_nan`` column,
  side-table one-hots do, as in the kernel.
- Categorical columns are the schema's ``str`` columns and are read as strings: the
  kernel's ``dtype == 'object'`` test no longer finds them under pandas 3, and a
  ``STATUS`` column holding only digits would otherwise be parsed as integers.
- The binary codes are fixed (``CODE_GENDER`` M=0/F=1, ``FLAG_OWN_*`` N=0/Y=1); the
  kernel's ``pd.factorize`` numbered them in order of first appearance, which
  depends on the file.
- Only the train applicants are returned, with ``SK_ID_CURR``, ``TARGET`` and the 795
  features in ``features_795()`` order, names sanitized as the seed model's are.

Everything else is the kernel's pandas semantics, on purpose, because that is what
the seed model was trained on: ``var`` is the sample variance (n-1, NaN for a single
row), ``sum`` of only-missing values is 0, a ratio with a zero denominator is
±inf, and ``DPD``/``DBD`` map a missing payment date to 0 (``x if x > 0 else 0``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from credit_scoring.data.schema import DAYS_SENTINEL, TABLES, feature_name, features_795

#: The kernel's binary encodings, fixed by the product's contract.
BINARY_CODES: dict[str, dict[str, int]] = {
    "CODE_GENDER": {"M": 0, "F": 1},
    "FLAG_OWN_CAR": {"N": 0, "Y": 1},
    "FLAG_OWN_REALTY": {"N": 0, "Y": 1},
}


def read_table(raw_dir: Path, table: str) -> pd.DataFrame:
    """One raw CSV with plain ``pd.read_csv``; an absent optional file reads as no rows.

    Category columns are read as strings so that their values are the raw strings
    the vocabularies declare (``"0"`` for a bureau_balance status, not ``0``).
    """
    schema = TABLES[table]
    dtypes = {column.name: "str" for column in schema.categorical}
    path = Path(raw_dir) / schema.file_name
    if not path.exists() and not schema.required:
        return pd.DataFrame(
            {name: pd.Series(dtype=dtypes.get(name, float)) for name in schema.column_names}
        )
    return pd.read_csv(path, dtype=dtypes)


def one_hot_encoder(
    df: pd.DataFrame, table: str, columns: list[str], nan_as_category: bool
) -> tuple[pd.DataFrame, list[str]]:
    """``pd.get_dummies`` of ``columns``, with the one-hot columns set by the schema.

    Returns the frame and the names of its one-hot columns, like the kernel's helper.
    The reindex is the only change to the kernel: it adds the declared categories the
    data lacks (0) and drops dummies of undeclared values (all-zero one-hot).
    """
    vocabulary_table = "application_train" if table.startswith("application") else table
    schema = TABLES[vocabulary_table]
    declared = []
    for column in columns:
        vocabulary = schema.column(column).vocabulary or ()
        declared += [f"{column}_{value}" for value in vocabulary]
        if nan_as_category:
            declared.append(f"{column}_nan")
    others = [c for c in df.columns if c not in columns]
    # uint8, as get_dummies returned in the kernel's day: a quarter of the memory of
    # floats and the same means, sums and variances.
    df = pd.get_dummies(df, columns=columns, dummy_na=nan_as_category, dtype=np.uint8)
    # copy(): one block per dtype instead of one per dummy, so later inserts stay cheap.
    return df.reindex(columns=others + declared, fill_value=0).copy(), declared


def _flatten(agg: pd.DataFrame, prefix: str) -> pd.Index:
    """The kernel's names for a ``groupby().agg()`` result: PREFIX + column + _ + AGG."""
    return pd.Index([prefix + column + "_" + stat.upper() for column, stat in agg.columns])


def application_train_test(raw_dir: Path) -> pd.DataFrame:
    """Application features: raw numeric columns, binary codes, one-hots and 5 ratios.

    The kernel appended the test applicants before encoding; with fixed
    vocabularies and codes they cannot change a train applicant's features, so
    only the train file is read.
    """
    df = read_table(raw_dir, "application_train")
    # The kernel drops the 4 applicants with an unknown gender (XNA) from training.
    df = df[df["CODE_GENDER"] != "XNA"]
    for bin_feature, codes in BINARY_CODES.items():
        df[bin_feature] = df[bin_feature].map(codes)
    categorical = [
        c.name for c in TABLES["application_train"].categorical if c.name not in BINARY_CODES
    ]
    df, _ = one_hot_encoder(df, "application_train", categorical, nan_as_category=False)
    # 365243 days means "not employed" (pensioners, unemployed), not 1,000 years.
    df["DAYS_EMPLOYED"] = df["DAYS_EMPLOYED"].replace(DAYS_SENTINEL, np.nan)
    df["DAYS_EMPLOYED_PERC"] = df["DAYS_EMPLOYED"] / df["DAYS_BIRTH"]
    df["INCOME_CREDIT_PERC"] = df["AMT_INCOME_TOTAL"] / df["AMT_CREDIT"]
    df["INCOME_PER_PERSON"] = df["AMT_INCOME_TOTAL"] / df["CNT_FAM_MEMBERS"]
    df["ANNUITY_INCOME_PERC"] = df["AMT_ANNUITY"] / df["AMT_INCOME_TOTAL"]
    df["PAYMENT_RATE"] = df["AMT_ANNUITY"] / df["AMT_CREDIT"]
    return df


def bureau_and_balance(raw_dir: Path) -> pd.DataFrame:
    """BURO_, ACTIVE_ and CLOSED_ features, per SK_ID_CURR.

    bureau_balance is first aggregated per credit (months min/max/count, status
    shares) and joined to its bureau row; the client aggregates then see those
    per-credit figures as ordinary columns.
    """
    bureau = read_table(raw_dir, "bureau")
    bb = read_table(raw_dir, "bureau_balance")
    bb, bb_cat = one_hot_encoder(bb, "bureau_balance", ["STATUS"], nan_as_category=True)
    bureau_categorical = [c.name for c in TABLES["bureau"].categorical]
    bureau, bureau_cat = one_hot_encoder(bureau, "bureau", bureau_categorical, True)

    bb_aggregations: dict[str, list[str]] = {"MONTHS_BALANCE": ["min", "max", "size"]}
    for col in bb_cat:
        bb_aggregations[col] = ["mean"]
    bb_agg = bb.groupby("SK_ID_BUREAU").agg(bb_aggregations)
    bb_agg.columns = _flatten(bb_agg, "")
    bureau = bureau.join(bb_agg, how="left", on="SK_ID_BUREAU")
    bureau = bureau.drop(columns=["SK_ID_BUREAU"])

    num_aggregations = {
        "DAYS_CREDIT": ["min", "max", "mean", "var"],
        "DAYS_CREDIT_ENDDATE": ["min", "max", "mean"],
        "DAYS_CREDIT_UPDATE": ["mean"],
        "CREDIT_DAY_OVERDUE": ["max", "mean"],
        "AMT_CREDIT_MAX_OVERDUE": ["mean"],
        "AMT_CREDIT_SUM": ["max", "mean", "sum"],
        "AMT_CREDIT_SUM_DEBT": ["max", "mean", "sum"],
        "AMT_CREDIT_SUM_OVERDUE": ["mean"],
        "AMT_CREDIT_SUM_LIMIT": ["mean", "sum"],
        "AMT_ANNUITY": ["max", "mean"],
        "CNT_CREDIT_PROLONG": ["sum"],
        "MONTHS_BALANCE_MIN": ["min"],
        "MONTHS_BALANCE_MAX": ["max"],
        "MONTHS_BALANCE_SIZE": ["mean", "sum"],
    }
    cat_aggregations: dict[str, list[str]] = {}
    for cat in bureau_cat:
        cat_aggregations[cat] = ["mean"]
    for cat in bb_cat:
        cat_aggregations[cat + "_MEAN"] = ["mean"]

    bureau_agg = bureau.groupby("SK_ID_CURR").agg({**num_aggregations, **cat_aggregations})
    bureau_agg.columns = _flatten(bureau_agg, "BURO_")
    # Active and closed credits: numeric aggregations only.
    active = bureau[bureau["CREDIT_ACTIVE_Active"] == 1]
    active_agg = active.groupby("SK_ID_CURR").agg(num_aggregations)
    active_agg.columns = _flatten(active_agg, "ACTIVE_")
    bureau_agg = bureau_agg.join(active_agg, how="left", on="SK_ID_CURR")
    closed = bureau[bureau["CREDIT_ACTIVE_Closed"] == 1]
    closed_agg = closed.groupby("SK_ID_CURR").agg(num_aggregations)
    closed_agg.columns = _flatten(closed_agg, "CLOSED_")
    return bureau_agg.join(closed_agg, how="left", on="SK_ID_CURR")


def previous_applications(raw_dir: Path) -> pd.DataFrame:
    """PREV_, APPROVED_ and REFUSED_ features, per SK_ID_CURR."""
    prev = read_table(raw_dir, "previous_application")
    categorical = [c.name for c in TABLES["previous_application"].categorical]
    prev, cat_cols = one_hot_encoder(prev, "previous_application", categorical, True)
    # 365243 days means "not applicable" here too.
    for column in (
        "DAYS_FIRST_DRAWING",
        "DAYS_FIRST_DUE",
        "DAYS_LAST_DUE_1ST_VERSION",
        "DAYS_LAST_DUE",
        "DAYS_TERMINATION",
    ):
        prev[column] = prev[column].replace(DAYS_SENTINEL, np.nan)
    # Value asked / value received.
    prev["APP_CREDIT_PERC"] = prev["AMT_APPLICATION"] / prev["AMT_CREDIT"]

    num_aggregations = {
        "AMT_ANNUITY": ["min", "max", "mean"],
        "AMT_APPLICATION": ["min", "max", "mean"],
        "AMT_CREDIT": ["min", "max", "mean"],
        "APP_CREDIT_PERC": ["min", "max", "mean", "var"],
        "AMT_DOWN_PAYMENT": ["min", "max", "mean"],
        "AMT_GOODS_PRICE": ["min", "max", "mean"],
        "HOUR_APPR_PROCESS_START": ["min", "max", "mean"],
        "RATE_DOWN_PAYMENT": ["min", "max", "mean"],
        "DAYS_DECISION": ["min", "max", "mean"],
        "CNT_PAYMENT": ["mean", "sum"],
    }
    cat_aggregations: dict[str, list[str]] = {}
    for cat in cat_cols:
        cat_aggregations[cat] = ["mean"]

    prev_agg = prev.groupby("SK_ID_CURR").agg({**num_aggregations, **cat_aggregations})
    prev_agg.columns = _flatten(prev_agg, "PREV_")
    # Approved and refused applications: numeric aggregations only.
    approved = prev[prev["NAME_CONTRACT_STATUS_Approved"] == 1]
    approved_agg = approved.groupby("SK_ID_CURR").agg(num_aggregations)
    approved_agg.columns = _flatten(approved_agg, "APPROVED_")
    prev_agg = prev_agg.join(approved_agg, how="left", on="SK_ID_CURR")
    refused = prev[prev["NAME_CONTRACT_STATUS_Refused"] == 1]
    refused_agg = refused.groupby("SK_ID_CURR").agg(num_aggregations)
    refused_agg.columns = _flatten(refused_agg, "REFUSED_")
    return prev_agg.join(refused_agg, how="left", on="SK_ID_CURR")


def pos_cash(raw_dir: Path) -> pd.DataFrame:
    """POS_ features, per SK_ID_CURR."""
    pos = read_table(raw_dir, "POS_CASH_balance")
    pos, cat_cols = one_hot_encoder(pos, "POS_CASH_balance", ["NAME_CONTRACT_STATUS"], True)
    aggregations = {
        "MONTHS_BALANCE": ["max", "mean", "size"],
        "SK_DPD": ["max", "mean"],
        "SK_DPD_DEF": ["max", "mean"],
    }
    for cat in cat_cols:
        aggregations[cat] = ["mean"]
    pos_agg = pos.groupby("SK_ID_CURR").agg(aggregations)
    pos_agg.columns = _flatten(pos_agg, "POS_")
    pos_agg["POS_COUNT"] = pos.groupby("SK_ID_CURR").size()
    return pos_agg


def installments_payments(raw_dir: Path) -> pd.DataFrame:
    """INSTAL_ features, per SK_ID_CURR."""
    ins = read_table(raw_dir, "installments_payments")
    # Share and difference paid of each instalment.
    ins["PAYMENT_PERC"] = ins["AMT_PAYMENT"] / ins["AMT_INSTALMENT"]
    ins["PAYMENT_DIFF"] = ins["AMT_INSTALMENT"] - ins["AMT_PAYMENT"]
    # Days past due and days before due, no negative values. The kernel's
    # ``apply(lambda x: x if x > 0 else 0)`` also maps a missing payment date to 0
    # (NaN > 0 is false); ``where`` is the same rule, vectorized.
    ins["DPD"] = ins["DAYS_ENTRY_PAYMENT"] - ins["DAYS_INSTALMENT"]
    ins["DBD"] = ins["DAYS_INSTALMENT"] - ins["DAYS_ENTRY_PAYMENT"]
    ins["DPD"] = ins["DPD"].where(ins["DPD"] > 0, 0)
    ins["DBD"] = ins["DBD"].where(ins["DBD"] > 0, 0)
    aggregations = {
        "NUM_INSTALMENT_VERSION": ["nunique"],
        "DPD": ["max", "mean", "sum"],
        "DBD": ["max", "mean", "sum"],
        "PAYMENT_PERC": ["max", "mean", "sum", "var"],
        "PAYMENT_DIFF": ["max", "mean", "sum", "var"],
        "AMT_INSTALMENT": ["max", "mean", "sum"],
        "AMT_PAYMENT": ["min", "max", "mean", "sum"],
        "DAYS_ENTRY_PAYMENT": ["max", "mean", "sum"],
    }
    ins_agg = ins.groupby("SK_ID_CURR").agg(aggregations)
    ins_agg.columns = _flatten(ins_agg, "INSTAL_")
    ins_agg["INSTAL_COUNT"] = ins.groupby("SK_ID_CURR").size()
    return ins_agg


def credit_card_balance(raw_dir: Path) -> pd.DataFrame:
    """CC_ features: min, max, mean, sum and var of every credit-card column."""
    cc = read_table(raw_dir, "credit_card_balance")
    cc, _ = one_hot_encoder(cc, "credit_card_balance", ["NAME_CONTRACT_STATUS"], True)
    cc = cc.drop(columns=["SK_ID_PREV"])
    cc_agg = cc.groupby("SK_ID_CURR").agg(["min", "max", "mean", "sum", "var"])
    cc_agg.columns = _flatten(cc_agg, "CC_")
    cc_agg["CC_COUNT"] = cc.groupby("SK_ID_CURR").size()
    return cc_agg


def oracle_features(raw_dir: Path) -> pd.DataFrame:
    """SK_ID_CURR, TARGET and the 795 features (float64, in order) of the train applicants.

    Rows are in application_train order, without the XNA-gender applicants the
    kernel drops. Raises ``AssertionError`` if the recipe produced a feature set
    other than the 795 names: the oracle must not hide a naming slip behind a
    reindex.
    """
    raw_dir = Path(raw_dir)
    df = application_train_test(raw_dir)
    for side_features in (
        bureau_and_balance,
        previous_applications,
        pos_cash,
        installments_payments,
        credit_card_balance,
    ):
        df = df.join(side_features(raw_dir), how="left", on="SK_ID_CURR")
    df.columns = pd.Index([feature_name(c) for c in df.columns])

    names = features_795()
    produced = set(df.columns) - {"SK_ID_CURR", "TARGET"}
    if produced != set(names):
        raise AssertionError(
            f"the recipe produced {sorted(produced - set(names))} beyond the 795 features "
            f"and lacks {sorted(set(names) - produced)}"
        )
    features = df[list(names)].astype(np.float64)
    return pd.concat([df[["SK_ID_CURR", "TARGET"]], features], axis=1).reset_index(drop=True)
