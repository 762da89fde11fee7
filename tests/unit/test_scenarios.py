"""Named generator scenarios: a baseline that keeps the process, a shift that changes it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from credit_scoring.cli import main
from credit_scoring.data.schema import TABLES
from credit_scoring.data.synthetic import generate
from credit_scoring.data.synthetic.scenario import Shift, available_scenarios, load_scenario
from credit_scoring.errors import CreditScoringError

N = 2000


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same seed and size, generated without and with the ``shifted`` scenario's shift."""
    root = tmp_path_factory.mktemp("scenarios")
    shift = load_scenario("shifted").shift
    generate(root / "plain", n_clients=N, seed=5, oracle_path=root / "plain.csv", progress=False)
    generate(
        root / "shifted",
        n_clients=N,
        seed=5,
        oracle_path=root / "shifted.csv",
        progress=False,
        shift=shift,
    )
    return root / "plain", root / "shifted"


def test_the_named_scenarios_exist_and_parse() -> None:
    assert {"baseline", "shifted"} <= set(available_scenarios())
    baseline = load_scenario("baseline")
    assert baseline.shift.is_identity
    assert baseline.seed != 42  # new applicants, not the default data set again
    shifted = load_scenario("shifted")
    assert not shifted.shift.is_identity
    assert shifted.shift.income_factor == pytest.approx(1.3)


def test_unknown_scenario_and_keys_are_named() -> None:
    with pytest.raises(CreditScoringError, match="baseline"):
        load_scenario("no-such-scenario")
    with pytest.raises(CreditScoringError, match="unknown shift"):
        Shift.from_mapping({"income": 2})
    with pytest.raises(CreditScoringError, match="event_log_odds"):
        Shift.from_mapping({"event_log_odds": {"bureau": 1.0}})


def test_the_identity_shift_changes_no_byte(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    plain, _ = pair
    generate(tmp_path / "raw", n_clients=N, seed=5, progress=False, shift=Shift())
    for table in TABLES.values():
        assert (tmp_path / "raw" / table.file_name).read_bytes() == (
            plain / table.file_name
        ).read_bytes(), table.file_name


def test_the_shift_moves_what_it_names(pair: tuple[Path, Path]) -> None:
    plain, shifted = pair
    a = pd.read_csv(plain / "application_train.csv")
    b = pd.read_csv(shifted / "application_train.csv")
    assert (a.SK_ID_CURR == b.SK_ID_CURR).all()
    ratio = b.AMT_INCOME_TOTAL.median() / a.AMT_INCOME_TOTAL.median()
    assert 1.2 < ratio < 1.4
    assert (b.AMT_INCOME_TOTAL % 2250 == 0).all()
    assert b.EXT_SOURCE_2.mean() < a.EXT_SOURCE_2.mean() - 0.1
    assert b.EXT_SOURCE_2.dropna().between(0, 1).all()
    assert a.EXT_SOURCE_2.isna().sum() == b.EXT_SOURCE_2.isna().sum()
    assert b.TARGET.mean() > a.TARGET.mean() + 0.03
    # What the shift does not name stays as it was.
    pd.testing.assert_series_equal(a.DAYS_BIRTH, b.DAYS_BIRTH)
    pd.testing.assert_series_equal(a.AMT_CREDIT, b.AMT_CREDIT)

    def refused_share(raw: Path) -> float:
        prev = pd.read_csv(raw / "previous_application.csv", usecols=["NAME_CONTRACT_STATUS"])
        return float((prev.NAME_CONTRACT_STATUS == "Refused").mean())

    assert refused_share(shifted) > refused_share(plain) + 0.08
    # The oracle is the drifted process's truth: higher true probabilities, same applicants.
    pa = pd.read_csv(plain.parent / "plain.csv")
    pb = pd.read_csv(shifted.parent / "shifted.csv")
    assert (pa.SK_ID_CURR == pb.SK_ID_CURR).all()
    assert pb.probability.mean() > pa.probability.mean() + 0.03


def test_generate_command_takes_a_scenario(tmp_path: Path) -> None:
    out, oracle = tmp_path / "batch", tmp_path / "oracle.csv"
    code = main(
        ["generate", "--scenario", "baseline", "--n-clients", "300", "--out", str(out),
         "--oracle", str(oracle)]
    )  # fmt: skip
    assert code == 0
    assert len(pd.read_csv(out / "application_train.csv")) == 300
    assert len(pd.read_csv(oracle)) > 300  # train and test applicants
    assert main(["generate", "--scenario", "nope", "--out", str(tmp_path / "x")]) == 2
