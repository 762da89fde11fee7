"""ApplicationEncoder: raw application fields in, the model's encoded features out.

Most tests run on the real files' first rows (read by the product's own loader, so
with the schema's types) and check each encoded value against the raw value it
comes from; the property tests throw random rows (valid, unseen, missing and
oddly typed values) at the two fetch paths and check they agree row by row.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from credit_scoring.data.loading import read_table
from credit_scoring.data.schema import (
    DAYS_SENTINEL,
    LIGHT_FIELDS,
    TABLES,
    feature_name,
    features_795,
)
from credit_scoring.errors import SchemaError
from credit_scoring.features.application import (
    BINARY_CODES,
    RATIOS,
    ApplicationEncoder,
    application_features,
)

HEADS = Path(__file__).resolve().parents[1] / "fixtures" / "real_heads"
APPLICATION = TABLES["application_train"]
ONE_HOT_FIELDS = [c for c in APPLICATION.categorical if c.name not in BINARY_CODES]
HISTORY = [f for f in features_795() if f not in application_features()]


@pytest.fixture(scope="module")
def heads() -> pd.DataFrame:
    """The first 199 real train applicants, with the schema's column types."""
    table = read_table(HEADS, "application_train")
    assert table is not None
    return table.to_pandas()


@pytest.fixture(scope="module")
def encoder() -> ApplicationEncoder:
    return ApplicationEncoder().fit()


def _encode(encoder: ApplicationEncoder, X: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(encoder.transform(X), columns=encoder.get_feature_names_out())


def test_application_features_are_the_first_245_model_features() -> None:
    assert list(application_features()) == list(features_795()[:245])


def test_full_output_is_the_795_features_in_order(
    encoder: ApplicationEncoder, heads: pd.DataFrame
) -> None:
    values = encoder.transform(heads)
    assert values.shape == (len(heads), 795)
    assert values.dtype == np.float64
    assert list(encoder.get_feature_names_out()) == list(features_795())


def test_numbers_are_copied_and_the_sentinel_becomes_missing(
    encoder: ApplicationEncoder, heads: pd.DataFrame
) -> None:
    out = _encode(encoder, heads)
    numeric = [c.name for c in APPLICATION.columns if c.kind != "str" and c.name in out]
    expected = heads[numeric].astype(float)
    sentinel = heads["DAYS_EMPLOYED"] == DAYS_SENTINEL
    assert sentinel.any(), "the real heads hold pensioners: the test must see the sentinel"
    expected.loc[sentinel, "DAYS_EMPLOYED"] = np.nan
    pd.testing.assert_frame_equal(out[numeric], expected.reset_index(drop=True))


def test_binary_codes(encoder: ApplicationEncoder, heads: pd.DataFrame) -> None:
    out = _encode(encoder, heads)
    for field, codes in BINARY_CODES.items():
        expected = heads[field].map(codes).astype(float).to_numpy()
        np.testing.assert_array_equal(out[field].to_numpy(), expected)
    both = pd.DataFrame({"CODE_GENDER": ["M", "F", "XNA"], "FLAG_OWN_CAR": ["N", "Y", "Y"]}).astype(
        {"CODE_GENDER": object}
    )
    coded = _encode(ApplicationEncoder(["CODE_GENDER", "FLAG_OWN_CAR"]).fit(), both)
    np.testing.assert_array_equal(coded["CODE_GENDER"], [0.0, 1.0, np.nan])
    np.testing.assert_array_equal(coded["FLAG_OWN_CAR"], [0.0, 1.0, 1.0])


def test_one_hot_columns_follow_the_raw_category(
    encoder: ApplicationEncoder, heads: pd.DataFrame
) -> None:
    out = _encode(encoder, heads)
    for column in ONE_HOT_FIELDS:
        names = [feature_name(f"{column.name}_{v}") for v in column.vocabulary or ()]
        family = out[names].to_numpy()
        raw = heads[column.name]
        # Exactly one 1 for a known value, none for a missing one (no _nan column).
        np.testing.assert_array_equal(family.sum(axis=1), raw.notna().astype(float))
        for i, value in enumerate(raw):
            if pd.notna(value):
                assert out.at[i, feature_name(f"{column.name}_{value}")] == 1.0


def test_ratios(encoder: ApplicationEncoder, heads: pd.DataFrame) -> None:
    out = _encode(encoder, heads)
    raw = heads.astype({"DAYS_EMPLOYED": float})
    raw.loc[raw["DAYS_EMPLOYED"] == DAYS_SENTINEL, "DAYS_EMPLOYED"] = np.nan
    for name, (numerator, denominator) in RATIOS.items():
        expected = (raw[numerator] / raw[denominator]).to_numpy()
        np.testing.assert_allclose(out[name].to_numpy(), expected, rtol=0, equal_nan=True)
    assert out["DAYS_EMPLOYED_PERC"].isna().sum() == (heads["DAYS_EMPLOYED"] == DAYS_SENTINEL).sum()


def test_zero_denominator_keeps_the_recipe_float_semantics() -> None:
    frame = pd.DataFrame({"AMT_INCOME_TOTAL": [100.0, 0.0], "AMT_ANNUITY": [0.0, 0.0]})
    out = ApplicationEncoder(["ANNUITY_INCOME_PERC", "INCOME_CREDIT_PERC"]).fit().transform(frame)
    np.testing.assert_array_equal(out[:, 0], [0.0, np.nan])  # 0/100, 0/0
    assert np.isnan(out[:, 1]).all()  # AMT_CREDIT absent: missing


def test_unseen_category_is_all_zero_and_counted(
    encoder: ApplicationEncoder, heads: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    frame = heads.copy()
    frame["NAME_INCOME_TYPE"] = frame["NAME_INCOME_TYPE"].astype(object)
    frame.loc[[3, 7], "NAME_INCOME_TYPE"] = "Gig worker"
    frame.loc[5, "CODE_GENDER"] = "W"
    encoded = encoder.encode(frame)
    assert encoded.unseen_counts() == {"CODE_GENDER": 1, "NAME_INCOME_TYPE": 2}
    assert encoded.unseen["NAME_INCOME_TYPE"] == {"Gig worker": 2}
    out = pd.DataFrame(encoded.values, columns=features_795())
    income = [f for f in features_795() if f.startswith("NAME_INCOME_TYPE_")]
    assert (out.loc[[3, 7], income] == 0).all(axis=None)
    assert (out.drop(index=[3, 7])[income].sum(axis=1) == 1).all()
    assert np.isnan(out.at[5, "CODE_GENDER"])

    with caplog.at_level(logging.WARNING, logger="credit_scoring.features.application"):
        encoder.transform(frame)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one summary warning per call, not one per row"
    assert "NAME_INCOME_TYPE: 2 rows" in warnings[0].getMessage()
    assert "'Gig worker'" in warnings[0].getMessage()


def test_missing_and_extra_columns(encoder: ApplicationEncoder) -> None:
    frame = pd.DataFrame({"AMT_INCOME_TOTAL": [1.0e5], "NOT_A_FIELD": ["ignored"]})
    out = _encode(encoder, frame).iloc[0]
    assert out["AMT_INCOME_TOTAL"] == 1.0e5
    one_hot = [f for f in application_features() if application_features()[f].kind == "onehot"]
    assert (out[one_hot] == 0).all()
    others = out.drop(["AMT_INCOME_TOTAL", *one_hot])
    assert others.isna().all(), others[others.notna()]


def test_history_aggregates_pass_through(encoder: ApplicationEncoder) -> None:
    frame = pd.DataFrame({HISTORY[0]: [1.5, np.nan], HISTORY[-1]: [-2.0, 3.0]})
    out = _encode(encoder, frame)
    np.testing.assert_array_equal(out[HISTORY[0]], [1.5, np.nan])
    np.testing.assert_array_equal(out[HISTORY[-1]], [-2.0, 3.0])
    assert out[HISTORY[1:-1]].isna().all(axis=None)


def test_light_fields_keep_their_raw_names(heads: pd.DataFrame) -> None:
    light = ApplicationEncoder(LIGHT_FIELDS).fit()
    assert tuple(light.get_feature_names_out()) == LIGHT_FIELDS
    out = pd.DataFrame(light.transform(heads), columns=list(LIGHT_FIELDS))
    full = _encode(ApplicationEncoder().fit(), heads)
    pd.testing.assert_frame_equal(out, full[list(LIGHT_FIELDS)])


def test_one_row_equals_its_row_of_a_batch(
    encoder: ApplicationEncoder, heads: pd.DataFrame
) -> None:
    # 398 rows: past the row-wise fetch limit, so the batch takes the column-wise path.
    batch = pd.concat([heads, heads], ignore_index=True)
    values = encoder.transform(batch)
    for i in range(len(heads)):
        np.testing.assert_array_equal(encoder.transform(batch.iloc[[i]])[0], values[i])
    np.testing.assert_array_equal(values[: len(heads)], encoder.transform(heads))


def test_missing_values_and_string_dtypes_are_interchangeable() -> None:
    fields = ["OCCUPATION_TYPE", "CODE_GENDER", "AMT_ANNUITY", "DAYS_EMPLOYED"]
    encoder = ApplicationEncoder(
        ["OCCUPATION_TYPE_Drivers", "CODE_GENDER", "AMT_ANNUITY", "DAYS_EMPLOYED"]
    ).fit()
    expected = np.array([[1.0, 1.0, 10.0, np.nan], [0.0, np.nan, np.nan, -5.0]])
    for missing in (None, np.nan, pd.NA):
        for dtype in (object, "string", "str"):
            frame = pd.DataFrame(
                {
                    "OCCUPATION_TYPE": pd.Series(["Drivers", missing], dtype=dtype),
                    "CODE_GENDER": pd.Series(["F", missing], dtype=dtype),
                    "AMT_ANNUITY": pd.Series([10, missing], dtype=object),
                    "DAYS_EMPLOYED": pd.Series([DAYS_SENTINEL, -5], dtype="Int64"),
                }
            )[fields]
            np.testing.assert_array_equal(encoder.transform(frame), expected)


def test_a_value_that_is_not_a_number_is_a_schema_error() -> None:
    frame = pd.DataFrame({"AMT_CREDIT": [1.0, "lots"]}, index=[100002, 100003])
    with pytest.raises(SchemaError) as caught:
        ApplicationEncoder(["AMT_CREDIT"]).fit().transform(frame)
    assert caught.value.column == "AMT_CREDIT"
    assert caught.value.key == 100003
    assert "'lots'" in str(caught.value)


def test_pickles_and_clones_to_the_same_encoding(
    encoder: ApplicationEncoder, heads: pd.DataFrame
) -> None:
    expected = encoder.transform(heads)
    for restored in (
        pickle.loads(pickle.dumps(encoder)),
        cloudpickle.loads(cloudpickle.dumps(encoder)),
        clone(encoder).fit(),
    ):
        np.testing.assert_array_equal(restored.transform(heads), expected)


def test_set_output_pandas(heads: pd.DataFrame) -> None:
    encoder = ApplicationEncoder(LIGHT_FIELDS).set_output(transform="pandas")
    frame = heads.set_index("SK_ID_CURR")
    out = encoder.fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(LIGHT_FIELDS)
    assert out.index.equals(frame.index)


def test_feature_list_is_checked_at_fit() -> None:
    with pytest.raises(ValueError, match="NOT_A_FEATURE"):
        ApplicationEncoder(["AMT_CREDIT", "NOT_A_FEATURE"]).fit()
    with pytest.raises(ValueError, match="more than once"):
        ApplicationEncoder(["AMT_CREDIT", "AMT_CREDIT"]).fit()
    with pytest.raises(NotFittedError):
        ApplicationEncoder().transform(pd.DataFrame({"AMT_CREDIT": [1.0]}))
    with pytest.raises(TypeError, match="DataFrame"):
        ApplicationEncoder().fit().transform(np.zeros((1, 3)))


# ----------------------------------------------------------------------- properties

_LIGHT_ENCODER = ApplicationEncoder([*LIGHT_FIELDS, *RATIOS, "NAME_INCOME_TYPE_Working"]).fit()


def _category(field: str) -> st.SearchStrategy[object]:
    vocabulary = APPLICATION.column(field).vocabulary or ()
    return st.one_of(st.sampled_from(vocabulary), st.none(), st.text(max_size=4))


_NUMBER = st.one_of(
    st.none(),
    st.integers(-30_000, 30_000),
    st.floats(allow_nan=True, allow_infinity=False, width=64),
    st.just(DAYS_SENTINEL),
)

_ROW = st.fixed_dictionaries(
    {
        **{f: _NUMBER for f in LIGHT_FIELDS if APPLICATION.column(f).kind != "str"},
        **{f: _category(f) for f in LIGHT_FIELDS if APPLICATION.column(f).kind == "str"},
        "NAME_INCOME_TYPE": _category("NAME_INCOME_TYPE"),
        "CNT_FAM_MEMBERS": _NUMBER,
    }
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=6))
def test_encoding_is_row_wise_and_path_independent(rows: list[dict[str, object]]) -> None:
    frame = pd.DataFrame(rows)
    values = _LIGHT_ENCODER.transform(frame)
    # Each row alone encodes as it does in the batch (row-wise fetch path) ...
    for i in range(len(frame)):
        np.testing.assert_array_equal(_LIGHT_ENCODER.transform(frame.iloc[[i]])[0], values[i])
    # ... and a batch long enough for the column-wise path gives the same rows.
    repeated = pd.concat([frame] * (300 // len(frame) + 1), ignore_index=True)
    big = _LIGHT_ENCODER.transform(repeated)
    np.testing.assert_array_equal(big[: len(frame)], values)


@settings(max_examples=60, deadline=None)
@given(row=_ROW)
def test_binary_and_one_hot_values_are_codes(row: dict[str, object]) -> None:
    out = pd.Series(
        _LIGHT_ENCODER.transform(pd.DataFrame([row]))[0],
        index=_LIGHT_ENCODER.get_feature_names_out(),
    )
    for field, codes in BINARY_CODES.items():
        expected = codes.get(row[field], np.nan) if isinstance(row[field], str) else np.nan
        np.testing.assert_array_equal(out[field], expected)
    assert out["NAME_INCOME_TYPE_Working"] == float(row["NAME_INCOME_TYPE"] == "Working")
