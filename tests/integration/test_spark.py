"""The history features on Spark (local[2]) equal DuckDB's, value by value.

One Spark session serves the whole module (starting a JVM costs seconds); every
engine opened meanwhile, the command line's included, borrows it. The data are
small, so the time goes to Spark's fixed costs, not to the rows.

Covered: a generated data set edited to reach every edge of the recipe's semantics
(clients without history, a single bureau credit, categories that never occur,
missing and undeclared categories, x/0 and 0/0 ratios, unpaid instalments), built
by ``credit-scoring features`` on both engines; the real files' first rows with their
keys linked, so that real values reach every aggregate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from credit_scoring.cli import main
from credit_scoring.contracts.model_io import model_signature
from credit_scoring.data.loading import load_tables
from credit_scoring.data.synthetic import generate
from credit_scoring.errors import SchemaError
from credit_scoring.features.history import DEFAULT_SPEC_PATH, aggregate_history, load_spec
from credit_scoring.features.spark_engine import SparkEngine
from credit_scoring.spark_batch import score_on_spark
from tests.integration.test_features_match_oracle import (
    Edits,
    assert_edge_cases_reached,
    make_adversarial,
)
from tests.oracle.heads import linked_heads
from tests.unit._models_data import fit_tiny_model, tiny_training_frame

pytestmark = pytest.mark.slow

#: Float64 on both sides, summed in different orders (partial aggregates per partition).
RTOL = 1e-9
ATOL = 1e-9
N_CLIENTS = 300
SEED = 7


#: Settings for tiny data on a shared 2-core machine, over the configured ones. With a few
#: hundred rows, compiling code costs far more than running it: the JVM's quick JIT
#: tier only, Spark's interpreted expressions, no adaptive re-planning. Measured here:
#: the 5 history queries of the real heads in 45 s instead of 113 s on their first run.
SMALL_DATA = {
    "spark.sql.shuffle.partitions": 2,
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    "spark.sql.codegen.wholeStage": False,
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": False,
}


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkEngine]:
    """The configured Spark engine on local[2], tuned for tiny data (``SMALL_DATA``)."""
    settings = OmegaConf.to_container(OmegaConf.load(DEFAULT_SPEC_PATH.parent / "default.yaml"))
    options = settings["spark"]
    options["master"] = "local[2]"
    options["conf"].update(SMALL_DATA)
    engine = SparkEngine(**options)
    yield engine
    engine.close()


def assert_same_values(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns, rows and values (NaN and ±inf included); every differing column named."""
    assert list(got.columns) == list(expected.columns)
    assert got.index.equals(expected.index)
    differences = []
    for name in expected.columns:
        actual = got[name].to_numpy(np.float64)
        desired = expected[name].to_numpy(np.float64)
        same = np.isclose(actual, desired, rtol=RTOL, atol=ATOL, equal_nan=True)
        same &= np.isinf(actual) == np.isinf(desired)
        if not same.all():
            row = np.flatnonzero(~same)[0]
            differences.append(
                f"{name}: {(~same).sum()} rows, e.g. {got.index[row]}: "
                f"DuckDB {desired[row]!r}, Spark {actual[row]!r}"
            )
    assert not differences, f"{len(differences)} columns differ:\n" + "\n".join(differences)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Edits]:
    """Generated raw files edited to reach every edge case, and what was edited."""
    raw = tmp_path_factory.mktemp("spark") / "raw"
    generate(raw, n_clients=N_CLIENTS, seed=SEED, progress=False)
    return raw, make_adversarial(raw)


@pytest.fixture(scope="module")
def duckdb_features(raw: tuple[Path, Edits], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``credit-scoring features`` on DuckDB (the default engine) over ``raw``."""
    out = tmp_path_factory.mktemp("duckdb") / "features"
    assert main(["features", "--raw", str(raw[0]), "--out", str(out)]) == 0
    return out


def test_generated_edge_cases_build_the_same_features_on_spark(
    spark: SparkEngine, raw: tuple[Path, Edits], duckdb_features: Path, tmp_path: Path
) -> None:
    """``credit-scoring features --engine spark`` writes DuckDB's tables, to float tolerance."""
    directory, edits = raw
    # The data do reach every edge case (DuckDB's matrix is the oracle's, tested elsewhere).
    assert_edge_cases_reached(pd.read_parquet(duckdb_features / "features_795.parquet"), edits)

    out = tmp_path / "spark"
    assert main(["features", "--raw", str(directory), "--out", str(out), "--engine", "spark"]) == 0
    assert not spark.session.sparkContext._jsc.sc().isStopped()  # borrowed, left running

    history = list(load_spec().feature_names())
    assert len(history) == 550
    for file in ("train.parquet", "test.parquet", "features_795.parquet"):
        duck = pd.read_parquet(duckdb_features / file).set_index("SK_ID_CURR")
        on_spark = pd.read_parquet(out / file).set_index("SK_ID_CURR")
        numeric = [c for c in duck.columns if duck[c].dtype.kind in "fiu"]
        assert_same_values(on_spark[numeric], duck[numeric])
        if file == "train.parquet":
            assert set(history) <= set(numeric)
            assert duck.loc[list(edits.no_history), history].isna().all().all()


#: The registry name the command scores with by default (``--model full``).
FULL = "credit-scoring-full"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tracking store whose ``credit-scoring-full@champion`` is version 1 of 2.

    A tiny full model (raw fields and the 550 history aggregates, a scorecard), logged
    as MLflow logs the product's; the champion is not the latest version, so a batch
    that names the version it scored with must have resolved the alias.
    """
    from mlflow import MlflowClient

    store = tmp_path_factory.mktemp("registry")
    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("spark", artifact_location=store.as_uri())
        model = fit_tiny_model("full", tiny_training_frame(n=1500), trees=20)
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=model,
                signature=model_signature(model.fields),
                pip_requirements=["mlflow"],
                registered_model_name=FULL,
            )
        mlflow.register_model(info.model_uri, FULL)
        MlflowClient().set_registered_model_alias(FULL, "champion", "1")
        yield uri
    finally:
        mlflow.set_tracking_uri(previous)


def test_score_on_spark_equals_the_local_score(
    spark: SparkEngine, raw: tuple[Path, Edits], registry: str, tmp_path: Path
) -> None:
    """``score --engine spark`` writes Parquet parts holding the local ``score``'s rows."""
    local = tmp_path / "local.parquet"
    assert main(["score", "--raw", str(raw[0]), "--out", str(local)]) == 0
    parts = tmp_path / "spark"
    command = ["score", "--raw", str(raw[0]), "--out", str(parts), "--engine", "spark"]
    assert main(command) == 0
    assert sorted(parts.glob("part-*.parquet")), "Spark wrote no Parquet part files"

    expected = pd.read_parquet(local).set_index("SK_ID_CURR").sort_index()
    got = pd.read_parquet(parts).set_index("SK_ID_CURR").sort_index()
    assert got.index.equals(expected.index)
    assert list(got.columns) == list(expected.columns)
    assert {"probability", "score", "decision", "points", "grade"} <= set(got.columns)
    assert (got["model_version"] == "1").all()  # the champion's version, not the latest
    assert (got["run_id"] == "test-run").all()  # the model's own training run
    np.testing.assert_allclose(got["probability"], expected["probability"], rtol=1e-12)
    for name in expected.columns.drop("probability"):
        assert (got[name] == expected[name]).all(), name
    # The history reached the model: clients with and without it score differently.
    assert expected["probability"].nunique() > 10
    assert set(expected["grade"]) > {expected["grade"].iloc[0]}


def test_a_bad_input_directory_is_a_schema_error(spark: SparkEngine, tmp_path: Path) -> None:
    """Nothing is written for a directory that is not there or holds no applications file."""
    for directory, message in (
        (tmp_path / "absent", "no such directory"),
        (tmp_path, "no application_test.csv or application_train.csv"),
    ):
        with pytest.raises(SchemaError, match=message):
            score_on_spark(directory, tmp_path / "out", model_uri="unused", engine=spark)
        for command in ("features", "score"):
            args = [command, "--raw", str(directory), "--out", str(tmp_path / "out")]
            assert main([*args, "--engine", "spark"]) == 2
    # Spark writes Parquet parts only: no CSV or Kaggle layout to half-honour.
    args = ["score", "--raw", str(tmp_path), "--out", str(tmp_path / "out"), "--engine", "spark"]
    assert main([*args, "--format", "csv"]) == 2
    assert not (tmp_path / "out").exists()


def test_linked_real_heads_aggregate_the_same_on_spark(spark: SparkEngine, tmp_path: Path) -> None:
    """The real files' quirks (sentinels, zero amounts, missing dates) through all 550."""
    tables, _ = load_tables(linked_heads(tmp_path / "raw"))
    spec = load_spec()
    expected = aggregate_history(tables, spec, "duckdb")
    got = aggregate_history(tables, spec, spark)
    assert expected.shape == (66, 550) and expected.notna().to_numpy().mean() > 0.5
    assert_same_values(got, expected)
    assert spark.session.catalog.listTables() == []  # the side tables were let go
