"""build_features on the real files' first rows: the files, their columns, their rows.

The heads' side tables are re-keyed onto the head applicants (``linked_heads``) so
that a third of them have a history and the others none. One clean build is shared;
a second build gets a directory with the kinds of damage real deliveries carry (an
extra column, a new category, an XNA gender, a missing optional table).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from credit_scoring.cli import main
from credit_scoring.data.schema import TABLES, features_795
from credit_scoring.errors import SchemaError
from credit_scoring.features.application import ApplicationEncoder, application_features
from credit_scoring.features.build import (
    MATRIX_FILE,
    SUMMARY_FILE,
    TEST_FILE,
    TRAIN_FILE,
    FeatureSummary,
    build_features,
)
from tests.conftest import REPO_ROOT
from tests.oracle.heads import linked_heads

HISTORY = [f for f in features_795() if f not in application_features()]


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return linked_heads(tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="module")
def built(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FeatureSummary]:
    out = tmp_path_factory.mktemp("build") / "features"
    return out, build_features(raw, out, chunk_rows=64)  # several batches on 199 rows


def _csv(raw: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(raw / TABLES[table].file_name)


def test_writes_the_four_files(built: tuple[Path, FeatureSummary]) -> None:
    out, summary = built
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [TRAIN_FILE, TEST_FILE, MATRIX_FILE, SUMMARY_FILE]
    )
    assert json.loads((out / SUMMARY_FILE).read_text()) == summary.to_dict()


def test_train_and_test_tables_hold_raw_columns_then_history(
    raw: Path, built: tuple[Path, FeatureSummary]
) -> None:
    out, summary = built
    for file, table in ((TRAIN_FILE, "application_train"), (TEST_FILE, "application_test")):
        frame = pd.read_parquet(out / file)
        source = _csv(raw, table)
        assert list(frame.columns) == [*TABLES[table].column_names, *HISTORY]
        assert summary.rows[file] == len(source) == len(frame)
        # Raw values as delivered: the DAYS sentinel and the category strings included.
        for column in ("SK_ID_CURR", "DAYS_EMPLOYED", "AMT_ANNUITY", "NAME_TYPE_SUITE"):
            pd.testing.assert_series_equal(
                frame[column], source[column], check_dtype=False, check_names=False
            )
        has_history = frame[HISTORY].notna().any(axis=1)
        assert summary.clients_with_history[file] == has_history.sum()
    train = pd.read_parquet(out / TRAIN_FILE)
    # linked_heads gives a history to the first third of the applicants, none to the rest.
    assert train[HISTORY].iloc[: len(train) // 3].notna().any(axis=1).all()
    assert train[HISTORY].iloc[len(train) // 3 + 1 :].isna().all(axis=None)


def test_matrix_is_the_encoded_train_table(built: tuple[Path, FeatureSummary]) -> None:
    out, summary = built
    matrix = pd.read_parquet(out / MATRIX_FILE)
    train = pd.read_parquet(out / TRAIN_FILE)
    assert list(matrix.columns) == ["SK_ID_CURR", "TARGET", *features_795()]
    assert summary.rows[MATRIX_FILE] == len(matrix) == len(train)
    assert (matrix[list(features_795())].dtypes == np.float64).all()
    np.testing.assert_array_equal(matrix["SK_ID_CURR"], train["SK_ID_CURR"])
    np.testing.assert_array_equal(matrix["TARGET"], train["TARGET"])
    expected = ApplicationEncoder().fit().transform(train)
    np.testing.assert_array_equal(matrix[list(features_795())].to_numpy(), expected)
    np.testing.assert_array_equal(matrix[HISTORY].to_numpy(), train[HISTORY].to_numpy())


def test_damaged_delivery_still_gives_the_795_features(raw: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "raw"
    damaged.mkdir()
    for table in TABLES.values():
        if table.name not in ("credit_card_balance", "application_test"):  # optional, missing
            (damaged / table.file_name).write_bytes((raw / table.file_name).read_bytes())
    train = _csv(raw, "application_train").copy()  # copy: one block per dtype
    train["BANK_BRANCH"] = "north"  # a column the schema does not know
    train.loc[[2, 4], "NAME_INCOME_TYPE"] = "Gig worker"  # a category it does not know
    train.loc[6, "CODE_GENDER"] = "XNA"  # gender not available: out of the recipe's matrix
    train.to_csv(damaged / "application_train.csv", index=False)

    summary = build_features(damaged, tmp_path / "features")

    matrix = pd.read_parquet(tmp_path / "features" / MATRIX_FILE)
    kept = pd.read_parquet(tmp_path / "features" / TRAIN_FILE)
    assert list(matrix.columns) == ["SK_ID_CURR", "TARGET", *features_795()]
    assert "BANK_BRANCH" not in kept.columns
    assert len(kept) == len(train)
    assert len(matrix) == len(train) - 1 == summary.rows[MATRIX_FILE]
    assert summary.dropped_unknown_gender == 1
    assert train.at[6, "SK_ID_CURR"] not in set(matrix["SK_ID_CURR"])

    test = pd.read_parquet(tmp_path / "features" / TEST_FILE)
    assert list(test.columns) == [*TABLES["application_test"].column_names, *HISTORY]
    assert len(test) == summary.rows[TEST_FILE] == 0

    credit_card = [f for f in features_795() if f.startswith("CC_")]
    assert matrix[credit_card].isna().all(axis=None)
    others = [f for f in HISTORY if not f.startswith("CC_")]
    assert matrix[others].notna().any(axis=None)

    gig = matrix["SK_ID_CURR"].isin(train.loc[[2, 4], "SK_ID_CURR"])
    income = [f for f in features_795() if f.startswith("NAME_INCOME_TYPE_")]
    assert (matrix.loc[gig, income] == 0).all(axis=None)
    assert summary.unseen_categories == {"NAME_INCOME_TYPE": 2}
    text = "\n".join(summary.warnings)
    for expected in (
        "credit_card_balance.csv",
        "application_test.csv",
        "BANK_BRANCH",
        "Gig worker",
    ):
        assert expected in text


def test_missing_application_file_is_an_error_that_keeps_the_old_output(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "raw"
    broken.mkdir()
    for table in TABLES.values():
        if table.name != "application_train":
            (broken / table.file_name).write_bytes((raw / table.file_name).read_bytes())
    out = tmp_path / "features"
    out.mkdir()
    (out / "previous.txt").write_text("an earlier build")

    with pytest.raises(SchemaError) as caught:
        build_features(broken, out)
    assert caught.value.file is not None and caught.value.file.endswith("application_train.csv")
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    # At the command line: one readable error naming the file, exit status 2.
    assert main(["features", "--raw", str(broken), "--out", str(out)]) == 2
    assert "application_train.csv: required file is missing" in capsys.readouterr().err


def test_strict_turns_warnings_into_errors(raw: Path, tmp_path: Path) -> None:
    # The linked heads hold orphan side-table keys: a warning, so strict refuses them.
    with pytest.raises(SchemaError):
        build_features(raw, tmp_path / "features", strict=True)
    assert not (tmp_path / "features").exists()


def test_parts_give_the_same_files_to_the_byte(
    raw: Path, built: tuple[Path, FeatureSummary], tmp_path: Path
) -> None:
    """Aggregating the history part by part (each part reading only its clients' rows)
    writes exactly the files of one pass: the same values, the same row groups."""
    out, _ = built
    parted = tmp_path / "features"
    summary = build_features(raw, parted, chunk_rows=64, partition_rows=70)
    for file in (TRAIN_FILE, TEST_FILE, MATRIX_FILE):
        assert (parted / file).read_bytes() == (out / file).read_bytes(), file
    assert summary.clients_with_history == built[1].clients_with_history
    assert pq.ParquetFile(parted / TRAIN_FILE).metadata.num_row_groups == 4  # 199 rows / 64


def test_the_configured_build_takes_conf_features_sizes(
    raw: Path, built: tuple[Path, FeatureSummary], tmp_path: Path
) -> None:
    """The commands and the monitor build through ``build_configured``: conf/features'
    chunk and part sizes, not build_features' own defaults (50,000 rows, one part)."""
    from credit_scoring.config import compose_config
    from credit_scoring.features.build import build_configured

    overrides = ["features.build.chunk_rows=64", "features.build.partition_rows=70"]
    features = compose_config(overrides, REPO_ROOT / "conf")[1].features
    out = tmp_path / "features"
    build_configured(raw, out, features)
    assert pq.ParquetFile(out / TRAIN_FILE).metadata.num_row_groups == 4  # 199 rows / 64
    for file in (TRAIN_FILE, TEST_FILE, MATRIX_FILE):
        assert (out / file).read_bytes() == (built[0] / file).read_bytes(), file
