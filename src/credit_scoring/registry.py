"""MLflow tracking and registry helpers: where the store is, and the gate to production.

Every trained model becomes a version of ``credit-scoring-full`` / ``credit-scoring-light``
with the alias ``challenger``. The alias ``champion`` (what the model servers load)
moves to it only if it passes the gates: an AUC floor, no regression against the
current champion on the *same* held-out rows, and the monotonicity check. Aliases,
not stages: stages are deprecated since MLflow 2.9.

The gate is idempotent: a run already registered is found again by its run id, and a
decision already recorded on its version (tags ``gate_decision``/``gate_reason``) is
reported, not re-made, so re-running the stage changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.pyfunc import PyFuncModel
from sklearn.metrics import roc_auc_score

from credit_scoring.errors import CreditScoringError
from credit_scoring.io import atomic_file
from credit_scoring.models.monotonic import Direction, MonotonicityReport, check_monotone
from credit_scoring.models.pyfunc import batch_predictor
from credit_scoring.validation.fairness import DisparateImpact, FairnessGroups, fairness_report
from credit_scoring.validation.model_card import CARD_FILE, model_card, version_description

if TYPE_CHECKING:
    from credit_scoring.config import FairnessConfig, RegistryConfig, ScorecardConfig

log = logging.getLogger(__name__)

#: Alias of the newest registered candidate.
CHALLENGER = "challenger"
#: Alias of the approved version, the one the model servers load.
CHAMPION = "champion"

#: Version tags holding the gate's outcome.
DECISION_TAG = "gate_decision"
REASON_TAG = "gate_reason"
#: Version tag saying whether and how the candidate was compared with the champion.
COMPARISON_TAG = "gate_comparison"
#: Version tag with the fairness checks' outcomes (enforced and report-only).
FAIRNESS_TAG = "gate_fairness"

_RUN_JSON_KEYS = ("run_id", "model_uri", "model_name", "registered_name", "test_ids")


class RegistryError(CreditScoringError):
    """The registry stage cannot proceed: a missing or malformed input, named by ``file``."""

    def __init__(self, message: str, *, file: str | Path | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        super().__init__(f"{self.file}: {message}" if self.file else message)


def resolve_tracking_uri(configured: str | None) -> str:
    """The tracking store to use: ``MLFLOW_TRACKING_URI`` wins over the configured value.

    The environment wins so that one shell (CI, a remote server, a test's tmp store)
    redirects every stage without editing the config DVC tracks.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    if not uri:
        raise RegistryError("no tracking URI: set MLFLOW_TRACKING_URI or mlflow.tracking_uri")
    return uri


#: The experiment tag MLflow's UI reads to choose its view, and the value of the
#: model-training view (runs, metrics, models), rather than the GenAI one (traces).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def use_experiment(name: str) -> str:
    """Make ``name`` the active experiment (created if absent), in the model-training view.

    MLflow 3's UI opens an experiment without the kind tag on its GenAI pages; the
    stages log runs, metrics and models, so every one that logs sets the tag.
    """
    experiment = mlflow.set_experiment(name)
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        MlflowClient().set_experiment_tag(
            experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
        )
    return experiment.experiment_id


@dataclass(frozen=True)
class Candidate:
    """A trained model as ``train@NAME`` describes it in ``models/NAME/run.json``."""

    run_id: str
    model_uri: str
    model_name: str
    registered_name: str
    test_ids: Path
    metrics: Mapping[str, float] = field(default_factory=dict)
    data_version: str | None = None
    git_commit: str | None = None
    trained_at: str | None = None

    @classmethod
    def from_run_json(cls, path: Path | str) -> Candidate:
        """Parse ``run.json``; a missing file or key is a ``RegistryError`` naming it."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise RegistryError("not found (run the train stage first)", file=path) from exc
        except json.JSONDecodeError as exc:
            raise RegistryError(f"not valid JSON: {exc}", file=path) from exc
        missing = [key for key in _RUN_JSON_KEYS if not data.get(key)]
        if missing:
            raise RegistryError(f"missing keys {missing}", file=path)
        return cls(
            run_id=data["run_id"],
            model_uri=data["model_uri"],
            model_name=data["model_name"],
            registered_name=data["registered_name"],
            test_ids=Path(data["test_ids"]),
            metrics=data.get("metrics") or {},
            data_version=data.get("data_version"),
            git_commit=data.get("git_commit"),
            trained_at=data.get("trained_at"),
        )

    def tags(self) -> dict[str, str]:
        """Model version tags: where the version comes from and how it scored in training."""
        tags = {
            "run_id": self.run_id,
            "model_name": self.model_name,
            "data_version": self.data_version or "",
            "git_commit": self.git_commit or "",
            "trained_at": self.trained_at or "",
        }
        tags.update({k: f"{v:.6g}" for k, v in self.metrics.items() if _is_number(v)})
        return tags


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class MonotoneCheck:
    """One behavioural check: P(default) moves in ``direction`` as raw ``feature`` rises."""

    feature: str
    direction: Direction
    grid: tuple[float, ...]


@dataclass(frozen=True)
class FairnessCheck:
    """The disparate impact on ``attribute`` must reach ``min_ratio`` (else only reported)."""

    attribute: str
    min_ratio: float
    enforce: bool


@dataclass(frozen=True)
class FairnessOutcome:
    """One fairness check applied to a candidate's decisions on its held-out rows."""

    check: FairnessCheck
    impact: DisparateImpact | None
    upper_bound: float | None

    @property
    def ok(self) -> bool:
        """Passes unless even the ratio's upper confidence bound is below the minimum."""
        return self.upper_bound is None or self.upper_bound >= self.check.min_ratio

    def describe(self) -> str:
        if self.impact is None:
            return f"{self.check.attribute}: fewer than two groups large enough to compare"
        bound = (
            ""
            if self.upper_bound == self.impact.ratio
            else (f", upper confidence bound {self.upper_bound:.3f}")
        )
        return f"{self.impact.describe()}{bound}; minimum {self.check.min_ratio:g}"


@dataclass(frozen=True)
class GatePolicy:
    """The gates of conf/registry/default.yaml, typed."""

    auc_floor: Mapping[str, float]
    max_regression: float
    monotone: tuple[MonotoneCheck, ...] = ()
    monotone_rows: int = 200
    fairness: tuple[FairnessCheck, ...] = ()
    #: One-sided confidence of the disparate-impact bound; ``None``: the point estimate.
    fairness_confidence: float | None = 0.95

    @classmethod
    def from_config(cls, cfg: RegistryConfig) -> GatePolicy:
        """From the typed ``registry`` config group (values checked there)."""
        return cls(
            auc_floor=cfg.auc_floor,
            max_regression=cfg.max_regression,
            monotone=tuple(
                MonotoneCheck(c.feature, c.direction, c.grid) for c in cfg.monotone.checks
            ),
            monotone_rows=cfg.monotone.rows,
            fairness=tuple(
                FairnessCheck(name, c.min_disparate_impact, c.enforce)
                for name, c in cfg.fairness.checks.items()
            ),
            fairness_confidence=cfg.fairness.confidence,
        )

    def floor(self, model_name: str) -> float:
        """The AUC floor of ``model_name``; an unconfigured model is an error, not a free pass."""
        if model_name not in self.auc_floor:
            raise RegistryError(f"registry.auc_floor has no entry for model {model_name!r}")
        return self.auc_floor[model_name]


@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate may become champion; ``reasons`` lists every failed gate."""

    passed: bool
    reasons: list[str]
    metrics: dict[str, float | None]

    @property
    def summary(self) -> str:
        """One line for the log and the ``gate_reason`` tag."""
        if self.passed:
            return "passed all gates"
        return "; ".join(self.reasons)


def evaluate_gates(
    *,
    candidate_auc: float,
    floor: float,
    champion_auc: float | None,
    max_regression: float,
    monotone: Mapping[str, bool],
    fairness: Sequence[FairnessOutcome] = (),
) -> GateDecision:
    """Apply the gates to plain numbers: pure, so the policy is testable without MLflow.

    ``champion_auc`` is ``None`` when there is no champion yet (the first candidate
    only has to clear the floor and the monotonicity check). ``monotone`` maps each
    checked feature to whether its check passed; ``fairness`` holds the fairness
    checks' outcomes, of which only the enforced ones can reject. Every gate is
    evaluated, so a rejection lists all its reasons at once.
    """
    reasons = []
    if not candidate_auc > floor:
        reasons.append(f"test AUC {candidate_auc:.4f} is not above the floor {floor:.4f}")
    if champion_auc is not None and candidate_auc < champion_auc - max_regression:
        reasons.append(
            f"test AUC {candidate_auc:.4f} is worse than the champion's {champion_auc:.4f} "
            f"on the same rows by more than {max_regression:g}"
        )
    reasons.extend(
        f"P(default) is not monotone in {feature}" for feature, ok in monotone.items() if not ok
    )
    reasons.extend(
        f"disparate impact too low on {o.describe()}"
        for o in fairness
        if o.check.enforce and not o.ok
    )
    return GateDecision(
        passed=not reasons,
        reasons=reasons,
        metrics={"candidate_auc": candidate_auc, "champion_auc": champion_auc, "floor": floor},
    )


def find_version(client: MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    """The version of ``name`` registered from ``run_id``, if any (the idempotency key)."""
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return min(versions, key=lambda v: int(v.version)) if versions else None


def get_champion(client: MlflowClient, name: str) -> ModelVersion | None:
    """The version ``name@champion`` points to, or ``None`` if there is no champion yet."""
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as exc:
        if exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise
    if CHAMPION not in aliases:
        return None
    return client.get_model_version(name, aliases[CHAMPION])


def champion_comparison(
    champion: ModelVersion | None, version: ModelVersion, candidate: Candidate
) -> str | None:
    """Why the candidate is not compared with the champion, or ``None`` if it is.

    Not compared: no champion, the candidate is the champion, or the two were trained
    on different data versions (the ``data_version`` tag: the md5 ``dvc.lock`` records
    for the raw data).
    """
    if champion is None:
        return "no champion yet: nothing to compare with"
    if champion.version == version.version:
        return "the candidate is the champion"
    theirs = champion.tags.get("data_version") or ""
    ours = candidate.data_version or ""
    if theirs and ours and "unknown" not in (theirs, ours) and theirs != ours:
        return (
            f"not compared with v{champion.version}: it was trained on data version "
            f"{theirs}, this candidate on {ours}"
        )
    return None


def register_candidate(client: MlflowClient, candidate: Candidate) -> tuple[ModelVersion, bool]:
    """Register ``candidate`` as a new version aliased ``challenger``; return (version, created).

    A run already registered is returned as is (``created`` false) and its aliases are
    left alone: re-running the stage must not move ``challenger`` back to an old run.
    """
    name = candidate.registered_name
    existing = find_version(client, name, candidate.run_id)
    if existing is not None:
        log.info("%s: run %s is already version %s", name, candidate.run_id, existing.version)
        return existing, False
    version = mlflow.register_model(candidate.model_uri, name, tags=candidate.tags())
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    log.info("%s: registered run %s as version %s", name, candidate.run_id, version.version)
    return version, True


def promote(client: MlflowClient, name: str, version: str) -> None:
    """Point ``name@champion`` at ``version``: the model servers pick it up on restart."""
    client.set_registered_model_alias(name, CHAMPION, version)
    log.info("%s: version %s is now %s", name, version, CHAMPION)


def score_auc(model: PyFuncModel, rows: pd.DataFrame) -> float:
    """ROC AUC of ``model``'s probabilities on ``rows`` (which hold TARGET)."""
    predictions = batch_predictor(model)(rows)
    return float(roc_auc_score(rows["TARGET"], predictions["probability"]))


def check_fairness(
    predictions: pd.DataFrame,
    rows: pd.DataFrame,
    policy: GatePolicy,
    groups: FairnessGroups,
) -> list[FairnessOutcome]:
    """Disparate impact of the model's decisions on ``rows``, for each configured check.

    ``predictions`` are the model's answers for ``rows`` (its ``probability`` and
    ``threshold``); ``groups`` says how each attribute's groups are formed (the
    ``validation.fairness`` config, the same as the training run's fairness tables).
    """
    if not policy.fairness:
        return []
    known = {a.name for a in groups.attributes}
    for check in policy.fairness:
        if check.attribute not in known:
            raise RegistryError(
                f"registry.fairness.checks.{check.attribute}: no such attribute in "
                f"validation.fairness.attributes ({sorted(known)})"
            )
    threshold = float(predictions["threshold"].iloc[0])
    report = fairness_report(groups, rows, predictions["probability"].to_numpy(), threshold)
    outcomes = []
    for check in policy.fairness:
        impact = report.ratios.get(check.attribute)
        bound = None
        if impact is not None:
            confidence = policy.fairness_confidence
            bound = impact.ratio if confidence is None else impact.upper_bound(confidence)
        outcomes.append(FairnessOutcome(check, impact, bound))
    return outcomes


def load_test_rows(data: Path | str, test_ids: Path | str) -> pd.DataFrame:
    """The rows of ``data`` whose SK_ID_CURR is listed in ``test_ids``, in file order.

    Every listed id must be present: scoring the champion on fewer rows than the
    candidate was tested on would compare different things.
    """
    test_ids = Path(test_ids)
    try:
        ids = pd.read_csv(test_ids, usecols=["SK_ID_CURR"])["SK_ID_CURR"]
    except FileNotFoundError as exc:
        raise RegistryError("not found (run the train stage first)", file=test_ids) from exc
    except ValueError as exc:
        raise RegistryError(f"expected a SK_ID_CURR column: {exc}", file=test_ids) from exc
    if not Path(data).exists():
        raise RegistryError("not found (run the features stage first)", file=data)
    rows = pd.read_parquet(data, filters=[("SK_ID_CURR", "in", ids.tolist())])
    absent = np.setdiff1d(ids.to_numpy(), rows["SK_ID_CURR"].to_numpy())
    if absent.size:
        raise RegistryError(
            f"{absent.size} test ids (first: {absent[0]}) are not in {data}", file=test_ids
        )
    return rows.reset_index(drop=True)


def _contents(path: Path | str) -> bytes | None:
    """The bytes of ``path``, or ``None`` if unreadable (``load_test_rows`` then says why)."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def check_monotonicity(
    model: PyFuncModel, rows: pd.DataFrame, checks: Sequence[MonotoneCheck]
) -> list[MonotonicityReport]:
    """Run each check whose feature the model takes; others do not apply to this model."""
    fields = set(model.metadata.get_input_schema().input_names())
    return [
        check_monotone(model, rows, c.feature, c.direction, c.grid)
        for c in checks
        if c.feature in fields
    ]


def gate_candidate(
    client: MlflowClient,
    candidate: Candidate,
    rows: pd.DataFrame,
    policy: GatePolicy,
    groups: FairnessGroups | None = None,
) -> dict[str, Any]:
    """Register ``candidate``, run the gates, promote it if it passes; return the record.

    ``rows`` are the candidate's held-out rows (``load_test_rows``). Champion and
    candidate are scored on exactly these rows when both were trained on the same
    data version. Note the bias this accepts: with another split configuration the
    champion may have trained on some of them, which can only flatter it, so the
    comparison errs on the side of keeping it. Across data versions the rows mean
    nothing to the champion (ids may name other applicants, or ones it trained on:
    an inflated AUC would then block every model of the new data for good), so the
    comparison is skipped and recorded as such; the floor and the monotonicity
    check still apply.
    """
    name = candidate.registered_name
    floor = policy.floor(candidate.model_name)  # a config error must stop us before registering
    version, created = register_candidate(client, candidate)
    record: dict[str, Any] = {
        "registered_name": name,
        "version": version.version,
        "run_id": candidate.run_id,
        "created": created,
    }
    if not created and DECISION_TAG in version.tags:
        champion = get_champion(client, name)
        record |= {
            "decision": version.tags[DECISION_TAG],
            "reason": version.tags.get(REASON_TAG, ""),
            "champion": champion.version if champion else None,
        }
        log.info("%s v%s: decided before (%s), nothing to do", name, version.version, record)
        return record

    champion = get_champion(client, name)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
    predictions = batch_predictor(model)(rows)
    candidate_auc = float(roc_auc_score(rows["TARGET"], predictions["probability"]))
    trained_auc = candidate.metrics.get("test_auc")
    if _is_number(trained_auc) and abs(candidate_auc - float(trained_auc)) > 1e-4:
        # Same model, same rows: a difference means the data changed after training.
        log.warning(
            "%s: AUC on the test rows is %.6f, training reported %.6f; data rebuilt since?",
            name,
            candidate_auc,
            trained_auc,
        )
    champion_auc = None
    comparison = champion_comparison(champion, version, candidate)
    if comparison is None:
        champion_model = mlflow.pyfunc.load_model(f"models:/{name}/{champion.version}")
        champion_auc = score_auc(champion_model, rows)
        comparison = f"compared with v{champion.version} on the same {len(rows)} rows"
    log.info("%s v%s: %s", name, version.version, comparison)

    sample = rows.sample(n=min(policy.monotone_rows, len(rows)), random_state=0)
    reports = check_monotonicity(model, sample, policy.monotone)
    for report in reports:
        log.info("%s v%s: %s", name, version.version, report)
    fairness = check_fairness(predictions, rows, policy, groups or FairnessGroups(()))
    for outcome in fairness:
        log.info("%s v%s fairness: %s", name, version.version, outcome.describe())
    decision = evaluate_gates(
        candidate_auc=candidate_auc,
        floor=floor,
        champion_auc=champion_auc,
        max_regression=policy.max_regression,
        monotone={r.feature: r.ok for r in reports},
        fairness=fairness,
    )

    label = "passed" if decision.passed else "rejected"
    client.set_model_version_tag(name, version.version, "registry_test_auc", f"{candidate_auc:.6f}")
    client.set_model_version_tag(name, version.version, REASON_TAG, decision.summary)
    client.set_model_version_tag(name, version.version, COMPARISON_TAG, comparison)
    if fairness:
        summary = "; ".join(
            f"{o.describe()} ({'ok' if o.ok else 'below'}"
            f"{'' if o.check.enforce else ', report only'})"
            for o in fairness
        )
        client.set_model_version_tag(name, version.version, FAIRNESS_TAG, summary)
    if decision.passed:
        promote(client, name, version.version)
    else:
        log.warning(
            "%s v%s rejected, %s stays %s: %s",
            name,
            version.version,
            f"v{champion.version}" if champion else "no version",
            CHAMPION,
            decision.summary,
        )
    # The decision tag goes last: its presence means the whole gate ran to the end.
    client.set_model_version_tag(name, version.version, DECISION_TAG, label)
    after = get_champion(client, name)
    return record | {
        "decision": label,
        "reason": decision.summary,
        "reasons": decision.reasons,
        "metrics": decision.metrics,
        "monotonicity": [
            {k: v for k, v in asdict(r).items() if k != "grid"} | {"ok": r.ok} for r in reports
        ],
        "fairness": [
            {
                "attribute": o.check.attribute,
                "min_ratio": o.check.min_ratio,
                "enforce": o.check.enforce,
                "ok": o.ok,
                "upper_bound": o.upper_bound,
                **({} if o.impact is None else asdict(o.impact)),
            }
            for o in fairness
        ],
        "champion_comparison": comparison,
        "champion_before": champion.version if champion else None,
        "champion": after.version if after else None,
        "n_test_rows": len(rows),
    }


def write_model_card(
    client: MlflowClient,
    model_dir: Path,
    record: Mapping[str, Any],
    scorecard: ScorecardConfig | None = None,
) -> Path:
    """Render the card of the version in ``record``, write it, log it with the model.

    The card goes to ``model_dir/model_card.md``, to the training run's artifacts and,
    in short, to the registered version's description. A version decided before (a
    re-run with nothing new) keeps the card written then.
    """
    run = json.loads((model_dir / "run.json").read_text())
    target = model_dir / CARD_FILE
    if "monotonicity" not in record:  # decided before: the full gate record is not at hand
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=record["run_id"], artifact_path=CARD_FILE, tracking_uri=client.tracking_uri
            )
        except (MlflowException, OSError):
            local = None
        if local is not None:
            with atomic_file(target) as tmp:
                tmp.write_text(Path(local).read_text())
            return target
    review_path = model_dir / "review.json"
    review = json.loads(review_path.read_text()) if review_path.is_file() else {}
    card = model_card(run=run, review=review, gate=record, scorecard=scorecard)
    with atomic_file(target) as tmp:
        tmp.write_text(card)
    client.log_text(record["run_id"], card, CARD_FILE)
    client.update_model_version(
        record["registered_name"],
        str(record["version"]),
        description=version_description(record["run_id"], record, run.get("metrics", {})),
    )
    log.info("%s v%s: model card in %s", record["registered_name"], record["version"], target)
    return target


def register_models(
    cfg: RegistryConfig,
    models_dir: Path | str,
    tracking_uri: str,
    fairness: FairnessConfig | None = None,
    scorecard: ScorecardConfig | None = None,
) -> dict[str, Any]:
    """Gate every model of ``cfg.models``, write each model card and the record.

    ``cfg`` is the typed ``registry`` config group; ``models_dir`` holds each
    model's ``NAME/run.json`` as the train stage wrote it; ``fairness`` is the
    ``validation.fairness`` group (how the groups of the fairness checks are formed),
    ``scorecard`` the ``scorecard`` group (described in the card). The record goes to
    ``cfg.output``, each card to ``models_dir/NAME/model_card.md``. Returns the record.
    """
    policy = GatePolicy.from_config(cfg)
    groups = FairnessGroups.from_config(fairness) if fairness else FairnessGroups(())
    client = MlflowClient(tracking_uri)
    # mlflow.register_model and pyfunc.load_model use the global tracking URI.
    mlflow.set_tracking_uri(tracking_uri)
    records = {}
    # The models are trained on one split, so their held-out ids are usually the same
    # file: its rows (the whole 670-column feature file decoded to find them, ~half
    # of the stage at the real scale) are read once and shared.
    read: dict[bytes, pd.DataFrame] = {}
    for name in cfg.models:
        candidate = Candidate.from_run_json(Path(models_dir) / name / "run.json")
        ids = _contents(candidate.test_ids)
        rows = read.get(ids) if ids is not None else None
        if rows is None:
            rows = load_test_rows(cfg.data, candidate.test_ids)
            if ids is not None:
                read[ids] = rows
        # A shallow copy: copy-on-write keeps the shared rows as read whatever a gate does.
        records[name] = gate_candidate(client, candidate, rows.copy(deep=False), policy, groups)
        write_model_card(client, Path(models_dir) / name, records[name], scorecard)
    report = {"registered_at": datetime.now(UTC).isoformat(timespec="seconds"), "models": records}
    with atomic_file(cfg.output) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    return report
