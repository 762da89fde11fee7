"""Feature selection on a tiny matrix whose informative columns are known by construction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.config import ConfigError, SelectionConfig, validate_group
from credit_scoring.data.schema import LIGHT_FIELDS, features_795
from credit_scoring.errors import SchemaError
from credit_scoring.features.selection import (
    FEATURE_SETS_FILE,
    PLOT_FILE,
    RANKING_FILE,
    REPORT_FILE,
    SelectionConfigError,
    SelectionResult,
    counter_features,
    load_feature_matrix,
    ranking_rows,
    select_features,
    summary_markdown,
    write_selection,
)

# EXT_SOURCE_2 carries the most signal but is not a counter field; AMT_CREDIT and
# DAYS_BIRTH carry less and are. Everything else is noise.
SIGNAL = {"EXT_SOURCE_2": -2.0, "AMT_CREDIT": 1.2, "DAYS_BIRTH": 0.8}
TOP_N = 12


def _matrix(n_rows: int = 800, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    names = list(features_795())
    X = pd.DataFrame(rng.normal(size=(n_rows, len(names))).astype("float32"), columns=names)
    logit = -1.0 + sum(weight * X[name] for name, weight in SIGNAL.items())
    y = pd.Series((rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype("int8"), name="TARGET")
    return X, y


def _config(**overrides: object) -> SelectionConfig:
    base = {
        "strategy": "fixed",
        "k": 2,
        "folds": 3,
        "permutation": {"top_n": TOP_N, "n_repeats": 2},
        "seed": 7,
        "lgbm": {
            "n_estimators": 30,
            "num_leaves": 7,
            "min_child_samples": 20,
            "n_jobs": 1,
            "verbose": -1,
        },
        "counter_fields": ["AMT_CREDIT", "DAYS_BIRTH", "CODE_GENDER", "NAME_EDUCATION_TYPE"],
    }
    return validate_group(SelectionConfig, {**base, **overrides}, "selection")


@pytest.fixture(scope="module")
def fixed_result() -> SelectionResult:
    X, y = _matrix()
    return select_features(X, y, _config())


def test_counter_fields_expand_categoricals_from_the_schema_vocabulary() -> None:
    names = features_795()
    expanded = counter_features(["NAME_EDUCATION_TYPE", "AMT_CREDIT"], names)
    assert "AMT_CREDIT" in expanded
    assert "NAME_EDUCATION_TYPE_Secondarysecondaryspecial" in expanded
    assert len([f for f in expanded if f.startswith("NAME_EDUCATION_TYPE_")]) == 5
    assert expanded == [f for f in names if f in set(expanded)]  # declared order kept


def test_counter_fields_refuse_unknown_names() -> None:
    with pytest.raises(SelectionConfigError, match="AMT_INCOME_TOTLA"):
        counter_features(["AMT_INCOME_TOTLA"], features_795())


def test_ranking_covers_every_feature_and_puts_the_signal_first(
    fixed_result: SelectionResult,
) -> None:
    ranking = fixed_result.ranking
    assert len(ranking) == 795
    assert ranking["rank"].tolist() == list(range(1, 796))
    assert ranking["gain_mean"].is_monotonic_decreasing
    assert set(ranking["feature"].head(3)) == set(SIGNAL)


def test_permutation_importance_only_for_the_top_n(fixed_result: SelectionResult) -> None:
    perm = fixed_result.ranking["permutation_importance_mean"]
    assert perm.head(TOP_N).notna().all()
    assert perm.iloc[TOP_N:].isna().all()
    by_feature = fixed_result.ranking.set_index("feature")["permutation_importance_mean"]
    # Shuffling the strongest column must cost AUC; shuffling noise costs about nothing.
    assert by_feature["EXT_SOURCE_2"] > 0.05
    assert by_feature["EXT_SOURCE_2"] > by_feature.iloc[TOP_N - 1]


def test_fixed_strategy_keeps_the_seed_fields_and_reports_the_auc_kept(
    fixed_result: SelectionResult,
) -> None:
    assert fixed_result.feature_sets["light"] == list(LIGHT_FIELDS)
    assert fixed_result.feature_sets["full"] == list(features_795())
    report = fixed_result.report
    assert report["full"]["cv_auc_mean"] > report["light"]["cv_auc_mean"] > 0.55
    assert len(report["light"]["cv_auc_folds"]) == len(report["full"]["cv_auc_folds"]) == 3
    assert report["auc_ratio"] == pytest.approx(
        report["light"]["cv_auc_mean"] / report["full"]["cv_auc_mean"]
    )
    assert 0 < report["lift_retained"] < 1


def test_top_k_picks_the_best_counter_features_only() -> None:
    X, y = _matrix()
    result = select_features(X, y, _config(strategy="top_k", k=2))
    assert set(result.feature_sets["light"]) == {"AMT_CREDIT", "DAYS_BIRTH"}
    assert result.report["light"]["n_features"] == 2


def test_top_k_larger_than_the_counter_set_is_refused() -> None:
    X, y = _matrix(n_rows=300)
    with pytest.raises(SelectionConfigError, match=r"k=50"):
        select_features(X, y, _config(strategy="top_k", k=50))


def test_bad_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"selection\.strategy: .*'fixed' or 'top_k'"):
        _config(strategy="best")


def test_outputs_are_written_together(fixed_result: SelectionResult, tmp_path: Path) -> None:
    out = write_selection(fixed_result, tmp_path / "selection", plot_top=10)
    ranking = pd.read_csv(out / RANKING_FILE)
    assert list(ranking.columns) == [
        "feature",
        "gain_mean",
        "gain_std",
        "rank",
        "permutation_importance_mean",
        "permutation_importance_std",
    ]
    sets = json.loads((out / FEATURE_SETS_FILE).read_text())
    assert len(sets["full"]) == 795 and sets["light"] == list(LIGHT_FIELDS)
    assert json.loads((out / REPORT_FILE).read_text())["folds"] == 3
    assert (out / PLOT_FILE).read_bytes().startswith(b"\x89PNG")


def test_loading_names_the_missing_column(tmp_path: Path) -> None:
    X, y = _matrix(n_rows=20)
    frame = pd.concat([pd.Series(range(20), name="SK_ID_CURR"), y, X], axis=1)
    path = tmp_path / "features_795.parquet"
    frame.drop(columns=["PAYMENT_RATE"]).to_parquet(path)
    with pytest.raises(SchemaError, match="column PAYMENT_RATE") as err:
        load_feature_matrix(path)
    assert err.value.file == str(path)

    frame.to_parquet(path)
    X_read, y_read = load_feature_matrix(path)
    assert list(X_read.columns) == list(features_795())
    assert y_read.tolist() == y.tolist()


def test_ranking_rows_are_a_stratified_seeded_sample_in_file_order() -> None:
    y = np.zeros(10_000, dtype=np.int8)
    y[::25] = 1  # 4% positives
    rows = ranking_rows(y, 1_000, seed=3)
    assert len(rows) == 1_000 and len(np.unique(rows)) == 1_000
    assert np.all(np.diff(rows) > 0)
    assert y[rows].sum() == 40  # the default rate kept exactly
    assert np.array_equal(rows, ranking_rows(y, 1_000, seed=3))
    assert not np.array_equal(rows, ranking_rows(y, 1_000, seed=4))
    assert np.array_equal(ranking_rows(y, None, seed=3), np.arange(10_000))
    assert np.array_equal(ranking_rows(y, 50_000, seed=3), np.arange(10_000))


def test_a_sample_is_ranked_and_reported_the_same_way_every_time() -> None:
    X, y = _matrix()
    config = _config(max_rows=600)
    first, second = select_features(X, y, config), select_features(X, y, config)
    report = first.report
    assert report["n_rows"] == 600 and report["n_rows_available"] == 800
    assert json.dumps(report) == json.dumps(second.report)
    pd.testing.assert_frame_equal(first.ranking, second.ranking)
    assert set(first.ranking["feature"].head(3)) == set(SIGNAL)
    assert "rows: 600 of 800, a stratified sample" in summary_markdown(first)


def test_loading_reads_every_row_group_into_float32_with_missing_values(tmp_path: Path) -> None:
    X, y = _matrix(n_rows=50)
    X = X.astype("float64")
    X.iloc[3, 5] = np.nan
    frame = pd.concat([pd.Series(range(50), name="SK_ID_CURR"), y.astype("int64"), X], axis=1)
    path = tmp_path / "features_795.parquet"
    frame.to_parquet(path, row_group_size=16)  # 4 row groups, the last one short

    X_read, y_read = load_feature_matrix(path)
    assert X_read.shape == (50, 795) and set(X_read.dtypes) == {np.dtype("float32")}
    np.testing.assert_array_equal(X_read.to_numpy(), X.to_numpy(dtype="float32"))
    assert np.isnan(X_read.iloc[3, 5])
    assert y_read.tolist() == y.tolist()

    frame.loc[37, "TARGET"] = None
    frame.to_parquet(path, row_group_size=16)
    with pytest.raises(SchemaError, match="TARGET is missing on row 37"):
        load_feature_matrix(path)
