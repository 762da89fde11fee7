"""Score a new batch of applicants: raw Home Credit tables in, one decision per applicant out.

``credit-scoring score --raw DIR --out FILE`` runs :func:`score_batch`:

1. the applications file: ``--applications FILE``, else ``DIR/application_test.csv``,
   else ``DIR/application_train.csv`` (a ``TARGET`` column, if any, is ignored); the
   side tables present in ``DIR`` go with it, the absent ones leave their features
   missing;
2. the feature stage's own function (:func:`credit_scoring.features.build.build_features`)
   validates the files with the project's loader and builds the applicants' rows,
   history aggregates included, exactly as for training and publishing; an error names
   the user's file, line and column;
3. the champion (``models:/credit-scoring-NAME@champion``, or ``--model-uri``) scores
   them through the contract's batch path, batch by batch with a progress bar;
4. the output is written atomically: one row per applicant with SK_ID_CURR, the
   contract's decision columns, the registry version and the training run, or the
   Kaggle submission file (``SK_ID_CURR,TARGET`` with TARGET = probability).

The feature stage wants an ``application_train.csv``: when the applicants come as a
test-layout file, a header-only one stands in for it in a scratch copy of the input
(made of links, not copies), so the applicants are validated and aggregated by the
very code the DVC stage runs.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from credit_scoring.contracts import model_io
from credit_scoring.data.schema import SIDE_TABLES, TABLES
from credit_scoring.errors import CreditScoringError, SchemaError
from credit_scoring.io import atomic_file

if TYPE_CHECKING:
    from credit_scoring.config import FeaturesConfig

log = logging.getLogger(__name__)

#: Output formats of ``credit-scoring score``.
FORMATS = ("parquet", "csv", "kaggle")
#: The registry name of each model (``registered_name`` in ``conf/model/NAME.yaml``).
REGISTERED_NAMES = {"full": "credit-scoring-full", "light": "credit-scoring-light"}
#: The scorecard's columns of a batch output, when the model has a scorecard.
SCORECARD_COLUMNS: tuple[str, ...] = ("points", "grade")
#: Columns of the per-applicant output, in order (``score`` on DuckDB and on Spark alike):
#: the contract's decision columns, the registry version and the training run.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "SK_ID_CURR",
    *(c for c in model_io.OUTPUT_COLUMNS if c != "model_version"),
    "model_version",
    "run_id",
)


def output_columns(scorecard: bool) -> tuple[str, ...]:
    """:data:`OUTPUT_COLUMNS`, with points and grade before the version when ``scorecard``.

    The model's ``model_version`` output (its training run) becomes ``run_id``; the
    batch's ``model_version`` is the registry version it was resolved to.
    """
    if not scorecard:
        return OUTPUT_COLUMNS
    at = OUTPUT_COLUMNS.index("model_version")
    return (*OUTPUT_COLUMNS[:at], *SCORECARD_COLUMNS, *OUTPUT_COLUMNS[at:])


@dataclass(frozen=True)
class ScoredModel:
    """The model a batch was scored with: where it came from and which version it is."""

    uri: str
    registered_name: str
    version: str


@dataclass(frozen=True)
class BatchSummary:
    """What one ``score`` run did."""

    applicants: int
    out: Path
    format: str
    model: ScoredModel
    seconds: dict[str, float]

    def __str__(self) -> str:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return (
            f"scored {self.applicants:,} applicants with {self.model.registered_name} "
            f"v{self.model.version or '?'} ({self.model.uri}) into {self.out} "
            f"[{self.format}] ({steps})"
        )


def applications_file(raw_dir: Path, applications: Path | None = None) -> Path:
    """The file holding the applicants to score (see the module docstring for the order)."""
    if applications is not None:
        if not applications.is_file():
            raise SchemaError("applications file not found", file=str(applications))
        return applications
    for name in ("application_test", "application_train"):
        path = raw_dir / TABLES[name].file_name
        if path.is_file():
            return path
    if not raw_dir.is_dir():
        raise SchemaError("no such directory", file=str(raw_dir))
    raise SchemaError(
        "no application_test.csv or application_train.csv (or give --applications FILE)",
        file=str(raw_dir),
    )


def build_applicants(
    raw_dir: Path,
    applications: Path,
    work: Path,
    *,
    strict: bool = False,
    features: FeaturesConfig | None = None,
) -> pd.DataFrame:
    """The applicants' rows (raw fields and history aggregates) as the feature stage builds them.

    ``work`` is a scratch directory; errors name the user's files, not the links in it.
    ``features`` is the feature stage's configuration (``None``: ``conf/features``);
    whatever engine it names, the build runs on DuckDB in this process.
    """
    from credit_scoring.features.build import TEST_FILE, TRAIN_FILE, build_configured

    staged = work / "raw"
    staged.mkdir()
    links: dict[Path, Path] = {}
    header = applications.open(encoding="utf-8", errors="replace").readline()
    as_train = "TARGET" in header.strip().split(",")
    target = TABLES["application_train" if as_train else "application_test"].file_name
    links[staged / target] = applications.resolve()
    for name in SIDE_TABLES:
        source = raw_dir / TABLES[name].file_name
        if source.is_file():
            links[staged / source.name] = source.resolve()
    for link, source in links.items():
        link.symlink_to(source)
    sides = sorted(link.stem for link in links if link.stem in SIDE_TABLES)
    log.info(
        "applicants from %s; history from %s of %s (staged in %s)",
        applications,
        ", ".join(sides) or "no side table",
        raw_dir,
        staged,
    )
    if not as_train:
        columns = TABLES["application_train"].column_names
        (staged / TABLES["application_train"].file_name).write_text(",".join(columns) + "\n")
    try:
        build_configured(staged, work / "features", features, strict=strict, engine="duckdb")
    except SchemaError as exc:
        raise _relocated(exc, links) from None
    return pd.read_parquet(work / "features" / (TRAIN_FILE if as_train else TEST_FILE))


def _relocated(exc: SchemaError, links: dict[Path, Path]) -> SchemaError:
    """``exc`` with every staged path replaced by the user's own file."""

    def real(text: str) -> str:
        for link, source in links.items():
            text = text.replace(str(link), str(source))
        return text

    return SchemaError(
        real(exc.message),
        file=real(exc.file) if exc.file else None,
        line=exc.line,
        column=exc.column,
        key=exc.key,
    )


def resolve_model(model: str, model_uri: str | None = None) -> tuple[Any, ScoredModel]:
    """Load the champion of ``model`` (or ``model_uri``) with its registry version, if any."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if model not in REGISTERED_NAMES:
        raise CreditScoringError(
            f"unknown model {model!r}; expected one of {list(REGISTERED_NAMES)}"
        )
    uri = model_uri or f"models:/{REGISTERED_NAMES[model]}@champion"
    try:
        loaded = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise CreditScoringError(f"cannot load the model {uri}: {exc}") from exc
    return loaded, registry_entry(uri, REGISTERED_NAMES[model])


def registry_entry(uri: str, default_name: str) -> ScoredModel:
    """Which registered model and version ``uri`` is (an alias resolved now).

    A URI outside the registry (a run's or a directory's) has no version: ``""``, and
    ``default_name`` stands for its name.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name, version = default_name, ""
    if uri.startswith("models:/"):
        path = uri.removeprefix("models:/")
        name = path.split("@")[0].split("/")[0]
        if "@" in path:
            alias = path.split("@", 1)[1]
            try:
                version = MlflowClient().get_model_version_by_alias(name, alias).version
            except MlflowException as exc:
                raise CreditScoringError(f"cannot resolve the model {uri}: {exc}") from exc
        elif "/" in path:
            version = path.split("/", 1)[1]
    return ScoredModel(uri=uri, registered_name=name, version=str(version))


def score_batch(
    raw_dir: Path | str,
    out: Path | str,
    *,
    model: str = "full",
    model_uri: str | None = None,
    fmt: str | None = None,
    applications: Path | str | None = None,
    batch_size: int = 20_000,
    strict: bool = False,
    features: FeaturesConfig | None = None,
) -> BatchSummary:
    """Score the applicants of ``raw_dir`` into ``out`` (see the module docstring).

    ``fmt`` defaults to the suffix of ``out`` (``.csv`` -> csv, else parquet). Nothing
    is written unless every step succeeded. ``features``: the feature stage's
    configuration (``None``: ``conf/features``), its DuckDB settings used.
    """
    from credit_scoring.models.pyfunc import batch_predictor
    from credit_scoring.publish import predict_in_batches

    raw_dir, out = Path(raw_dir), Path(out)
    fmt = fmt or ("csv" if out.suffix.lower() == ".csv" else "parquet")
    if fmt not in FORMATS:
        raise CreditScoringError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    source = applications_file(raw_dir, Path(applications) if applications else None)
    loaded, scored_with = resolve_model(model, model_uri)
    seconds["load model"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="credit-scoring-score-") as work:
        start = time.perf_counter()
        rows = build_applicants(raw_dir, source, Path(work), strict=strict, features=features)
        seconds["features"] = time.perf_counter() - start
    start = time.perf_counter()
    predictions = predict_in_batches(batch_predictor(loaded), rows, batch_size, model)
    seconds["predict"] = time.perf_counter() - start
    columns = output_columns(scorecard=set(SCORECARD_COLUMNS) <= set(predictions.columns))
    scores = predictions.rename(columns={"model_version": "run_id"}).assign(
        SK_ID_CURR=rows["SK_ID_CURR"].to_numpy(), model_version=scored_with.version
    )[list(columns)]
    start = time.perf_counter()
    with atomic_file(out) as scratch:
        if fmt == "kaggle":
            submission = scores[["SK_ID_CURR", "probability"]].rename(
                columns={"probability": "TARGET"}
            )
            submission.to_csv(scratch, index=False)
        elif fmt == "csv":
            scores.to_csv(scratch, index=False)
        else:
            scores.to_parquet(scratch, index=False)
    seconds["write"] = time.perf_counter() - start
    summary = BatchSummary(len(scores), out, fmt, scored_with, seconds)
    log.info("%s", summary)
    return summary
