"""Publishing the clients database: contents, statistics, atomic replacement.

Also home of the tiny published database the API unit tests use: a hand-made
frame with the schema's application columns and a few history aggregates, and
champions whose predictor is a small closed-form function speaking the pyfunc
contract (the real models are exercised in tests/integration/test_serving.py).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.api.db import ClientsDatabase, DatabaseUnavailable, PopulationIndex
from credit_scoring.config import compose_config
from credit_scoring.contracts.model_io import (
    HISTORY_FEATURES,
    HISTORY_KIND,
    input_fields,
    model_signature,
    pack_history,
    stored_history,
    unpack_history,
)
from credit_scoring.data.schema import LIGHT_FIELDS, TABLES
from credit_scoring.errors import SchemaError
from credit_scoring.publish import (
    Champion,
    ModelRecord,
    input_columns,
    population_statistics,
    publish,
    read_clients,
)
from tests.conftest import REPO_ROOT

_CLIENT_FIELDS = ",".join((*LIGHT_FIELDS, "NAME_INCOME_TYPE", "CNT_FAM_MEMBERS"))
SETTINGS = compose_config(
    [
        f"publish.client_fields=[{_CLIENT_FIELDS}]",
        "publish.histogram_features=[AMT_INCOME_TOTAL,AMT_CREDIT,DAYS_EMPLOYED]",
        "publish.bins=[5,10]",
        "publish.quantiles=[0.0,0.5,1.0]",
        "publish.histogram_range_quantiles=[0.0,1.0]",
        "publish.batch_size=16",
    ],
    REPO_ROOT / "conf",
)[1].publish
HISTORY_USED = HISTORY_FEATURES[:3]


def tiny_clients(n_train: int = 60, n_test: int = 20, seed: int = 0) -> pd.DataFrame:
    """Train and test applicants with every application column and three history columns."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    frame: dict[str, object] = {}
    for col in TABLES["application_train"].columns:
        if col.vocabulary:
            frame[col.name] = rng.choice(col.vocabulary[:2], n)
        elif col.kind == "int":
            frame[col.name] = rng.integers(0, 3, n)
        else:
            frame[col.name] = rng.random(n)
    frame["SK_ID_CURR"] = np.arange(100002, 100002 + n)
    frame["AMT_INCOME_TOTAL"] = np.round(rng.lognormal(11.8, 0.5, n), -2)
    frame["AMT_CREDIT"] = np.round(rng.uniform(50_000, 1_000_000, n), -2)
    frame["AMT_ANNUITY"] = np.round(frame["AMT_CREDIT"] / rng.uniform(10, 30, n), 1)
    frame["AMT_GOODS_PRICE"] = frame["AMT_CREDIT"]
    frame["DAYS_BIRTH"] = -rng.integers(7_500, 25_000, n)
    frame["DAYS_EMPLOYED"] = np.where(rng.random(n) < 0.2, 365243, -rng.integers(0, 9_000, n))
    frame["CODE_GENDER"] = rng.choice(["M", "F"], n)
    clients = pd.DataFrame(frame)
    clients.loc[3, "AMT_ANNUITY"] = np.nan
    for name in HISTORY_USED:
        clients[name] = np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n))
    clients["TARGET"] = (rng.random(n) < 0.2).astype(float)
    clients.loc[n_train:, "TARGET"] = np.nan
    clients.insert(1, "split", ["train"] * n_train + ["test"] * n_test)
    return clients


def _predictor(model_name: str, threshold: float):
    """Deterministic P(default) rising with credit/income, returning the contract's columns."""

    def predict(frame: pd.DataFrame) -> pd.DataFrame:
        ratio = frame["AMT_CREDIT"].astype(float) / frame["AMT_INCOME_TOTAL"].astype(float)
        p = 1.0 / (1.0 + np.exp(-(ratio - 4.0)))
        return pd.DataFrame(
            {
                "probability": p,
                "score": np.round((1.0 - p) * 100.0, 1),
                "decision": np.where(p < threshold, "granted", "refused"),
                "threshold": threshold,
                "model_name": f"credit-scoring-{model_name}",
                "model_version": f"run-{model_name}",
            }
        )

    return predict


def tiny_champions() -> dict[str, Champion]:
    """Champions with the real contract's input layout (light fields; app fields + HISTORY)."""
    champions = {}
    for name, features in (("light", LIGHT_FIELDS), ("full", (*LIGHT_FIELDS, *HISTORY_USED))):
        inputs = input_columns(model_signature(input_fields(features)).inputs)
        record = ModelRecord(
            name=name,
            registered_name=f"credit-scoring-{name}",
            version="3" if name == "full" else "2",
            run_id=f"run-{name}",
            model_uri=f"models:/credit-scoring-{name}@champion",
            test_auc=0.7,
            threshold=0.4,
            trained_at="2025-01-01T00:00:00+00:00",
        )
        champions[name] = Champion(record, inputs, _predictor(name, 0.4))
    return champions


def publish_tiny(path: Path) -> tuple[pd.DataFrame, dict]:
    """Publish the tiny data set into the SQLite file ``path``; return the frame and manifest."""
    clients = tiny_clients()
    return clients, publish(clients, tiny_champions(), f"sqlite:///{path}", SETTINGS)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, dict]:
    path = tmp_path_factory.mktemp("serving") / "clients.db"
    clients, manifest = publish_tiny(path)
    return path, clients, manifest


def test_every_client_is_published_with_both_precomputed_scores(published) -> None:
    path, clients, manifest = published
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT SK_ID_CURR, split, TARGET, full_score, light_decision, full_model_version "
            "FROM clients ORDER BY SK_ID_CURR"
        ).fetchall()
    assert [r[0] for r in rows] == clients["SK_ID_CURR"].tolist()
    assert manifest["n_train"] == 60 and manifest["n_test"] == 20
    assert all(r[2] is None for r in rows if r[1] == "test")
    assert {r[2] for r in rows if r[1] == "train"} <= {0, 1}
    assert all(0 <= r[3] <= 100 and r[4] in ("granted", "refused") for r in rows)
    assert {r[5] for r in rows} == {"3"}


def test_full_model_inputs_carry_history_as_json_in_signature_order(published) -> None:
    path, clients, _ = published
    db = ClientsDatabase(f"sqlite:///{path}")
    names = [c["column_name"] for c in db.input_columns("full")]
    assert names == list(input_fields((*LIGHT_FIELDS, *HISTORY_USED)))
    first = int(clients["SK_ID_CURR"].iloc[0])
    stored = db.model_input("full", first)
    history = json.loads(stored["HISTORY"])
    expected = {k: v for k, v in clients.iloc[0][list(HISTORY_USED)].items() if pd.notna(v)}
    assert history == pytest.approx(expected)
    assert stored["AMT_CREDIT"] == pytest.approx(clients["AMT_CREDIT"].iloc[0])
    assert db.model_input("full", 1) is None


def _nan(payload: int) -> float:
    """A NaN with the given bits (features may carry any NaN; they must come back as they were)."""
    return float(np.frombuffer(np.uint64(payload).tobytes(), dtype="<f8")[0])


def test_a_packed_history_comes_back_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(scale=1e6, size=(50, len(HISTORY_FEATURES)))
    values[rng.random(values.shape) < 0.4] = np.nan
    values[:, :20] = np.round(values[:, :20])
    values[0] = np.nan  # no history at all
    values[1, :8] = [-0.0, 5e-324, np.inf, -np.inf, np.finfo(float).max, 0.1, 1 / 3, -1200.0]
    values[2, :2] = [_nan(0x7FF8000000000001), _nan(0xFFF8000000000000)]
    blobs = pack_history(values)
    assert all(isinstance(b, bytes) for b in blobs)
    assert len(blobs[0]) < 50  # no history costs next to nothing
    for row, blob in zip(values, blobs, strict=True):
        assert unpack_history(blob, len(HISTORY_FEATURES)).tobytes() == row.tobytes()
        record = json.loads(stored_history(blob, HISTORY_FEATURES))
        present = {f: v for f, v in zip(HISTORY_FEATURES, row.tolist(), strict=True) if v == v}
        assert record == present  # the same floats, exactly; NaN (missing) keys left out
    assert stored_history(blobs[0], HISTORY_FEATURES) == "{}"
    for threads in (2, 3):  # slices compressed side by side, put back in row order
        assert pack_history(values, threads=threads) == blobs


def test_the_stored_history_is_the_clients_aggregates_exactly(published) -> None:
    path, clients, _ = published
    db = ClientsDatabase(f"sqlite:///{path}")
    for _, row in clients.iterrows():
        history = json.loads(db.model_input("full", int(row["SK_ID_CURR"]))["HISTORY"])
        assert history == {f: row[f] for f in HISTORY_USED if pd.notna(row[f])}


def _rewrite_histories(path: Path, order: list[str]) -> None:
    """Re-pack every stored history in ``order`` and record that order, as a writer could."""
    with sqlite3.connect(path) as conn:
        (position,) = conn.execute(
            "SELECT position FROM model_inputs WHERE model = 'full' AND column_name = 'HISTORY'"
        ).fetchone()
        column = f"c{position}"
        stored = conn.execute(f"SELECT SK_ID_CURR, {column} FROM inputs_full").fetchall()
        where = [HISTORY_FEATURES.index(f) for f in order]
        for client_id, blob in stored:
            values = unpack_history(blob, len(HISTORY_FEATURES))[where]
            (packed,) = pack_history(values[None, :])
            conn.execute(
                f"UPDATE inputs_full SET {column} = ? WHERE SK_ID_CURR = ?", (packed, client_id)
            )
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'history_features'", (json.dumps(order),)
        )


def test_the_reader_names_history_values_in_the_order_the_database_records(
    published, tmp_path: Path
) -> None:
    path, clients, _ = published
    ids = clients["SK_ID_CURR"].head(10).tolist()

    def inputs(db: ClientsDatabase) -> list[dict]:
        rows = [db.model_input("full", i) for i in ids]
        return [{**row, "HISTORY": json.loads(row["HISTORY"])} for row in rows]

    expected = inputs(ClientsDatabase(f"sqlite:///{path}"))
    copy = tmp_path / "clients.db"
    shutil.copy(path, copy)
    # Another order, and fewer values: the one never known last (NaN for everyone).
    _rewrite_histories(copy, [*HISTORY_USED[::-1], HISTORY_FEATURES[-1]])
    assert inputs(ClientsDatabase(f"sqlite:///{copy}")) == expected
    assert any(row["HISTORY"] for row in expected)


def test_an_unknown_history_packing_is_refused_not_misread(published, tmp_path: Path) -> None:
    path, clients, _ = published
    copy = tmp_path / "clients.db"
    shutil.copy(path, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE meta SET value = 'float16-lzma' WHERE key = 'history_packing'")
    db = ClientsDatabase(f"sqlite:///{copy}")
    client_id = int(clients["SK_ID_CURR"].iloc[0])
    with pytest.raises(DatabaseUnavailable, match="float16-lzma"):
        db.model_input("full", client_id)
    assert db.model_input("light", client_id)["AMT_CREDIT"] == clients["AMT_CREDIT"].iloc[0]


def test_bulk_rows_are_stored_exactly_as_through_sqlalchemy_dicts(tmp_path: Path) -> None:
    """The driver-level insert of the bulk tables: same values, storage types and NULLs."""
    from sqlalchemy import MetaData, create_engine, insert

    from credit_scoring.api.tables import define_tables
    from credit_scoring.publish import _driver_rows, _insert_frame

    frame = pd.DataFrame(
        {
            "SK_ID_CURR": np.array([7, 3, 5], dtype=np.int64),
            "c0": [1.5, np.nan, -0.0],
            "c1": pd.array([4, None, 2**40], dtype="Int64"),
            "c2": pd.Series(["a", None, "é"], dtype="str"),
            "c3": pd.Series([np.int64(9), None, "x"], dtype=object),
            "c4": [b"\x00\x01", None, b""],
            "c5": np.array([-3, 0, 3], dtype=np.int64),
        }
    )
    kinds = {"full": ["float", "int", "str", "str", HISTORY_KIND, "int"]}
    stored = []
    for how in ("dicts", "driver"):
        engine = create_engine(f"sqlite:///{tmp_path / how}.db")
        metadata = MetaData()
        table = define_tables(metadata, client_fields=(), input_kinds=kinds)["inputs_full"]
        metadata.create_all(engine)
        with engine.begin() as conn:
            if how == "dicts":
                rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
                conn.execute(insert(table), rows)
            else:
                _insert_frame(conn, table, list(frame.columns), _driver_rows(frame))
        columns = ", ".join(f"typeof({c}), {c}" for c in frame.columns)
        with engine.connect() as conn:
            query = f"SELECT {columns} FROM inputs_full ORDER BY SK_ID_CURR"
            stored.append(conn.exec_driver_sql(query).fetchall())
    assert stored[1] == stored[0]
    missing = ("null", None) * 5
    assert stored[1][0] == ("integer", 3, *missing, "integer", 0)
    assert stored[1][2][4:10] == ("integer", 4, "text", "a", "text", "9")  # numpy unboxed


def test_clients_are_read_from_the_feature_files_train_then_test(tmp_path: Path) -> None:
    clients = tiny_clients()
    train, test = (clients[clients["split"] == s].drop(columns="split") for s in ("train", "test"))
    train.to_parquet(tmp_path / "train.parquet", index=False, row_group_size=25)
    test.drop(columns="TARGET").to_parquet(tmp_path / "test.parquet", index=False)
    read = read_clients(tmp_path / "train.parquet", tmp_path / "test.parquet")
    pd.testing.assert_frame_equal(read, clients)  # test TARGET missing, column order kept
    train.head(1).drop(columns="TARGET").to_parquet(tmp_path / "test.parquet", index=False)
    with pytest.raises(SchemaError, match="both train and test"):
        read_clients(tmp_path / "train.parquet", tmp_path / "test.parquet")


def test_histograms_share_edges_and_count_every_known_value() -> None:
    clients = tiny_clients()
    histograms, quantiles = population_statistics(clients, SETTINGS)
    by_key = {(h["feature"], h["population"], h["bins"]): h for h in histograms}
    all_income = by_key[("AMT_INCOME_TOTAL", "all", 10)]
    repaid_income = by_key[("AMT_INCOME_TOTAL", "repaid", 10)]
    assert all_income["edges"] == repaid_income["edges"]
    assert sum(all_income["counts"]) == clients["AMT_INCOME_TOTAL"].notna().sum()
    assert sum(repaid_income["counts"]) == (clients["TARGET"] == 0).sum()
    employed = by_key[("DAYS_EMPLOYED", "all", 5)]
    assert employed["missing"] == (clients["DAYS_EMPLOYED"] == 365243).sum()
    medians = {(q["feature"], q["population"]): q["value"] for q in quantiles if q["q"] == 0.5}
    assert medians[("AMT_CREDIT", "all")] == pytest.approx(clients["AMT_CREDIT"].median())


def test_population_index_matches_a_direct_computation() -> None:
    clients = tiny_clients()
    repaid = clients[clients["TARGET"] == 0]
    index = PopulationIndex.build(
        clients["AMT_INCOME_TOTAL"].to_numpy(float),
        repaid[["AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY"]].to_numpy(float),
    )
    income = float(clients["AMT_INCOME_TOTAL"].median())
    peers = repaid[
        (repaid["AMT_INCOME_TOTAL"] > 0.95 * income) & (repaid["AMT_INCOME_TOTAL"] < 1.05 * income)
    ]
    got = index.position(income)
    assert got["income_percentile"] == pytest.approx(
        100 * (clients["AMT_INCOME_TOTAL"] < income).mean()
    )
    assert got["peers"] == len(peers)
    assert got["peers_mean_credit"] == pytest.approx(peers["AMT_CREDIT"].mean())
    assert got["peers_mean_annuity"] == pytest.approx(peers["AMT_ANNUITY"].mean())
    assert index.position(1.0)["peers_mean_credit"] is None


def test_republishing_replaces_the_file_and_a_failure_keeps_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "clients.db"
    _, first = publish_tiny(path)
    db = ClientsDatabase(f"sqlite:///{path}")
    assert db.ping() == first["publish_id"]
    _, second = publish_tiny(path)
    assert db.ping() == second["publish_id"] != first["publish_id"]
    broken = tiny_clients().drop(columns=["AMT_CREDIT"])
    with pytest.raises(SchemaError, match="AMT_CREDIT"):
        publish(broken, tiny_champions(), f"sqlite:///{path}", SETTINGS)
    assert db.ping() == second["publish_id"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.db"]


@pytest.mark.parametrize("recheck_seconds", [0.0, 3600.0])
def test_a_trusted_generation_answers_scoring_lookups_without_the_database(
    tmp_path: Path, recheck_seconds: float
) -> None:
    path = tmp_path / "clients.db"
    publish_tiny(path)
    db = ClientsDatabase(f"sqlite:///{path}", recheck_seconds=recheck_seconds)
    models, inputs = db.models(), db.input_columns("light")
    path.unlink()  # the database is gone: only what is trusted can still answer
    with pytest.raises(DatabaseUnavailable):
        db.ping()  # health always looks
    if recheck_seconds:
        assert db.models() == models and db.input_columns("light") == inputs
    else:
        with pytest.raises(DatabaseUnavailable):
            db.models()


def test_staged_swap_on_a_shared_database_leaves_no_staging_tables(tmp_path: Path) -> None:
    # A non-file URL path (what PostgreSQL uses): load under a suffix, swap in one transaction.
    from sqlalchemy import create_engine, inspect

    from credit_scoring.publish import _load

    engine = create_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    clients = tiny_clients()
    champions = tiny_champions()
    predictions = {m: c.predict(clients) for m, c in champions.items()}
    for publish_id in ("aaa", "bbb"):
        _load(engine, clients, champions, predictions, SETTINGS, publish_id)
    names = set(inspect(engine).get_table_names())
    assert "clients" in names and not any("__" in n for n in names)
    with engine.connect() as conn:
        value = conn.exec_driver_sql("SELECT value FROM meta WHERE key='publish_id'").scalar()
    assert value == "bbb"


def test_a_missing_champion_is_one_clear_error(tmp_path: Path) -> None:
    """Nothing passed the gates yet: the stage says so instead of MLflow's traceback."""
    import mlflow

    from credit_scoring.publish import ChampionMissing, load_champion

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        with pytest.raises(ChampionMissing, match=r"no models:/credit-scoring-light@champion"):
            load_champion("light", "credit-scoring-light", "champion")
    finally:
        mlflow.set_tracking_uri(previous)
