"""The configuration's types, declared once: every group of ``conf/`` as a pydantic model.

Hydra composes ``conf/config.yaml`` (plus overrides) into a ``DictConfig``; the stage
wrapper (:mod:`credit_scoring.stage`), the command line and the servers validate it
here before any work starts, so a misspelt key (``publish.batchsize``), a value of the
wrong type or a missing key fails at once with the key's dotted path, instead of deep
in a stage, or never (a misspelt optional key used to be read as its default).

Every model forbids unknown keys. Values are coerced the way YAML and Hydra overrides
write them (``"20000"`` -> ``20000``), nothing more. Free-form blocks stay mappings and
are checked by their owner: LightGBM's parameters (``model.lgbm``, ``selection.lgbm``),
Spark's and Streamlit's settings, the history aggregation spec (``features.history``,
:func:`credit_scoring.features.history.load_spec`). Where a domain class already has
exactly a group's shape (the synthetic risk coefficients, the PSI bands, the alert
thresholds, Evidently's settings), the schema uses that class instead of repeating it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from credit_scoring.data.synthetic.risk import RiskModel
from credit_scoring.errors import CreditScoringError
from credit_scoring.monitoring.drift import DriftSettings
from credit_scoring.monitoring.stability import AlertThresholds, Bands

#: The checkout's configuration (``conf/``), for commands run outside a stage.
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


#: How the light feature set is chosen (``selection.strategy``).
SelectionStrategy = Literal["fixed", "top_k"]

#: How out-of-fold probabilities are calibrated (``train.calibration``).
CalibrationMethod = Literal["none", "isotonic"]


class ConfigError(CreditScoringError):
    """The composed configuration does not match its declared types (names every key)."""


class Group(BaseModel):
    """A config group or block: unknown keys are errors, and a validated group is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- paths, data, features ------------------------------------------------------------


class Paths(Group):
    """Where each stage reads and writes (``conf/config.yaml: paths``)."""

    raw: str
    ingested: str
    oracle: str
    features: str
    selection: str
    models: str
    serving: str


class DataConfig(Group):
    """``conf/data``: the synthetic generator's settings, or just ``source: kaggle``."""

    source: Literal["synthetic", "kaggle"]
    strict: bool = False
    n_clients: int | None = Field(default=None, ge=1)
    n_test_clients: int | None = Field(default=None, ge=0)
    seed: int = 42
    chunk_size: int = Field(default=50_000, ge=1)
    risk: RiskModel = Field(default_factory=RiskModel)


class DuckDBConfig(Group):
    threads: int | None = Field(default=None, ge=1)
    memory_limit: str | None = None


class SparkConfig(Group):
    master: str
    app_name: str
    log_level: str
    conf: dict[str, Any] = Field(default_factory=dict)


class BuildConfig(Group):
    chunk_rows: int = Field(ge=1)
    partition_rows: int | None = Field(default=None, ge=1)


class FeaturesConfig(Group):
    """``conf/features``: the SQL engine and the history spec (checked by ``load_spec``)."""

    engine: Literal["duckdb", "spark"]
    history: dict[str, Any]
    duckdb: DuckDBConfig
    spark: SparkConfig
    build: BuildConfig


# --- selection, models, training -------------------------------------------------------


class PermutationConfig(Group):
    top_n: int = Field(default=30, ge=1)
    n_repeats: int = Field(default=5, ge=1)


class SelectionConfig(Group):
    """``conf/selection``: how the 795 features are ranked and the light set chosen."""

    strategy: SelectionStrategy = "fixed"
    k: int = Field(default=10, ge=1)
    folds: int = Field(default=5, ge=2)
    #: Rank on a seeded stratified sample of at most this many rows; null: every row.
    max_rows: int | None = Field(default=None, ge=2)
    permutation: PermutationConfig = Field(default_factory=PermutationConfig)
    plot_top: int = Field(default=30, ge=1)
    seed: int = 42
    lgbm: dict[str, Any] = Field(default_factory=dict)
    counter_fields: tuple[str, ...]


class ModelConfig(Group):
    """``conf/model``: one model pipeline (its feature set, LightGBM's parameters)."""

    name: str
    registered_name: str
    feature_set: str
    #: The select stage's named sets; null: the schema's own lists (no select stage run).
    feature_sets_file: str | None = None
    lgbm: dict[str, Any]
    monotone_constraints: dict[str, Literal[-1, 0, 1]] = Field(default_factory=dict)


class Costs(Group):
    false_negative: float = Field(gt=0)
    false_positive: float = Field(gt=0)


class TrainConfig(Group):
    """``conf/train``: the split, CV, threshold, calibration and logging of a training run."""

    test_size: float = Field(gt=0, lt=1)
    cv_folds: int = Field(ge=2)
    early_stopping_rounds: int = Field(ge=1)
    early_stopping_share: float = Field(gt=0, lt=1)
    seed: int
    n_jobs: int
    predict_n_jobs: int
    costs: Costs
    fbeta_beta: float = Field(gt=0)
    calibration: CalibrationMethod
    calibration_bins: int = Field(ge=2)
    shap_sample: int = Field(ge=1)
    importance_top: int = Field(ge=1)
    data_version_file: str
    exclude_fields: tuple[str, ...] = ()


# --- registry, validation, scorecard ---------------------------------------------------


class MonotoneCheckConfig(Group):
    feature: str
    direction: Literal[-1, 1]
    grid: tuple[float, ...] = Field(min_length=2)


class MonotoneConfig(Group):
    rows: int = Field(default=200, ge=1)
    checks: tuple[MonotoneCheckConfig, ...] = ()


class FairnessGate(Group):
    min_disparate_impact: float = Field(gt=0, le=1)
    enforce: bool


class FairnessGates(Group):
    #: One-sided confidence of the disparate-impact bound; null: the point estimate.
    confidence: float | None = Field(default=0.95, ge=0.5, lt=1)
    checks: dict[str, FairnessGate] = Field(default_factory=dict)


class RegistryConfig(Group):
    """``conf/registry``: the gates between a challenger and ``@champion``."""

    models: tuple[str, ...]
    data: str
    output: str
    auc_floor: dict[str, float]
    max_regression: float = Field(ge=0)
    monotone: MonotoneConfig = Field(default_factory=MonotoneConfig)
    fairness: FairnessGates = Field(default_factory=FairnessGates)


class ReportConfig(Group):
    gains_bins: int = Field(default=10, ge=2)
    psi_bins: int = Field(default=10, ge=2)


class AttributeConfig(Group):
    """A protected attribute: its raw column, with age bands (years) or named groups."""

    column: str
    bands_years: tuple[float, ...] = ()
    groups: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> AttributeConfig:
        if list(self.bands_years) != sorted(set(self.bands_years)):
            raise ValueError("bands_years must increase")
        if not self.bands_years and not self.groups:
            raise ValueError("give bands_years or groups")
        return self


class FairnessConfig(Group):
    min_group_size: int = Field(default=50, ge=1)
    attributes: dict[str, AttributeConfig] = Field(default_factory=dict)
    measure_exclusion_cost: bool = True


class ValidationConfig(Group):
    """``conf/validation``: the validation report's tables and the fairness attributes."""

    report: ReportConfig = Field(default_factory=ReportConfig)
    fairness: FairnessConfig = Field(default_factory=FairnessConfig)


class PointsConfig(Group):
    anchor_points: float
    anchor_odds: float = Field(gt=0)
    pdo: float = Field(gt=0)
    decimals: int = Field(default=0, ge=0)


class GradeConfig(Group):
    grade: str
    #: The grade's upper P(default) bound; null for the last grade, which takes the rest.
    max_probability: float | None = Field(default=None, gt=0, lt=1)


class ReasonConfig(Group):
    code: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    covers: tuple[str, ...] = Field(min_length=1)


class ReasonsConfig(Group):
    top: int = Field(default=4, ge=1)
    catalog: tuple[ReasonConfig, ...]

    @model_validator(mode="after")
    def _stable_codes(self) -> ReasonsConfig:
        codes = [e.code for e in self.catalog]
        duplicated = sorted({c for c in codes if codes.count(c) > 1})
        if duplicated:
            raise ValueError(f"catalog codes used twice: {duplicated}")
        return self


class ScorecardConfig(Group):
    """``conf/scorecard``: the points scale, the grades and the reason-code catalog."""

    points: PointsConfig
    grades: tuple[GradeConfig, ...] = Field(min_length=1)
    reasons: ReasonsConfig

    @model_validator(mode="after")
    def _last_grade_open(self) -> ScorecardConfig:
        bounds = [g.max_probability for g in self.grades]
        if any(b is None for b in bounds[:-1]) or bounds[-1] is not None:
            raise ValueError(
                "grades: every grade but the last needs max_probability; the last grade "
                "takes the rest (max_probability: null)"
            )
        return self


class MlflowConfig(Group):
    tracking_uri: str
    experiment_name: str


# --- publish, monitoring, serving ------------------------------------------------------


class PublishConfig(Group):
    """``conf/publish``: the clients database the API reads and its precomputed statistics."""

    database_url: str
    manifest: str
    alias: str
    registered_names: dict[str, str]
    #: Rows per in-process predict call and per database batch (bounds memory).
    batch_size: int = Field(ge=1)
    client_fields: tuple[str, ...]
    histogram_features: tuple[str, ...]
    bins: tuple[int, ...]
    histogram_range_quantiles: tuple[float, float]
    quantiles: tuple[float, ...]


class MonitoringConfig(Group):
    """``conf/monitoring``: the champions' training population against new applicants."""

    models: tuple[str, ...] = ("full", "light")
    alias: str
    registered_names: dict[str, str]
    out: str = "models/monitoring"
    current_tables: tuple[str, ...] = ("application_test",)
    bins: int = Field(ge=2)
    bands: Bands
    top_n: int = Field(ge=1)
    min_rows: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    threads: int | None = Field(default=None, ge=1)
    alerts: AlertThresholds
    evidently: DriftSettings


class ModelServerConfig(Group):
    model_uri: str
    host: str
    port: int = Field(ge=1, le=65535)
    workers: int = Field(ge=1)
    request_timeout: int = Field(ge=1)


class ApiKeyConfig(Group):
    """One configured API key: its sha256 digest and scopes (checked by credit_scoring.api.auth)."""

    sha256: str
    scopes: tuple[str, ...] = Field(min_length=1)


class AuthConfig(Group):
    #: name -> digest and scopes; empty with no keys in the environment: access off.
    keys: dict[str, ApiKeyConfig] | None = None
    keys_env: str | None = None
    legacy_query_param: str | None = None


class RateLimitsConfig(Group):
    read: str | None = None
    score: str | None = None
    storage_uri: str = "memory://"


class ApiConfig(Group):
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    workers: int = Field(ge=1)
    threads: int = Field(ge=1)
    timeout: int = Field(ge=1)
    graceful_timeout: int = Field(ge=0)
    max_content_length: int = Field(ge=1)
    max_top: int = Field(ge=1)
    db_recheck_seconds: float = Field(ge=0)
    validate_responses: bool = False
    auth: AuthConfig = Field(default_factory=AuthConfig)
    rate_limits: RateLimitsConfig = Field(default_factory=RateLimitsConfig)


class ClientConfig(Group):
    connect_timeout: float = Field(gt=0)
    read_timeout: float = Field(gt=0)
    pool_size: int = Field(ge=1)


class PredictionLogConfig(Group):
    """``serve.prediction_log``: every answer of ``/score``, written off the request path."""

    enabled: bool = False
    url: str = "sqlite:///data/monitoring/predictions.db"
    queue_size: int = Field(default=10_000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    flush_seconds: float = Field(default=0.5, gt=0)
    close_timeout: float = Field(default=10.0, ge=0)


class SupervisorConfig(Group):
    start_seconds: int = Field(ge=0)
    start_retries: int = Field(ge=0)
    parent_death_signal: str | None = None
    run_dir: str
    log_dir: str | None = None


class ProgramConfig(Group):
    """A supervised program; command words interpolated from numbers (ports) become text."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    command: tuple[str, ...] = Field(min_length=1)
    ready_url: str
    priority: int
    environment: dict[str, str] = Field(default_factory=dict)


class DashboardConfig(Group):
    host: str
    port: int = Field(ge=1, le=65535)
    api_url: str
    timeout: float = Field(gt=0)
    api_key_env: str | None = None
    language: str
    languages: tuple[str, ...] = Field(min_length=1)
    explain_top: int = Field(ge=1)
    histogram_bins: int = Field(ge=2)
    what_if_points: int = Field(ge=2)
    what_if_range: tuple[float, float]
    streamlit: dict[str, Any] = Field(default_factory=dict)


class ServeConfig(Group):
    """``conf/serve``: the model servers, the API, the dashboard and their supervisor."""

    database_url: str
    startup_timeout: float = Field(gt=0)
    stop_timeout: float = Field(gt=0)
    program: str | None = None
    access_log: bool = False
    model_servers: dict[str, ModelServerConfig]
    api: ApiConfig
    client: ClientConfig
    prediction_log: PredictionLogConfig = Field(default_factory=PredictionLogConfig)
    supervisor: SupervisorConfig
    programs: dict[str, ProgramConfig]
    dashboard: DashboardConfig


G = TypeVar("G", bound=Group)


class ProjectConfig(Group):
    """The whole composed configuration (``conf/config.yaml`` and its groups)."""

    paths: Paths
    data: DataConfig
    features: FeaturesConfig
    selection: SelectionConfig
    model: ModelConfig
    train: TrainConfig
    registry: RegistryConfig
    validation: ValidationConfig
    scorecard: ScorecardConfig
    mlflow: MlflowConfig
    publish: PublishConfig
    serve: ServeConfig
    monitoring: MonitoringConfig


def _location(loc: tuple[int | str, ...]) -> str:
    """``('publish', 'bins', 2)`` -> ``publish.bins[2]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(error: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the key by its dotted path."""
    lines = []
    for problem in error.errors():
        key = _location(tuple(problem["loc"]))
        key = f"{prefix}.{key}" if prefix and key else (prefix or key)
        if problem["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            lines.append(f"{key}: unknown key (misspelt, or not a setting of this group)")
        elif problem["type"] == "missing":
            lines.append(f"{key}: missing")
        else:
            lines.append(f"{key}: {problem['msg']} (got {problem.get('input')!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def validate_config(cfg: DictConfig | Mapping[str, Any]) -> ProjectConfig:
    """The composed configuration, typed; a :class:`ConfigError` naming every bad key."""
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    try:
        return ProjectConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def validate_group(kind: type[G], values: Any, prefix: str) -> G:
    """One group or block (a DictConfig or a mapping), typed; errors name ``prefix.key``."""
    if isinstance(values, DictConfig):
        values = OmegaConf.to_container(values, resolve=True)
    try:
        return kind.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(describe(exc, prefix)) from None


def config_dir() -> Path:
    """``./conf`` (the project the command runs in, like the stages), else the checkout's."""
    here = Path("conf")
    return here.resolve() if (here / "config.yaml").is_file() else CONF_DIR


#: Hydra composes through one process-wide ``GlobalHydra``: two threads composing at
#: once fail with "GlobalHydra is already initialized", so composition is serialized.
_COMPOSING = threading.Lock()


def compose_config(
    overrides: Sequence[str] = (), conf_dir: Path | None = None
) -> tuple[DictConfig, ProjectConfig]:
    """What a stage would see with ``overrides`` on its command line: raw and typed.

    For the command line, the servers, the benchmarks and the tests, which compose the
    configuration outside ``@stage``. Safe to call from several threads at once.
    """
    from hydra import compose, initialize_config_dir

    directory = (conf_dir or config_dir()).resolve()
    with _COMPOSING, initialize_config_dir(config_dir=str(directory), version_base=None):
        cfg = compose(config_name="config", overrides=list(overrides))
    return cfg, validate_config(cfg)
