"""The two populations a monitor compares, scored by the champion.

* reference: the champion's training population, ``train.parquet`` of a feature
  directory (``paths.features``), or a raw directory built into one;
* current: a directory of raw applicant tables (or an already built feature
  directory), scored in process by the champion, or the prediction log of a
  period, whose probabilities are those the API returned.

The columns compared are the model's inputs as it sees them: its signature's
fields, with the full model's ``HISTORY`` JSON column expanded into the history
aggregates it carries.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import and_, inspect, select, true
from sqlalchemy.exc import SQLAlchemyError

from credit_scoring.contracts.model_io import HISTORY_COLUMN, HISTORY_FEATURES
from credit_scoring.errors import CreditScoringError
from credit_scoring.monitoring.prediction_log import PREDICTIONS, log_engine
from credit_scoring.publish import Champion, check_inputs, predict_in_batches

if TYPE_CHECKING:
    from credit_scoring.config import FeaturesConfig

log = logging.getLogger(__name__)

#: Feature-directory file of each application table.
FEATURE_FILES = {"application_train": "train.parquet", "application_test": "test.parquet"}


class MonitorInputError(CreditScoringError):
    """The populations cannot be compared (missing files, too few rows, unknown model)."""


@dataclass
class Population:
    """Model inputs, predicted probabilities and (where known) outcomes of one population."""

    source: str
    inputs: pd.DataFrame
    probability: np.ndarray
    target: np.ndarray | None  # float, NaN where unknown; None when no row has one

    def __len__(self) -> int:
        return len(self.probability)

    def labelled(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(target, probability) of the rows whose outcome is known, if any."""
        if self.target is None:
            return None
        known = ~np.isnan(self.target)
        if not known.any():
            return None
        return self.target[known].astype(int), self.probability[known]


def monitored_columns(champion: Champion) -> list[str]:
    """The inputs the champion sees: signature fields, ``HISTORY`` expanded."""
    names = [c.name for c in champion.inputs]
    if HISTORY_COLUMN in names:
        names = [n for n in names if n != HISTORY_COLUMN] + list(HISTORY_FEATURES)
    return names


def _feature_dir(path: Path, scratch: Path, features: FeaturesConfig | None) -> Path:
    """``path`` if it holds feature tables, else the features built from its raw CSV files.

    Built with ``features`` (the feature stage's configuration; ``None``:
    ``conf/features``), on DuckDB in this process.
    """
    if (path / "train.parquet").is_file():
        return path
    if not (path / "application_train.csv").is_file():
        raise MonitorInputError(
            f"{path}: neither a feature directory (train.parquet) nor a raw directory "
            "(application_train.csv)"
        )
    from credit_scoring.features.build import build_configured

    log.info("building the features of %s", path)
    build_configured(path, scratch, features, engine="duckdb")
    return scratch


def read_applicants(
    path: Path | str,
    tables: Sequence[str],
    columns: Sequence[str] | None = None,
    features: FeaturesConfig | None = None,
) -> pd.DataFrame:
    """The applicants of ``tables`` (``application_train``/``_test``) in a feature or raw dir.

    TARGET is kept where the table has it (train) and missing elsewhere (test).
    ``columns`` (default: all) are the ones read, those a table lacks left out: the
    feature tables hold the 795-feature model's 672 columns, of which the light model
    reads 10.
    """
    path = Path(path)
    if not path.is_dir():
        raise MonitorInputError(f"{path}: no such directory")
    unknown = sorted(set(tables) - set(FEATURE_FILES))
    if unknown or not tables:
        raise MonitorInputError(f"tables must be among {sorted(FEATURE_FILES)}, got {list(tables)}")
    with tempfile.TemporaryDirectory(prefix="monitor-features-") as tmp:
        built = _feature_dir(path, Path(tmp) / "features", features)
        frames = [_read_table(built / FEATURE_FILES[t], columns) for t in tables]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise MonitorInputError(f"{path}: no applicants in {', '.join(tables)}")
    return pd.concat(frames, ignore_index=True)


def _read_table(path: Path, columns: Sequence[str] | None) -> pd.DataFrame:
    """A feature table, only ``columns`` of it (in the file's order) when given."""
    if columns is None:
        return pd.read_parquet(path)
    wanted = set(columns)
    return pd.read_parquet(path, columns=[c for c in pq.read_schema(path).names if c in wanted])


def applicant_columns(champion: Champion) -> list[str]:
    """The columns a monitor reads of the champion's applicants: ids, outcome, model inputs."""
    return ["SK_ID_CURR", "TARGET", *monitored_columns(champion)]


def score(champion: Champion, applicants: pd.DataFrame, batch_size: int, source: str) -> Population:
    """Score ``applicants`` (feature-table rows) in process with the champion.

    This is the one call site of batch scoring: the probabilities are those the
    served model gives, through the same input conversion as publishing. The rows go
    to the model as they are, the history aggregates as columns of their own names
    (the batch form of the contract, ``credit_scoring.contracts.model_io``): packing
    each client's 550 aggregates into a ``HISTORY`` JSON text for the model to parse
    back gave the same values and took most of the monitor's time.
    """
    check_inputs(applicants, champion.inputs, champion.record.name)
    predictions = predict_in_batches(champion.predict, applicants, batch_size, champion.record.name)
    columns = monitored_columns(champion)
    inputs = applicants.reindex(columns=columns)
    target = (
        pd.to_numeric(applicants["TARGET"], errors="coerce").to_numpy(dtype=float)
        if "TARGET" in applicants
        else None
    )
    return Population(source, inputs, predictions["probability"].to_numpy(dtype=float), target)


def from_prediction_log(
    url: str,
    champion: Champion,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Population:
    """The live scores of ``champion``'s model in the prediction log, over a period.

    Only records of the champion's registry version are taken: a period that spans
    a deployment would otherwise mix two models' scores.
    """
    c = PREDICTIONS.c
    conditions = [c.model == champion.record.name, c.model_version == champion.record.version]
    if since is not None:
        conditions.append(c.logged_at >= since)
    if until is not None:
        conditions.append(c.logged_at < until)
    try:
        engine = log_engine(url)
        if not inspect(engine).has_table(PREDICTIONS.name):
            raise MonitorInputError(f"{url}: no prediction log table (nothing scored yet)")
        with engine.connect() as conn:
            rows = conn.execute(
                select(c.inputs, c.probability).where(and_(true(), *conditions)).order_by(c.id)
            ).all()
    except SQLAlchemyError as exc:
        raise MonitorInputError(f"{url}: cannot read the prediction log: {exc}") from exc
    records = []
    for text, _ in rows:
        record = json.loads(text)
        history = record.pop(HISTORY_COLUMN, None)
        if isinstance(history, str) and history:
            record.update(json.loads(history))
        records.append(record)
    columns = monitored_columns(champion)
    inputs = pd.DataFrame.from_records(records).reindex(columns=columns)
    kinds = {col.name: col.kind for col in champion.inputs}
    for name in columns:
        if kinds.get(name, "float") != "str":
            inputs[name] = pd.to_numeric(inputs[name], errors="coerce").astype(float)
    probability = np.array([p for _, p in rows], dtype=float)
    period = f"{since or 'start'} to {until or 'now'}"
    return Population(f"prediction log {url} ({period})", inputs, probability, None)


def input_importance(champion: Champion, columns: Sequence[str]) -> pd.Series | None:
    """Each monitored input's share of the champion's LightGBM gain, largest first.

    An encoded feature belongs to the input it is named after (``CODE_GENDER_M`` to
    ``CODE_GENDER``; the longest matching name wins). ``None`` when the champion is
    not the product's pipeline model (nothing to read the gains from).
    """
    import mlflow

    try:
        python_model = mlflow.pyfunc.load_model(champion.record.model_uri).unwrap_python_model()
        encoder, classifier = python_model.pipeline[0], python_model.pipeline[-1]
        names = [str(n) for n in encoder.get_feature_names_out()]
        gains = classifier.booster_.feature_importance(importance_type="gain")
    except (AttributeError, IndexError, TypeError) as exc:
        log.warning("no gain importance for %s: %s", champion.record.model_uri, exc)
        return None
    by_length = sorted(columns, key=len, reverse=True)
    totals = dict.fromkeys(columns, 0.0)
    for name, gain in zip(names, gains, strict=True):
        owner = (
            name
            if name in totals
            else next((c for c in by_length if name.startswith(f"{c}_")), None)
        )
        if owner is not None:
            totals[owner] += float(gain)
    series = pd.Series(totals, dtype=float)
    total = series.sum()
    return (series / total if total > 0 else series).sort_values(ascending=False, kind="stable")
