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


@pytest.fixture(scope="module")
def full_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny full model (raw fields and the 550 history aggregates), saved as MLflow logs it."""
    model = fit_tiny_model("full", tiny_training_frame(n=1500), trees=20)
    path = tmp_path_factory.mktemp("model") / "full"
    mlflow.pyfunc.save_model(
        path,
        python_model=model,
        signature=model_signature(model.fields),
        pip_requirements=["mlflow"],
    )
    return str(path)


def test_scores_on_spark_equal_the_local_ones(
    spark: SparkEngine,
    raw: tuple[Path, Edits],
    duckdb_features: Path,
    full_model: str,
    tmp_path: Path,
) -> None:
    """Features built by Spark from the files, scored by spark_udf: the local path's answers."""
    out = tmp_path / "scores"
    summary = score_on_spark(raw[0], out, model_uri=full_model, engine=spark)
    parts = sorted(out.glob("part-*.parquet"))
    assert parts, "Spark wrote no Parquet part files"
    got = pd.read_parquet(out).set_index("SK_ID_CURR").sort_index()

    applicants = pd.read_parquet(duckdb_features / "test.parquet")
    local = mlflow.pyfunc.load_model(full_model).predict(applicants)
    local.index = applicants["SK_ID_CURR"]
    local = local.sort_index()
    assert summary.applicants == len(local) == len(got)
    assert got.index.equals(local.index)
    assert list(got.columns) == list(summary.outputs)
    assert {"probability", "score", "decision"} <= set(got.columns)
    np.testing.assert_allclose(got["probability"], local["probability"], rtol=1e-12)
    assert (got["score"] == local["score"]).all()
    assert (got["decision"] == local["decision"]).all()
    # The history reached the model: clients with and without it score differently.
    assert local["probability"].nunique() > 10


def test_a_bad_input_directory_is_a_schema_error(spark: SparkEngine, tmp_path: Path) -> None:
    """Nothing is written for a directory that is not there or holds no applications file."""
    for directory, message in (
        (tmp_path / "absent", "no such directory"),
        (tmp_path, "no application_test.csv or application_train.csv"),
    ):
        with pytest.raises(SchemaError, match=message):
            score_on_spark(directory, tmp_path / "out", model_uri="unused", engine=spark)
        command = ["features", "--raw", str(directory), "--out", str(tmp_path / "out")]
        assert main([*command, "--engine", "spark"]) == 2
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
