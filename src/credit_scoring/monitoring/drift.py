"""The Evidently data-drift report (Evidently 0.7: ``Report([DataDriftPreset()])``).

Evidently picks a test per column (Kolmogorov-Smirnov or chi-square below 1,000
rows, Wasserstein or Jensen-Shannon distance above) and writes an interactive
HTML page; its JSON gives each column's score and verdict and the share of
drifted columns. Its cost grows with the columns (about half a second each at
a few thousand rows, and an HTML page of 70 kB each), so a model with hundreds
of inputs (the full model's 670) is tested on its ``max_columns`` most important
inputs (the champion's gain: a choice independent of the drift, so the share of
drifted inputs stays an honest statistic); the report says which were tested
and the PSI table covers them all. Rows are sampled (seeded) down to ``max_rows`` per side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


def _import_evidently() -> Any:
    """Import Evidently 0.7 under pandas 3.

    Evidently 0.7.23 imports ``pandas.core.dtypes.common.infer_dtype_from_object``,
    a private helper pandas 3 removed, at import time, for its legacy
    column-type *test* only (``TestColumnsType``), which the data-drift preset never
    runs. Providing the name lets the package import; the legacy test would raise.
    """
    import pandas.core.dtypes.common as common

    if not hasattr(common, "infer_dtype_from_object"):

        def infer_dtype_from_object(dtype: Any) -> Any:
            raise NotImplementedError("Evidently's legacy column-type test needs pandas < 3")

        common.infer_dtype_from_object = infer_dtype_from_object  # type: ignore[attr-defined]
    import evidently

    return evidently


@dataclass(frozen=True)
class DriftSettings:
    """``monitoring.evidently``."""

    enabled: bool = True
    drift_share: float = 0.5
    max_rows: int = 20_000
    max_columns: int = 40
    seed: int = 0


@dataclass
class DriftResult:
    """What the monitor keeps of Evidently's answer."""

    columns: list[str]
    drifted: list[str]
    share: float
    dataset_drift: bool
    scores: dict[str, dict[str, Any]]
    html: Path
    json: Path


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def data_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    settings: DriftSettings,
    out_dir: Path,
) -> DriftResult:
    """Run ``DataDriftPreset`` on ``columns``; write ``evidently.html`` and ``evidently.json``."""
    evidently = _import_evidently()
    from evidently.presets import DataDriftPreset

    ref = _sample(reference[columns], settings.max_rows, settings.seed).reset_index(drop=True)
    cur = _sample(current[columns], settings.max_rows, settings.seed).reset_index(drop=True)
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(ref[c])]
    categorical = [c for c in columns if c not in numeric]
    for c in categorical:  # Evidently wants one dtype per column: text, missing as None
        ref[c] = ref[c].astype(object).where(ref[c].notna(), None)
        cur[c] = cur[c].astype(object).where(cur[c].notna(), None)
    for c in numeric:
        cur[c] = pd.to_numeric(cur[c], errors="coerce").astype(float)
        ref[c] = ref[c].astype(float)
    definition = evidently.DataDefinition(
        numerical_columns=numeric, categorical_columns=categorical
    )
    report = evidently.Report(
        [DataDriftPreset(drift_share=settings.drift_share)], include_tests=True
    )
    result = report.run(
        evidently.Dataset.from_pandas(cur, data_definition=definition),
        evidently.Dataset.from_pandas(ref, data_definition=definition),
    )
    html, js = out_dir / "evidently.html", out_dir / "evidently.json"
    result.save_html(str(html))
    body = result.dict()
    js.write_text(json.dumps(body, indent=1, default=str) + "\n")

    scores: dict[str, dict[str, Any]] = {}
    for metric in body["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            scores[config["column"]] = {
                "method": config.get("method"),
                "threshold": config.get("threshold"),
                "score": metric["value"],
            }
    drifted = []
    for test in body.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith("ValueDrift"):
            column = params["column"]
            scores.setdefault(column, {})["drifted"] = test["status"] == "FAIL"
            if test["status"] == "FAIL":
                drifted.append(column)
    share = len(drifted) / len(columns) if columns else 0.0
    return DriftResult(
        columns=list(columns),
        drifted=sorted(drifted, key=columns.index),
        share=share,
        dataset_drift=share >= settings.drift_share,
        scores=scores,
        html=html,
        json=js,
    )
