"""Named populations for monitoring: the same generator, a later (possibly drifted) population.

A scenario (``conf/data/scenarios/NAME.yaml``) names a seed, a size and a
:class:`Shift` of the generating process. ``baseline`` keeps the process and
draws new applicants (a monitor must stay quiet on it); ``shifted`` inflates
incomes, lowers EXT_SOURCE_2, makes refused previous applications more frequent
and raises the default rate (a monitor must alert on it, and name those inputs).

The shift is applied to the application columns *before* the true risk is
computed, so the oracle file still gives every applicant's true probability
under the drifted process. The identity shift changes nothing, byte for byte:
the default data set and its hash in ``dvc.lock`` do not depend on this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from credit_scoring.errors import CreditScoringError

#: Where the named scenarios live (one YAML file each).
SCENARIO_DIR = Path(__file__).resolve().parents[4] / "conf" / "data" / "scenarios"

#: Incomes stay on the real files' grid and range after inflation.
_INCOME_STEP = 2250.0
_INCOME_RANGE = (27_000.0, 13_500_000.0)
#: External scores stay inside the open unit interval after a shift.
_EXT_SOURCE_RANGE = (0.0001, 0.9999)
#: History events whose log-odds a scenario may shift (``history.EVENT_LOG_ODDS`` names).
SHIFTABLE_EVENTS = ("refused",)


@dataclass(frozen=True)
class Shift:
    """How a scenario's population differs from the default process (identity by default).

    ``income_factor`` multiplies AMT_INCOME_TOTAL (then rounded to the 2,250 grid);
    ``ext_source`` adds a constant to EXT_SOURCE_k (missing values stay missing);
    ``event_log_odds`` adds to the log-odds of history events (``refused``: refused
    previous applications); ``default_log_odds`` adds to every applicant's true
    default log-odds, a higher default rate at equal application.
    """

    income_factor: float = 1.0
    ext_source: Mapping[int, float] = field(default_factory=dict)
    event_log_odds: Mapping[str, float] = field(default_factory=dict)
    default_log_odds: float = 0.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Shift:
        """Build from a scenario's ``shift:`` block; unknown keys are an error."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CreditScoringError(f"unknown shift key(s) {unknown}; known: {sorted(known)}")
        ext = {int(k): float(v) for k, v in dict(values.get("ext_source") or {}).items()}
        if set(ext) - {1, 2, 3}:
            raise CreditScoringError(f"shift.ext_source keys must be 1, 2 or 3 (got {sorted(ext)})")
        events = {str(k): float(v) for k, v in dict(values.get("event_log_odds") or {}).items()}
        if set(events) - set(SHIFTABLE_EVENTS):
            raise CreditScoringError(
                f"shift.event_log_odds keys must be among {list(SHIFTABLE_EVENTS)} "
                f"(got {sorted(events)})"
            )
        factor = float(values.get("income_factor", 1.0))
        if factor <= 0:
            raise CreditScoringError(f"shift.income_factor must be > 0 (got {factor})")
        return cls(
            income_factor=factor,
            ext_source=ext,
            event_log_odds=events,
            default_log_odds=float(values.get("default_log_odds", 0.0)),
        )

    @property
    def is_identity(self) -> bool:
        """True when the shift leaves the process as it is."""
        return (
            self.income_factor == 1.0
            and not any(self.ext_source.values())
            and not any(self.event_log_odds.values())
            and self.default_log_odds == 0.0
        )

    def apply(self, columns: dict[str, np.ndarray]) -> None:
        """Shift a chunk's application columns in place (before the true risk is computed)."""
        if self.income_factor != 1.0:
            income = columns["AMT_INCOME_TOTAL"] * self.income_factor
            columns["AMT_INCOME_TOTAL"] = np.clip(
                np.round(income / _INCOME_STEP) * _INCOME_STEP, *_INCOME_RANGE
            )
        for k, delta in self.ext_source.items():
            if delta:
                name = f"EXT_SOURCE_{k}"
                columns[name] = np.clip(columns[name] + delta, *_EXT_SOURCE_RANGE)


@dataclass(frozen=True)
class Scenario:
    """A named population: seed, sizes and shift (``conf/data/scenarios/NAME.yaml``)."""

    name: str
    description: str
    seed: int
    n_clients: int
    n_test_clients: int | None
    shift: Shift


def available_scenarios(directory: Path = SCENARIO_DIR) -> list[str]:
    """The scenario names defined in ``directory``."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_scenario(name: str, directory: Path = SCENARIO_DIR) -> Scenario:
    """Read scenario ``name`` from ``directory``; an unknown name lists the known ones."""
    path = directory / f"{name}.yaml"
    if not path.is_file():
        raise CreditScoringError(
            f"unknown scenario {name!r}; known: {', '.join(available_scenarios(directory))} "
            f"(files in {directory})"
        )
    try:
        conf = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except OmegaConfBaseException as exc:
        raise CreditScoringError(f"{path}: {exc}") from exc
    if not isinstance(conf, dict):
        raise CreditScoringError(f"{path}: expected a mapping")
    unknown = sorted(set(conf) - {"description", "seed", "n_clients", "n_test_clients", "shift"})
    if unknown:
        raise CreditScoringError(f"{path}: unknown key(s) {unknown}")
    try:
        shift = Shift.from_mapping(conf.get("shift"))
    except CreditScoringError as exc:
        raise CreditScoringError(f"{path}: {exc}") from exc
    n_test = conf.get("n_test_clients")
    return Scenario(
        name=name,
        description=str(conf.get("description", "")),
        seed=int(conf["seed"]),
        n_clients=int(conf["n_clients"]),
        n_test_clients=None if n_test is None else int(n_test),
        shift=shift,
    )
