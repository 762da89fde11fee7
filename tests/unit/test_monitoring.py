"""The stability report on known populations: PSI against a plain computation, bands,
alert reasons, and the files a monitoring run writes (Evidently's included)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from credit_scoring.config import MonitoringConfig, PredictionLogConfig, validate_group
from credit_scoring.monitoring.monitor import EXIT_ALERT, EXIT_OK, evaluate
from credit_scoring.monitoring.populations import MonitorInputError, Population
from credit_scoring.monitoring.stability import Bands, performance, stability


def _settings(repo_root: Path, **evidently: object) -> MonitoringConfig:
    conf = OmegaConf.to_container(OmegaConf.load(repo_root / "conf/monitoring/default.yaml"))
    conf["evidently"].update(evidently)
    return validate_group(MonitoringConfig, conf, "monitoring")


def _population(n: int, seed: int, *, income_factor: float = 1.0, ext_shift: float = 0.0,
                default_shift: float = 0.0) -> Population:  # fmt: skip
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(np.log(135_000), 0.48, n) * income_factor / 2250) * 2250
    ext = np.clip(rng.beta(4, 3, n) + ext_shift, 0.0001, 0.9999)
    ext[rng.random(n) < 0.02] = np.nan
    gender = rng.choice(["F", "M"], n, p=[0.65, 0.35])
    children = rng.poisson(0.4, n).astype(float)
    logit = -2.4 - 3.0 * (np.nan_to_num(ext, nan=0.5) - 0.57) + default_shift
    p = 1 / (1 + np.exp(-logit))
    target = (rng.random(n) < p).astype(float)
    inputs = pd.DataFrame(
        {"AMT_INCOME_TOTAL": income, "EXT_SOURCE_2": ext, "CODE_GENDER": gender,
         "CNT_CHILDREN": children}
    )  # fmt: skip
    return Population(f"synthetic seed {seed}", inputs, p, target)


def _plain_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI as a validation analyst computes it by hand: the reference's decile values as
    edges (the k-th decile is the ceil(k n / 10)-th smallest value), bins (lo, hi], shares
    floored at 1e-4."""
    ordered = np.sort(reference)
    inner = [ordered[math.ceil(k * len(ordered) / bins) - 1] for k in range(1, bins)]
    edges = np.array([-np.inf, *inner, np.inf])
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        r = max(np.mean((reference > lo) & (reference <= hi)), 1e-4)
        c = max(np.mean((current > lo) & (current <= hi)), 1e-4)
        total += (c - r) * math.log(c / r)
    return total


def test_psi_matches_a_plain_computation() -> None:
    rng = np.random.default_rng(3)
    # No ties; 20,001 rows: where k·n/10 is a whole number, the float decile levels
    # (0.30000000000000004) can pick the next rank, a one-row difference in a bin.
    ref_scores, cur_scores = rng.beta(2, 18, 20_001), rng.beta(2.4, 18, 5_000)
    ref, cur = _population(20_000, 1), _population(5_000, 2, ext_shift=-0.1)
    result = stability(ref_scores, cur_scores, ref.inputs, cur.inputs, bins=10, bands=Bands())
    assert result.score_psi == pytest.approx(_plain_psi(ref_scores, cur_scores), rel=1e-12)
    assert result.score_psi > 0.01  # a real difference, not two zeros
    # A categorical input: the per-category formula.
    r = ref.inputs.CODE_GENDER.value_counts(normalize=True)
    c = cur.inputs.CODE_GENDER.value_counts(normalize=True)
    gender = sum((c[k] - r[k]) * math.log(c[k] / r[k]) for k in ("F", "M"))
    by_input = result.inputs.set_index("input")
    assert by_input.loc["CODE_GENDER", "psi"] == pytest.approx(gender, rel=1e-12)
    # Every model input is reported, sorted by PSI, and the shifted one leads.
    assert set(by_input.index) == set(ref.inputs.columns)
    assert result.inputs["psi"].is_monotonic_decreasing
    assert result.inputs["input"].iloc[0] == "EXT_SOURCE_2"


def test_bands_read_psi_as_the_industry_does() -> None:
    bands = Bands(stable=0.1, shift=0.25)
    assert [bands.read(v) for v in (0.0, 0.099, 0.1, 0.25, 0.2501)] == [
        "stable", "stable", "watch", "watch", "shift"
    ]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict[str, object]:
    settings = _settings(repo_root)
    reference = _population(8_000, 10)
    out = {}
    for name, current in {
        "baseline": _population(3_000, 11),
        "shifted": _population(3_000, 12, income_factor=1.3, ext_shift=-0.15, default_shift=0.4),
    }.items():
        directory = tmp_path_factory.mktemp(name)
        result = evaluate(
            "light",
            reference,
            current,
            settings,
            directory,
            reference_performance=performance(*reference.labelled()),
            champion={"version": "1"},
        )
        out[name] = (result, directory)
    out["reference"] = reference
    return out


def test_a_baseline_raises_no_alert(runs) -> None:
    result, out = runs["baseline"]
    assert result.exit_code == EXIT_OK, result.reasons
    assert result.stability.score_band == "stable"
    assert (result.stability.inputs["band"] == "stable").all()
    drift = json.loads((out / "drift.json").read_text())
    assert drift["alert"] == 0 and drift["score_psi"] < 0.1


def test_a_shift_raises_an_alert_naming_the_inputs(runs) -> None:
    result, out = runs["shifted"]
    assert result.exit_code == EXIT_ALERT
    kinds = {r["kind"]: r for r in result.reasons}
    assert "input_psi" in kinds and "EXT_SOURCE_2" in kinds["input_psi"]["inputs"]
    assert "AMT_INCOME_TOTAL" in kinds["input_psi"]["inputs"]
    assert "CODE_GENDER" not in kinds["input_psi"]["inputs"]
    assert "score_psi" in kinds
    top = result.stability.top(2)["input"].tolist()
    assert set(top) == {"EXT_SOURCE_2", "AMT_INCOME_TOTAL"}
    report = json.loads((out / "report.json").read_text())
    assert report["alert"] is True and report["reasons"]
    assert "EXT_SOURCE_2" in (out / "summary.md").read_text()
    # TARGET known: performance next to the training figure, calibration by decile.
    assert report["performance"]["current"]["auc"] > 0.5
    training = report["performance"]["training"]
    assert training["auc"] == pytest.approx(performance(*runs["reference"].labelled())["auc"])
    calibration = pd.read_csv(out / "calibration.csv")
    assert len(calibration) == 10 and {"current_default_rate", "current_mean_predicted"} <= set(
        calibration.columns
    )


def test_the_evidently_files_exist_and_parse(runs) -> None:
    for name in ("baseline", "shifted"):
        result, out = runs[name]
        body = json.loads((out / "evidently.json").read_text())
        assert body["metrics"] and any(
            "DriftedColumnsCount" in m["metric_name"] for m in body["metrics"]
        )
        html = (out / "evidently.html").read_text()
        assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
        assert set(result.drift.columns) == {
            "AMT_INCOME_TOTAL",
            "EXT_SOURCE_2",
            "CODE_GENDER",
            "CNT_CHILDREN",
        }
    assert "EXT_SOURCE_2" in runs["shifted"][0].drift.drifted
    assert runs["baseline"][0].drift.drifted == []
    png = runs["shifted"][1] / "psi.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_too_few_applicants_is_bad_input(tmp_path: Path, repo_root: Path) -> None:
    with pytest.raises(MonitorInputError, match="min_rows"):
        evaluate("light", _population(5_000, 1), _population(20, 2), _settings(repo_root), tmp_path)


def test_the_prediction_log_is_a_current_population(tmp_path: Path) -> None:
    """Live scores of the champion's version, in the period, inputs as the model saw them."""
    from credit_scoring.monitoring.populations import from_prediction_log
    from credit_scoring.monitoring.prediction_log import (
        PredictionLog,
        prediction_record,
    )
    from credit_scoring.publish import Champion, InputColumn, ModelRecord

    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(
        PredictionLogConfig(enabled=True, url=url, batch_size=100, flush_seconds=0.05)
    )
    for i, version in enumerate(["2"] * 30 + ["1"] * 5):
        log.record(
            prediction_record(
                request_id=str(i),
                route="/score",
                model="light",
                names=["AMT_INCOME_TOTAL", "CODE_GENDER"],
                row=[100_000.0 + i, "M" if i % 2 else "F"],
                answer={"probability": i / 100, "decision": "granted", "model_version": version},
                latency_ms=1.0,
            )
        )
    log.close()
    record = ModelRecord("light", "credit-scoring-light", "2", "run", "models:/x", 0.6, 0.1, None)
    inputs = (
        InputColumn("AMT_INCOME_TOTAL", "float", True),
        InputColumn("CODE_GENDER", "str", False),
    )
    champion = Champion(record, inputs, predict=lambda frame: frame)
    population = from_prediction_log(url, champion)
    assert len(population) == 30  # version 1's scores are another model's
    assert population.probability.tolist() == [i / 100 for i in range(30)]
    assert population.inputs.AMT_INCOME_TOTAL.tolist() == [100_000.0 + i for i in range(30)]
    assert set(population.inputs.CODE_GENDER) == {"F", "M"} and population.labelled() is None
    with pytest.raises(MonitorInputError, match="prediction log"):
        from_prediction_log(f"sqlite:///{tmp_path / 'empty.db'}", champion)


def test_input_summaries_are_the_figures_pandas_gives() -> None:
    """Missing share and mean of an input, float or integer, equal pandas' own to the last
    bit: the stability table is the same whichever way it is computed."""
    rng = np.random.default_rng(5)
    n = 100_003
    values = rng.lognormal(11, 1.3, n)
    values[rng.random(n) < 0.3] = np.nan
    reference = pd.DataFrame({"AMT": values, "CNT": rng.integers(0, 5, n)})
    current = reference.iloc[: n // 3].reset_index(drop=True)
    result = stability(
        rng.random(n), rng.random(len(current)), reference, current, bins=10, bands=Bands()
    ).inputs.set_index("input")
    for name in ("AMT", "CNT"):
        assert result.loc[name, "reference_mean"] == reference[name].mean()
        assert result.loc[name, "current_mean"] == current[name].mean()
        assert result.loc[name, "reference_missing"] == reference[name].isna().mean()
    assert result.loc["AMT", "reference_missing"] == pytest.approx(0.3, abs=0.01)


def test_training_figures_come_from_the_scored_reference(tmp_path: Path) -> None:
    """The champion's held-out rows are read off the reference population, and only when
    ``run.json`` names the champion's run; otherwise the run's logged test AUC."""
    from credit_scoring.monitoring.monitor import _training_figures
    from credit_scoring.publish import Champion, ModelRecord

    reference = _population(6_000, 7)
    ids = pd.Series(np.arange(100_000, 106_000), name="SK_ID_CURR")
    held_out = ids.iloc[::4]
    (tmp_path / "full").mkdir()
    held_out.to_frame().to_csv(tmp_path / "full/test_ids.csv", index=False)
    run = {"run_id": "run-a", "test_ids": "models/full/test_ids.csv"}
    (tmp_path / "full/run.json").write_text(json.dumps(run))
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (tmp_path / "full").rename(models_dir / "full")

    def champion(run_id: str) -> Champion:
        record = ModelRecord(
            "full", "credit-scoring-full", "3", run_id, "models:/x", 0.7, 0.1, None
        )
        return Champion(record, (), predict=lambda frame: frame)

    figures = _training_figures(champion("run-a"), ids, reference, models_dir)
    mask = ids.isin(held_out).to_numpy()
    expected = performance(reference.target[mask].astype(int), reference.probability[mask])
    assert figures["auc"] == expected["auc"] and figures["ks"] == expected["ks"]
    assert figures["n"] == 1_500 and "1,500 held-out test rows of run run-a" in figures["rows"]
    pd.testing.assert_frame_equal(figures["deciles"], expected["deciles"])
    # Another run's ids: they may be rows the champion trained on.
    other = _training_figures(champion("run-b"), ids, reference, models_dir)
    assert other == {
        "auc": 0.7,
        "gini": pytest.approx(0.4),
        "rows": "the training run's test_auc metric",
    }


def test_the_stability_table_is_the_same_for_any_thread_count() -> None:
    ref, cur = _population(20_000, 1), _population(5_000, 2, ext_shift=-0.1)
    one, three = (
        stability(ref.probability, cur.probability, ref.inputs, cur.inputs, bins=10,
                  bands=Bands(), threads=threads)
        for threads in (1, 3)
    )  # fmt: skip
    pd.testing.assert_frame_equal(one.inputs, three.inputs, check_exact=True)
    assert list(one.input_bins) == list(three.input_bins) == list(ref.inputs.columns)
    for name, table in one.input_bins.items():
        pd.testing.assert_frame_equal(table, three.input_bins[name], check_exact=True)
    assert one.inputs["input"].iloc[0] == "EXT_SOURCE_2"
