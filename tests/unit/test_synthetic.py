"""The synthetic generator: format, vocabularies, keys, determinism, quirks and signal."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.schema import DAYS_SENTINEL, LIGHT_FIELDS, TABLES
from credit_scoring.data.synthetic import RiskModel, generate
from credit_scoring.data.synthetic.csv_format import format_floats
from tests.conftest import REAL_HEADS, REPO_ROOT

N_CLIENTS = 3000


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "raw"
    generate(
        out, n_clients=N_CLIENTS, seed=7, oracle_path=out.parent / "oracle.csv", progress=False
    )
    return out


def _generate_stage() -> ModuleType:
    """``pipelines/generate.py`` as a module (a stage script, not a package module)."""
    spec = importlib.util.spec_from_file_location(
        "generate_stage", REPO_ROOT / "pipelines" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    return stage


def _read(raw: Path, table: str) -> pd.DataFrame:
    # keep_default_na=False: "XNA"/"NA"-like strings stay values; only empty fields are missing.
    return pd.read_csv(raw / f"{table}.csv", keep_default_na=False, na_values=[""], dtype=str)


def test_files_are_exactly_the_eight_tables(small: Path) -> None:
    assert sorted(p.name for p in small.iterdir()) == sorted(t.file_name for t in TABLES.values())


@pytest.mark.parametrize("table", list(TABLES))
def test_header_equals_real_file(small: Path, table: str) -> None:
    with (REAL_HEADS / f"{table}.csv").open() as real, (small / f"{table}.csv").open() as ours:
        assert next(csv.reader(ours)) == next(csv.reader(real))


@pytest.mark.parametrize("table", list(TABLES))
def test_every_value_parses_as_its_schema_kind(small: Path, table: str) -> None:
    frame = _read(small, table)
    assert len(frame) > 0
    for col in TABLES[table].columns:
        values = frame[col.name].dropna()
        if col.kind == "int":
            assert frame[col.name].notna().all(), col.name
            assert values.str.fullmatch(r"-?\d+").all(), col.name
        elif col.kind == "float":
            # Python float repr, as pandas writes it: always a dot or an exponent.
            assert values.map(lambda v: repr(float(v)) == v).all(), col.name
        else:
            assert set(values) <= set(col.vocabulary or ()), col.name


def test_float_text_is_python_repr() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.lognormal(0, 6, 20_000), -rng.random(1000), [0.0, -0.0, 1e-5, 5e-5, 1e15, 202500.0]]
    )
    expected = [repr(float(v) + 0.0) for v in values]
    assert format_floats(values).to_pylist() == expected


def test_text_with_commas_is_quoted(small: Path) -> None:
    text = (small / "application_train.csv").read_text()
    assert '"Spouse, partner"' in text or '"Stone, brick"' in text
    assert ",Spouse, partner," not in text


def test_generated_data_passes_the_strict_validation(small: Path) -> None:
    """The generator and the loader agree on every rule: no error and no warning."""
    from credit_scoring.data.loading import validate_dir

    report = validate_dir(small, strict=True)
    assert report.ok, report.format()
    assert not report.warnings, report.format()


def test_foreign_keys_hold(small: Path) -> None:
    ids = set(_read(small, "application_train").SK_ID_CURR) | set(
        _read(small, "application_test").SK_ID_CURR
    )
    bureau = _read(small, "bureau")
    prev = _read(small, "previous_application")
    assert set(bureau.SK_ID_CURR) <= ids and set(prev.SK_ID_CURR) <= ids
    assert set(_read(small, "bureau_balance").SK_ID_BUREAU) <= set(bureau.SK_ID_BUREAU)
    owner = dict(zip(prev.SK_ID_PREV, prev.SK_ID_CURR, strict=True))
    for table in ("POS_CASH_balance", "installments_payments", "credit_card_balance"):
        rows = _read(small, table)
        assert (rows.SK_ID_PREV.map(owner) == rows.SK_ID_CURR).all(), table
    assert bureau.SK_ID_BUREAU.is_unique and prev.SK_ID_PREV.is_unique
    assert int(bureau.SK_ID_BUREAU.astype(int).min()) >= 5_000_000
    assert int(prev.SK_ID_PREV.astype(int).min()) >= 1_000_000


def test_train_and_test_ids_are_distinct_at_the_real_ratio(small: Path) -> None:
    train = _read(small, "application_train").SK_ID_CURR.astype(int)
    test = _read(small, "application_test").SK_ID_CURR.astype(int)
    assert len(train) == N_CLIENTS and len(test) == round(N_CLIENTS * 48744 / 307511)
    assert not set(train) & set(test)
    assert min(train.min(), test.min()) == 100002


def test_application_quirks_and_rates(small: Path) -> None:
    app = pd.read_csv(small / "application_train.csv", keep_default_na=False, na_values=[""])
    assert 0.06 <= app.TARGET.mean() <= 0.10
    sentinel = app.DAYS_EMPLOYED == DAYS_SENTINEL
    assert 0.14 <= sentinel.mean() <= 0.22
    assert app.loc[sentinel, "NAME_INCOME_TYPE"].isin(["Pensioner", "Unemployed"]).all()
    assert (app.loc[sentinel, "ORGANIZATION_TYPE"] == "XNA").all()
    assert (app.loc[sentinel, "FLAG_EMP_PHONE"] == 0).all()
    assert (app.loc[~sentinel, "DAYS_EMPLOYED"] > app.loc[~sentinel, "DAYS_BIRTH"] + 18 * 365).all()
    assert app.DAYS_BIRTH.between(-25229, -7489).all()
    assert (app.CODE_GENDER == "XNA").sum() >= 1
    assert 0.62 <= (app.CODE_GENDER == "F").mean() <= 0.70
    assert 0.87 <= (app.NAME_CONTRACT_TYPE == "Cash loans").mean() <= 0.93
    missing = app.isna().mean()
    for column, real in {"EXT_SOURCE_1": 0.56, "EXT_SOURCE_3": 0.20, "OWN_CAR_AGE": 0.66}.items():
        assert abs(missing[column] - real) < 0.05, column
    assert missing["EXT_SOURCE_2"] < 0.01 and missing["AMT_GOODS_PRICE"] < 0.01
    assert (app.APARTMENTS_AVG.isna() == app.APARTMENTS_MEDI.isna()).all()
    assert 0.45 <= missing["APARTMENTS_AVG"] <= 0.72
    assert (app.AMT_ANNUITY.dropna() < app.AMT_CREDIT[app.AMT_ANNUITY.notna()]).all()
    assert (app.CNT_FAM_MEMBERS >= app.CNT_CHILDREN + 1).all()
    assert (app.AMT_INCOME_TOTAL % 2250 == 0).all()
    assert (
        app.AMT_GOODS_PRICE.dropna() <= app.AMT_CREDIT[app.AMT_GOODS_PRICE.notna()]
    ).mean() > 0.95


def test_history_volumes_are_realistic(small: Path) -> None:
    n = N_CLIENTS + round(N_CLIENTS * 48744 / 307511)
    bureau = _read(small, "bureau")
    prev = _read(small, "previous_application")
    cards = _read(small, "credit_card_balance")
    assert 0.80 <= bureau.SK_ID_CURR.nunique() / n <= 0.92
    assert 4.5 <= len(bureau) / bureau.SK_ID_CURR.nunique() <= 6.5
    assert 0.90 <= prev.SK_ID_CURR.nunique() / n <= 0.99
    assert 0.24 <= cards.SK_ID_CURR.nunique() / n <= 0.34
    for column in ("DAYS_FIRST_DRAWING", "DAYS_LAST_DUE", "DAYS_TERMINATION"):
        assert (prev[column] == "365243.0").any(), column


def test_same_seed_same_bytes_whatever_the_chunking(small: Path, tmp_path: Path) -> None:
    again = tmp_path / "raw"
    generate(
        again,
        n_clients=N_CLIENTS,
        seed=7,
        oracle_path=tmp_path / "o.csv",
        chunk_size=1000,
        progress=False,
    )
    for table in TABLES.values():
        assert (again / table.file_name).read_bytes() == (small / table.file_name).read_bytes()
    assert (tmp_path / "o.csv").read_bytes() == (small.parent / "oracle.csv").read_bytes()


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    generate(tmp_path / "a", n_clients=200, seed=1, progress=False)
    generate(tmp_path / "b", n_clients=200, seed=2, progress=False)
    name = "application_train.csv"
    assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes()


def test_oracle_covers_every_applicant_with_probabilities(small: Path) -> None:
    oracle = pd.read_csv(small.parent / "oracle.csv")
    train = pd.read_csv(small / "application_train.csv", usecols=["SK_ID_CURR", "TARGET"])
    assert list(oracle.columns) == ["SK_ID_CURR", "probability", "history_risk"]
    assert set(train.SK_ID_CURR) <= set(oracle.SK_ID_CURR)
    assert oracle.probability.between(0, 1).all()
    # h ~ N(0, 1), on the row of its own applicant: it raises the risk of default.
    h = oracle.set_index("SK_ID_CURR").history_risk
    assert h.notna().all() and abs(h.mean()) < 0.1 and 0.9 < h.std() < 1.1
    by_target = h.reindex(train.SK_ID_CURR).groupby(train.TARGET.to_numpy()).mean()
    assert by_target[1] > by_target[0] + 0.3


def test_risk_is_non_increasing_in_income_and_external_scores(small: Path) -> None:
    from credit_scoring.data.synthetic.risk import default_log_odds

    app = pd.read_csv(small / "application_train.csv", keep_default_na=False, na_values=[""])
    columns = {c: app[c].to_numpy() for c in app.columns}
    for col in TABLES["application_train"].categorical:
        columns[col.name] = (
            app[col.name]
            .map({v: i for i, v in enumerate(col.vocabulary or ())})
            .fillna(-1)
            .to_numpy()
        )
    h = np.zeros(len(app))
    base = default_log_odds(RiskModel(), columns, h)
    for name, step in (
        ("AMT_INCOME_TOTAL", 50_000.0),
        ("EXT_SOURCE_1", 0.1),
        ("EXT_SOURCE_2", 0.1),
        ("EXT_SOURCE_3", 0.1),
    ):
        raised = default_log_odds(RiskModel(), {**columns, name: columns[name] + step}, h)
        assert (raised[~np.isnan(columns[name])] <= base[~np.isnan(columns[name])] + 1e-12).all(), (
            name
        )


def test_risk_coefficients_are_checked() -> None:
    from credit_scoring.config import ConfigError, DataConfig, validate_group

    with pytest.raises(ConfigError, match=r"data\.risk\.ext_source_4: unknown key"):
        validate_group(DataConfig, {"source": "synthetic", "risk": {"ext_source_4": -1.0}}, "data")
    with pytest.raises(ConfigError, match=r"data\.risk: .*annuity_income .* must be >= 0"):
        validate_group(DataConfig, {"source": "synthetic", "risk": {"annuity_income": -1}}, "data")


def test_conf_risk_defaults_match_code(repo_root: Path) -> None:
    from omegaconf import OmegaConf

    from credit_scoring.config import DataConfig, validate_group

    conf = OmegaConf.load(repo_root / "conf" / "data" / "synthetic.yaml")
    assert validate_group(DataConfig, conf, "data").risk == RiskModel()


@pytest.mark.slow
def test_history_tables_beat_the_light_fields(tmp_path: Path) -> None:
    import lightgbm as lgb
    from sklearn.model_selection import cross_val_score

    raw = tmp_path / "raw"
    generate(raw, n_clients=8_000, seed=3, progress=False)
    app = pd.read_csv(raw / "application_train.csv").set_index("SK_ID_CURR")
    bureau = pd.read_csv(raw / "bureau.csv")
    prev = pd.read_csv(raw / "previous_application.csv")
    prev["REFUSED"] = prev.NAME_CONTRACT_STATUS.eq("Refused")
    inst = pd.read_csv(raw / "installments_payments.csv")
    inst["DPD"] = (inst.DAYS_ENTRY_PAYMENT - inst.DAYS_INSTALMENT).clip(lower=0)
    inst["SHORT"] = inst.AMT_INSTALMENT - inst.AMT_PAYMENT
    cards = pd.read_csv(raw / "credit_card_balance.csv")
    cards["UTIL"] = cards.AMT_BALANCE / cards.AMT_CREDIT_LIMIT_ACTUAL
    aggregates = [
        bureau.groupby("SK_ID_CURR")[["CREDIT_DAY_OVERDUE", "AMT_CREDIT_MAX_OVERDUE"]].agg(
            ["mean", "max"]
        ),
        prev.groupby("SK_ID_CURR")[["REFUSED"]].agg(["mean"]),
        inst.groupby("SK_ID_CURR")[["DPD", "SHORT"]].agg(["mean", "max"]),
        cards.groupby("SK_ID_CURR")[["UTIL", "SK_DPD"]].agg(["mean", "max"]),
    ]
    full = app.drop(columns="TARGET")
    for agg in aggregates:
        agg.columns = ["_".join(c) for c in agg.columns]
        full = full.join(agg)
    for column in full.columns:
        if not pd.api.types.is_numeric_dtype(full[column]):
            full[column] = full[column].astype("category")
    model = lgb.LGBMClassifier(
        n_estimators=100, learning_rate=0.08, num_leaves=15, verbose=-1, n_jobs=2
    )
    auc_full = cross_val_score(model, full, app.TARGET, cv=3, scoring="roc_auc").mean()
    auc_light = cross_val_score(
        model, full[list(LIGHT_FIELDS)], app.TARGET, cv=3, scoring="roc_auc"
    ).mean()
    assert auc_light > 0.55
    assert auc_full >= auc_light + 0.05


def test_generate_command_writes_the_data_steps_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``credit-scoring generate`` with no option writes what ``make data`` writes.

    Both read the project's ``conf/data/synthetic.yaml``, here a copy with its size,
    seed and intercept changed: every file (the oracle included) must be the same to
    the byte, which it is not if the command keeps a size, seed or risk of its own.
    """
    import shutil

    from omegaconf import OmegaConf

    from credit_scoring.cli import main
    from credit_scoring.config import CONF_DIR, compose_config

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    settings = OmegaConf.load(conf / "data" / "synthetic.yaml")
    settings.n_clients, settings.seed, settings.risk.intercept = 200, 5, -2.5
    OmegaConf.save(settings, conf / "data" / "synthetic.yaml")
    monkeypatch.chdir(tmp_path)  # the command reads ./conf, as the stages do

    assert main(["generate", "--out", "cli", "--oracle", "cli_oracle.csv"]) == 0
    stage = _generate_stage()
    stage.materialize(
        compose_config(conf_dir=conf)[1].data, tmp_path / "stage", tmp_path / "stage_oracle.csv"
    )

    assert len(pd.read_csv(tmp_path / "cli" / "application_train.csv")) == 200
    for table in TABLES.values():
        name = table.file_name
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "stage" / name).read_bytes()
    oracle = (tmp_path / "cli_oracle.csv").read_bytes()
    assert oracle == (tmp_path / "stage_oracle.csv").read_bytes()


def test_generate_stage_checks_the_kaggle_files_in_place(small: Path, tmp_path: Path) -> None:
    """``data: kaggle``: nothing generated, nothing moved; a missing file is named."""
    import shutil

    from credit_scoring.config import compose_config
    from credit_scoring.errors import CreditScoringError

    stage = _generate_stage()
    kaggle = compose_config(["data=kaggle"])[1].data
    raw, oracle = tmp_path / "raw", tmp_path / "oracle.csv"
    raw.mkdir()
    (raw / "bureau.csv").write_bytes((small / "bureau.csv").read_bytes())
    with pytest.raises(CreditScoringError, match=r"lacks application_train\.csv"):
        stage.materialize(kaggle, raw, oracle)
    assert not oracle.exists()

    shutil.copytree(small, raw, dirs_exist_ok=True)
    (raw / "HomeCredit_columns_description.csv").write_text("Table,Row\n")  # Kaggle ships it
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    stage.materialize(kaggle, raw, oracle)
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
    assert oracle.read_text() == "SK_ID_CURR,probability\n"
    assert pd.read_csv(oracle).empty  # the train stage reads it: real data know no probability


def test_generate_stage_never_replaces_files_copied_into_the_raw_directory(
    tmp_path: Path,
) -> None:
    """``data: synthetic`` over a Kaggle download: refused, the files stay as they were."""
    from credit_scoring.config import compose_config
    from credit_scoring.errors import CreditScoringError

    stage = _generate_stage()
    synthetic = compose_config(["data.n_clients=50"])[1].data
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "application_train.csv").write_text("SK_ID_CURR,TARGET\n100002,1\n")
    (raw / "sample_submission.csv").write_text("SK_ID_CURR,TARGET\n100001,0.5\n")
    with pytest.raises(CreditScoringError, match=r"sample_submission\.csv.*data: kaggle"):
        stage.materialize(synthetic, raw, tmp_path / "oracle.csv")
    assert (raw / "application_train.csv").read_text() == "SK_ID_CURR,TARGET\n100002,1\n"
    assert sorted(p.name for p in raw.iterdir()) == [
        "application_train.csv",
        "sample_submission.csv",
    ]

    (raw / "sample_submission.csv").unlink()  # only the generator's names: replaced
    stage.materialize(synthetic, raw, tmp_path / "oracle.csv")
    assert len(pd.read_csv(raw / "application_train.csv")) == 50
