"""The model card of a registered model version, in Markdown, for a model-risk reviewer.

Written by the register stage once the gate has decided, from what the training run
recorded (``models/NAME/run.json`` and ``review.json``) and the gate's record: intended
use, data and population, features, metrics with the validation tables, fairness,
threshold and cost, limitations and the gate decision. :func:`model_card` is pure;
the register stage writes it to ``models/NAME/model_card.md``, logs it to the training
run (``model_card.md``) and sets it as the registered version's description, which the
MLflow UI renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credit_scoring.config import ScorecardConfig

_PURPOSE = {
    "light": "the ten fields a loan officer types in at the counter (amounts, gender, age, "
    "children, employment, car and home ownership)",
    "full": "the whole application form and the applicant's credit history (bureau, previous "
    "applications, instalments, point-of-sale and card balances)",
}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str], digits: int = 4) -> str:
    """A Markdown table of ``rows`` with ``columns`` (key -> header)."""
    head = "| " + " | ".join(columns.values()) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(_fmt(r.get(k), digits) for k in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def _metric_rows(m: Mapping[str, Any]) -> list[dict[str, Any]]:
    def spread(name: str) -> str:
        mean, std = m.get(f"cv_{name}_mean"), m.get(f"cv_{name}_std")
        return "n/a" if mean is None else f"{mean:.4f} ± {std:.4f}"

    return [
        {"metric": "AUC", "test": m.get("test_auc"), "cv": spread("auc")},
        {"metric": "Gini (2·AUC − 1)", "test": m.get("gini"), "cv": spread("gini")},
        {"metric": "Kolmogorov–Smirnov", "test": m.get("ks"), "cv": spread("ks")},
        {"metric": "Brier score", "test": m.get("brier"), "cv": ""},
        {"metric": "Expected calibration error", "test": m.get("ece"), "cv": ""},
        {"metric": "Log loss", "test": m.get("log_loss"), "cv": ""},
        {"metric": "Score PSI, train vs test", "test": m.get("score_psi"), "cv": ""},
        {"metric": "AUC of the true probabilities (oracle)", "test": m.get("oracle_auc"), "cv": ""},
    ]


def model_card(
    *,
    run: Mapping[str, Any],
    review: Mapping[str, Any],
    gate: Mapping[str, Any],
    scorecard: ScorecardConfig | None = None,
    generated_at: str | None = None,
) -> str:
    """The Markdown card of one registered version.

    ``run`` is ``models/NAME/run.json``, ``review`` is ``models/NAME/review.json``,
    ``gate`` the register stage's record of this model (``models/registry.json``),
    ``scorecard`` the typed ``scorecard`` config group (points and grades).
    """
    m = {**run.get("metrics", {}), **review.get("metrics", {})}
    name = run["model_name"]
    registered = run["registered_name"]
    version = gate.get("version", "?")
    population = review.get("population", {})
    features = review.get("features", {})
    synthetic = m.get("oracle_auc") is not None
    when = generated_at or datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        f"# Model card: {registered} version {version}",
        "",
        f"Generated {when} by the register stage. Training run `{run['run_id']}`, "
        f"git commit `{run.get('git_commit', 'unknown')}`, trained {run.get('trained_at', '?')}.",
        "",
        "## Intended use",
        "",
        f"Estimates the probability that a consumer-credit applicant will have payment "
        f"difficulties (the Home Credit `TARGET`), from {_PURPOSE.get(name, 'the listed fields')}. "
        "It supports a credit officer's decision: the applicant is *granted* when the probability "
        f"is below the business threshold ({_fmt(review.get('threshold'))}), *refused* otherwise. "
        "Each answer carries the probability, a 0–100 score, scorecard points, a risk grade and "
        "the principal reasons in plain words.",
        "",
        "Not intended for: applicants outside the population below (other products, countries "
        "or periods), pricing or limit setting, or refusing an applicant without a person "
        "reviewing the case and the reasons given.",
        "",
        "## Data",
        "",
        "- Data version (the md5 `dvc.lock` records for `data/raw`): "
        f"`{run.get('data_version', 'unknown')}`.",
        "- Source: "
        + (
            "**synthetic** data in the Home Credit format (the generator's true default "
            "probabilities are known for the test rows)."
            if synthetic
            else "no generator oracle for these rows: real data in the Home Credit format."
        ),
        f"- Population: {population.get('train_rows', '?')} training and "
        f"{population.get('test_rows', '?')} held-out test applicants (a stratified split), "
        f"default rate {_fmt(population.get('train_default_rate'), 3)} / "
        f"{_fmt(population.get('test_default_rate'), 3)}. Metrics below are on the test rows; "
        "the CV spread is over the folds of the training rows.",
        "",
        "## Features",
        "",
        f"{features.get('count', '?')} encoded features:",
        "",
        _table(
            [{"family": k, "count": v} for k, v in (features.get("families") or {}).items()],
            {"family": "family", "count": "features"},
        ),
        "",
    ]
    constraints = features.get("monotone_constraints") or {}
    if constraints:
        lines += [
            "Monotone constraints (P(default) never rises (−1) or never falls (+1) with the "
            "feature): " + ", ".join(f"`{f}` {d:+d}" for f, d in constraints.items()) + ".",
            "",
        ]
    exclusion = review.get("exclusion") or {}
    used = exclusion.get("protected_features_used") or []
    if used:
        cost = ""
        if exclusion.get("auc_without") is not None:
            cost = (
                f" Without them (same split and trees) the test AUC would be "
                f"{exclusion['auc_without']:.4f} instead of {exclusion['auc_with']:.4f}."
            )
        lines += [
            "Protected attributes used as inputs: "
            + ", ".join(f"`{f}`" for f in used)
            + f".{cost} `train.exclude_fields` leaves them out.",
            "",
        ]
    else:
        lines += ["No protected attribute is a model input.", ""]

    lines += [
        "## Performance",
        "",
        _table(_metric_rows(m), {"metric": "metric", "test": "test", "cv": "CV mean ± std"}),
        "",
        "### Gains table (test rows, bin 1 = riskiest)",
        "",
        _table(
            review.get("gains", []),
            {
                "bin": "bin",
                "min_probability": "min p",
                "max_probability": "max p",
                "count": "count",
                "defaults": "defaults",
                "default_rate": "default rate",
                "mean_predicted": "mean predicted",
                "cum_defaults_share": "defaults captured",
                "lift": "lift",
                "cum_lift": "cum. lift",
            },
            digits=3,
        ),
        "",
        "KS, CAP, gains and score-stability charts are in the run's `validation/` artifacts.",
        "",
        "## Threshold and cost",
        "",
        f"Refuse when P(default) ≥ {_fmt(review.get('threshold'))}, the threshold that minimises "
        f"the business cost on the out-of-fold probabilities, a missed default costing "
        f"{_fmt((review.get('costs') or {}).get('fn_cost'), 0)} and a refused good applicant "
        f"{_fmt((review.get('costs') or {}).get('fp_cost'), 0)}. On the test rows: cost per "
        f"applicant {_fmt(m.get('business_cost'))} (at 0.5: {_fmt(m.get('business_cost_at_0_5'))}"
        f"), recall of defaults {_fmt(m.get('recall'), 3)}, precision "
        f"{_fmt(m.get('precision'), 3)}.",
        "",
    ]
    if scorecard:
        points = scorecard.points
        bounds = ", ".join(
            f"{g.grade} < {g.max_probability:g}"
            if g.max_probability is not None
            else f"{g.grade} otherwise"
            for g in scorecard.grades
        )
        lines += [
            f"Points: {points.anchor_points:g} at odds {points.anchor_odds:g}:1 of repayment, "
            f"{points.pdo:g} points to double the odds. Grades by P(default): {bounds}.",
            "",
        ]
    lines += [
        "## Fairness (test rows)",
        "",
        _table(
            review.get("fairness", []),
            {
                "attribute": "attribute",
                "group": "group",
                "count": "count",
                "approval_rate": "approval rate",
                "approval_ratio": "vs best group",
                "default_rate": "default rate",
                "mean_predicted": "mean predicted",
                "auc": "AUC",
            },
            digits=3,
        ),
        "",
    ]
    checks = gate.get("fairness") or []
    if checks:
        lines += [
            "Registry fairness checks (disparate impact = lowest / highest approval rate):",
            "",
            _table(
                checks,
                {
                    "attribute": "attribute",
                    "ratio": "disparate impact",
                    "upper_bound": "upper bound",
                    "min_ratio": "minimum",
                    "enforce": "enforced",
                    "ok": "passed",
                },
                digits=3,
            ),
            "",
        ]
    lines += ["## Gate decision", ""]
    decision = gate.get("decision", "not decided")
    lines += [
        f"**{decision}**: {gate.get('reason', '')}.",
        "",
        f"- Champion comparison: {gate.get('champion_comparison') or 'n/a'}.",
        f"- Champion after the decision: version {gate.get('champion') or 'none'}.",
    ]
    for check in checks:
        if not check.get("enforce") and not check.get("ok", True):
            lines.append(
                f"- Report-only fairness check below its minimum: {check['attribute']}, "
                f"approval rate of {check.get('lowest')} {_fmt(check.get('lowest_rate'), 3)} vs "
                f"{check.get('highest')} {_fmt(check.get('highest_rate'), 3)} (disparate impact "
                f"{_fmt(check.get('ratio'), 3)}): not blocking, to be justified by the groups' "
                "default rates above."
            )
    for check in gate.get("monotonicity") or []:
        lines.append(
            f"- Monotonicity in `{check['feature']}` over {check.get('n_rows', '?')} applicants: "
            f"{'ok' if check.get('ok') else 'violated'} "
            f"({check.get('violations', '?')} violations)."
        )
    lines += [
        "",
        "## Limitations",
        "",
    ]
    if synthetic:
        lines.append(
            "- Trained and tested on **synthetic** data: the figures describe the generator's "
            "population, not real applicants; retrain and re-validate on real data before any use."
        )
    lines += [
        "- The test rows come from the same period as the training rows: no out-of-time "
        "validation; watch the population stability of new applicants (PSI) in production.",
        "- Outcomes are known only for granted loans (no reject inference): the model has not "
        "seen how refused applicants would have repaid.",
        "- Reasons come from SHAP contributions of the booster's log-odds, before calibration; "
        "they explain the model, not the applicant's true situation.",
        "- Fairness figures are group averages on the test rows; small groups are noisy, and a "
        "ratio close to the minimum deserves a look at the groups' default rates.",
        "",
    ]
    return "\n".join(lines)


#: Where the card goes in the training run's artifacts and next to the model's DVC outputs.
CARD_FILE = "model_card.md"


def version_description(card_run_id: str, gate: Mapping[str, Any], metrics: Mapping) -> str:
    """The registered version's short description (MLflow keeps at most 5,000 characters)."""
    parts = [
        f"Gate: {gate.get('decision', 'not decided')} ({gate.get('reason', '')}).",
        f"Test AUC {_fmt(metrics.get('test_auc'))}, Gini {_fmt(metrics.get('gini'))}, "
        f"KS {_fmt(metrics.get('ks'))}.",
        f"Model card: `{CARD_FILE}` in the artifacts of run {card_run_id}.",
    ]
    return " ".join(parts)[:5000]
