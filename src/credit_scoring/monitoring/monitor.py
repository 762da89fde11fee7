"""``credit-scoring monitor``: is the population the champion scores still the one it learnt?

``run_monitor`` scores the reference (the champion's training population) and the
current population, then writes, into ``out`` (atomically) and to an MLflow run
``monitor-NAME`` tagged with the champion's registry version:

* ``report.json`` / ``summary.md``: score PSI and its band, every input's PSI
  (CSI) and band, the top drifting inputs, Evidently's verdict, performance when
  the current rows carry TARGET (AUC, Gini, KS, calibration by decile next to the
  training figures on the champion's held-out rows), and the alert reasons;
* ``drift.json``: the headline numbers (DVC metrics);
* ``stability.csv``, ``score_bins.csv``, ``calibration.csv`` (with TARGET);
* ``psi.png``: score and top input PSI against the bands;
* ``evidently.html`` / ``evidently.json``: Evidently's data-drift report.

The exit code a scheduler acts on: 0 nothing crossed ``monitoring.alerts``, 3 an
alert fired (reasons in the report and the log), 2 bad input.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.config import FeaturesConfig, MonitoringConfig
from credit_scoring.io import atomic_dir
from credit_scoring.monitoring.drift import DriftResult, data_drift_report
from credit_scoring.monitoring.populations import (
    MonitorInputError,
    Population,
    applicant_columns,
    from_prediction_log,
    input_importance,
    monitored_columns,
    read_applicants,
    score,
)
from credit_scoring.monitoring.stability import (
    Stability,
    alert_reasons,
    performance,
    stability,
)
from credit_scoring.publish import Champion, load_champion

log = logging.getLogger(__name__)

#: Exit codes of ``credit-scoring monitor``.
EXIT_OK, EXIT_BAD_INPUT, EXIT_ALERT = 0, 2, 3


@dataclass
class MonitorResult:
    """What one monitoring run found; ``exit_code`` is what the command returns."""

    model: str
    stability: Stability
    drift: DriftResult | None
    reasons: list[dict[str, Any]]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def alert(self) -> bool:
        """True when any alert threshold was crossed."""
        return bool(self.reasons)

    @property
    def exit_code(self) -> int:
        """3 on alert, else 0."""
        return EXIT_ALERT if self.alert else EXIT_OK


def _finite(value: Any) -> Any:
    """JSON-safe: NaN/inf become null (strict JSON parsers refuse them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return _finite(json.loads(frame.to_json(orient="records")))


def _check(population: Population, settings: MonitoringConfig, what: str) -> None:
    if len(population) < settings.min_rows:
        raise MonitorInputError(
            f"{what} ({population.source}) has {len(population)} applicants; at least "
            f"{settings.min_rows} are needed for a stability report (monitoring.min_rows)"
        )


def evaluate(
    model: str,
    reference: Population,
    current: Population,
    settings: MonitoringConfig,
    out_dir: Path,
    *,
    reference_performance: Mapping[str, Any] | None = None,
    champion: Mapping[str, Any] | None = None,
    importance: pd.Series | None = None,
) -> MonitorResult:
    """Compare the populations and write every report file into ``out_dir`` (existing).

    Evidently tests every input when there are at most ``evidently.max_columns``;
    otherwise the most important ones by ``importance`` (the champion's gain share),
    a choice that does not depend on the drift itself: picking the inputs with the
    largest PSI would make the share of drifted inputs high even on a stable
    population. Without importance, the first inputs in the model's order.
    """
    _check(reference, settings, "the reference")
    _check(current, settings, "the current population")
    stable = stability(
        reference.probability,
        current.probability,
        reference.inputs,
        current.inputs,
        bins=settings.bins,
        bands=settings.bands,
        threads=settings.threads,
    )
    drift = None
    if settings.evidently.enabled:
        order = list(reference.inputs.columns)
        ranked = order if importance is None else [c for c in importance.index if c in order]
        columns = ranked[: settings.evidently.max_columns]
        drift = data_drift_report(
            reference.inputs,
            current.inputs,
            sorted(columns, key=order.index),
            settings.evidently,
            out_dir,
        )
    labelled = current.labelled()
    current_perf = None
    if labelled is not None and len(np.unique(labelled[0])) == 2:
        current_perf = performance(*labelled, bins=10)
    reference_auc = None if reference_performance is None else reference_performance.get("auc")
    reasons = alert_reasons(
        stable,
        settings.alerts,
        drifted_share=None if drift is None else drift.share,
        drifted_inputs=() if drift is None else drift.drifted,
        current_performance=current_perf,
        reference_auc=reference_auc,
    )
    result = MonitorResult(model, stable, drift, reasons)
    result.report = _report(
        result, reference, current, settings, current_perf, reference_performance, champion
    )
    _write(result, out_dir, settings, current_perf, reference_performance)
    return result


def _perf_json(perf: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if perf is None:
        return None
    out = {k: v for k, v in perf.items() if k != "deciles"}
    if "deciles" in perf:
        out["deciles"] = _records(perf["deciles"])
    return _finite(out)


def _report(
    result: MonitorResult,
    reference: Population,
    current: Population,
    settings: MonitoringConfig,
    current_perf: Mapping[str, Any] | None,
    reference_perf: Mapping[str, Any] | None,
    champion: Mapping[str, Any] | None,
) -> dict[str, Any]:
    stable = result.stability
    top = stable.top(settings.top_n)
    return _finite(
        {
            "model": result.model,
            "champion": dict(champion or {}),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "reference": {"source": reference.source, "rows": len(reference)},
            "current": {"source": current.source, "rows": len(current)},
            "bands": {"stable": settings.bands.stable, "shift": settings.bands.shift},
            "alert_thresholds": vars(settings.alerts),
            "alert": result.alert,
            "reasons": result.reasons,
            "score": {
                "psi": stable.score_psi,
                "band": stable.score_band,
                "reference_mean_probability": float(np.mean(reference.probability)),
                "current_mean_probability": float(np.mean(current.probability)),
                "bins": _records(stable.score_bins),
            },
            "top_drifting_inputs": _records(top),
            "inputs": {
                "count": len(stable.inputs),
                "by_band": stable.inputs["band"].value_counts().to_dict(),
            },
            "evidently": None
            if result.drift is None
            else {
                "columns_tested": result.drift.columns,
                "drifted": result.drift.drifted,
                "share_drifted": result.drift.share,
                "dataset_drift": result.drift.dataset_drift,
                "selection": "all inputs"
                if len(result.drift.columns) == len(stable.inputs)
                else f"the model's {len(result.drift.columns)} most important inputs (gain)",
                "html": result.drift.html.name,
                "json": result.drift.json.name,
            },
            "performance": None
            if current_perf is None
            else {"current": _perf_json(current_perf), "training": _perf_json(reference_perf)},
        }
    )


def headline(result: MonitorResult) -> dict[str, Any]:
    """The headline numbers (``drift.json``, MLflow metrics)."""
    stable = result.stability
    metrics: dict[str, Any] = {
        "alert": int(result.alert),
        "n_reasons": len(result.reasons),
        "score_psi": stable.score_psi,
        "max_input_psi": float(stable.inputs["psi"].max()) if len(stable.inputs) else 0.0,
        "inputs_watch": int((stable.inputs["band"] == "watch").sum()),
        "inputs_shift": int((stable.inputs["band"] == "shift").sum()),
        "reference_rows": result.report["reference"]["rows"],
        "current_rows": result.report["current"]["rows"],
    }
    if result.drift is not None:
        metrics["drifted_share"] = result.drift.share
    perf = result.report.get("performance")
    if perf and perf.get("current"):
        for key in ("auc", "gini", "ks", "default_rate"):
            metrics[f"current_{key}"] = perf["current"][key]
        if perf.get("training"):
            for key in ("auc", "gini", "ks", "default_rate"):
                if perf["training"].get(key) is not None:
                    metrics[f"training_{key}"] = perf["training"][key]
    return _finite(metrics)


def _write(
    result: MonitorResult,
    out_dir: Path,
    settings: MonitoringConfig,
    current_perf: Mapping[str, Any] | None,
    reference_perf: Mapping[str, Any] | None,
) -> None:
    from credit_scoring.monitoring.plots import psi_chart

    stable = result.stability
    (out_dir / "report.json").write_text(json.dumps(result.report, indent=2) + "\n")
    (out_dir / "drift.json").write_text(json.dumps(headline(result), indent=2) + "\n")
    stable.inputs.to_csv(out_dir / "stability.csv", index=False)
    stable.score_bins.to_csv(out_dir / "score_bins.csv", index=False)
    if current_perf is not None:
        current = (
            current_perf["deciles"].add_prefix("current_").rename(columns={"current_bin": "bin"})
        )
        if reference_perf is not None and "deciles" in reference_perf:
            training = (
                reference_perf["deciles"]
                .add_prefix("training_")
                .rename(columns={"training_bin": "bin"})
            )
            current = current.merge(training, on="bin", how="left")
        current.to_csv(out_dir / "calibration.csv", index=False)
    psi_chart(stable, settings.bands, settings.top_n, out_dir / "psi.png", title=result.model)
    (out_dir / "summary.md").write_text(summary_markdown(result.report))


def summary_markdown(report: Mapping[str, Any]) -> str:
    """The report as a page a person on call reads first."""
    lines = [
        f"# Monitoring: {report['model']} model",
        "",
        f"- champion: {report['champion'].get('registered_name', '?')} "
        f"v{report['champion'].get('version', '?')}",
        f"- reference: {report['reference']['source']} ({report['reference']['rows']:,} rows)",
        f"- current: {report['current']['source']} ({report['current']['rows']:,} rows)",
        f"- score PSI: {report['score']['psi']:.4f} ({report['score']['band']})",
        "",
        "## Alert" if report["alert"] else "## No alert",
        "",
    ]
    lines += [f"- {r['message']}" for r in report["reasons"]] or ["Nothing crossed a threshold."]
    lines += ["", "## Top drifting inputs", "", "| input | PSI | band |", "| --- | --- | --- |"]
    lines += [
        f"| {r['input']} | {r['psi']:.4f} | {r['band']} |" for r in report["top_drifting_inputs"]
    ]
    ev = report.get("evidently")
    if ev:
        lines += [
            "",
            f"Evidently: {len(ev['drifted'])} of {len(ev['columns_tested'])} tested inputs drifted "
            f"({ev['share_drifted']:.0%}; {ev['selection']}); see {ev['html']}.",
        ]
    perf = report.get("performance")
    if perf:
        cur, train = perf["current"], perf.get("training") or {}
        lines += ["", "## Performance", "", "| | current | training |", "| --- | --- | --- |"]
        for key in ("auc", "gini", "ks", "default_rate"):
            t = train.get(key)
            lines.append(f"| {key} | {cur[key]:.4f} | {'' if t is None else f'{t:.4f}'} |")
    return "\n".join(lines) + "\n"


def _training_figures(
    champion: Champion,
    reference_ids: pd.Series,
    reference: Population,
    models_dir: Path,
) -> dict[str, Any] | None:
    """The champion's figures on its own held-out test rows, else its logged test AUC.

    ``models/NAME/test_ids.csv`` lists the rows the training run held out; it is used
    only when ``models/NAME/run.json`` names the champion's run (otherwise those ids
    belong to another model, one that may have trained on the champion's test rows).
    The held-out rows are training-population rows (``reference_ids``, in the order of
    ``reference``), so their probabilities are read from the reference, already scored:
    a model scores each row on its own, whatever else is in the batch.
    """
    run_file, ids_file = models_dir / champion.record.name / "run.json", None
    if run_file.is_file():
        run = json.loads(run_file.read_text())
        if run.get("run_id") == champion.record.run_id and run.get("test_ids"):
            ids_file = Path(run["test_ids"])
            if not ids_file.is_absolute():
                ids_file = models_dir.parent / ids_file
    if ids_file is not None and ids_file.is_file():
        ids = pd.read_csv(ids_file)["SK_ID_CURR"]
        held_out = reference_ids.isin(ids).to_numpy()
        target = np.full(len(reference), np.nan) if reference.target is None else reference.target
        known = held_out & ~np.isnan(target)
        if held_out.any() and len(np.unique(target[known])) == 2:
            perf = performance(target[known].astype(int), reference.probability[known], bins=10)
            perf["rows"] = (
                f"the {int(held_out.sum()):,} held-out test rows of run {champion.record.run_id}"
            )
            return perf
    if champion.record.test_auc is None:
        return None
    auc = float(champion.record.test_auc)
    return {"auc": auc, "gini": 2 * auc - 1, "rows": "the training run's test_auc metric"}


def _is_log_url(current: str) -> bool:
    return "://" in current


def run_monitor(
    settings: MonitoringConfig,
    *,
    model: str,
    current: str,
    reference: Path,
    out: Path,
    tracking_uri: str,
    experiment_name: str,
    current_tables: Sequence[str],
    models_dir: Path = Path("models"),
    since: datetime | None = None,
    until: datetime | None = None,
    features: FeaturesConfig | None = None,
) -> MonitorResult:
    """Load the champion, score both populations, write ``out`` atomically, log to MLflow.

    ``current`` is a directory (raw tables or feature tables; ``current_tables`` says
    which application tables) or a prediction-log URL (``sqlite:///...``), read for
    ``since``..``until``. A raw directory's features are built with ``features`` (the
    feature stage's configuration; ``None``: ``conf/features``). Bad input raises
    :class:`MonitorInputError`.
    """
    import mlflow

    if model not in settings.registered_names:
        raise MonitorInputError(
            f"unknown model {model!r}; known: {', '.join(settings.registered_names)}"
        )
    mlflow.set_tracking_uri(tracking_uri)
    try:
        champion = load_champion(model, settings.registered_names[model], settings.alias)
    except Exception as exc:  # MLflow raises its own exception kinds for a missing alias
        raise MonitorInputError(
            f"cannot load {settings.registered_names[model]}@{settings.alias} from "
            f"{tracking_uri}: {exc}"
        ) from exc
    columns = applicant_columns(champion)
    reference_rows = read_applicants(reference, ["application_train"], columns, features)
    reference_pop = score(
        champion, reference_rows, settings.batch_size, f"{reference} (application_train)"
    )
    if _is_log_url(current):
        current_pop = from_prediction_log(current, champion, since, until)
    else:
        rows = read_applicants(Path(current), current_tables, columns, features)
        current_pop = score(
            champion, rows, settings.batch_size, f"{current} ({', '.join(current_tables)})"
        )
    training = (
        _training_figures(champion, reference_rows["SK_ID_CURR"], reference_pop, models_dir)
        if current_pop.labelled() is not None
        else None
    )
    record = asdict(champion.record)
    with atomic_dir(out) as scratch:
        result = evaluate(
            model,
            reference_pop,
            current_pop,
            settings,
            scratch,
            reference_performance=training,
            champion=record,
            importance=input_importance(champion, monitored_columns(champion)),
        )
    _log_to_mlflow(result, out, experiment_name, record)
    for reason in result.reasons:
        log.warning("ALERT %s: %s", model, reason["message"])
    log.info(
        "%s: score PSI %.4f (%s), %d alert reason(s); report in %s",
        model,
        result.stability.score_psi,
        result.stability.score_band,
        len(result.reasons),
        out,
    )
    return result


def _log_to_mlflow(
    result: MonitorResult, out: Path, experiment_name: str, champion: Mapping[str, Any]
) -> None:
    """A ``monitor-NAME`` run tagged with the champion's version, the files as artifacts."""
    import mlflow

    from credit_scoring.registry import use_experiment

    use_experiment(experiment_name)
    with mlflow.start_run(run_name=f"monitor-{result.model}") as run:
        mlflow.set_tags(
            {
                "stage": "monitor",
                "model_name": result.model,
                "registered_name": champion.get("registered_name", ""),
                "model_version": champion.get("version", ""),
                "champion_run_id": champion.get("run_id", ""),
                "alert": str(result.alert).lower(),
                "alert_reasons": "; ".join(r["kind"] for r in result.reasons) or "none",
                "reference": result.report["reference"]["source"][:500],
                "current": result.report["current"]["source"][:500],
            }
        )
        metrics = {k: float(v) for k, v in headline(result).items() if v is not None}
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out), artifact_path="monitoring")
        result.report["mlflow_run_id"] = run.info.run_id
