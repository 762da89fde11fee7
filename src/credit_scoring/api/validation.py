"""Request validation: every refusal names the field and the reason, as 4xx JSON.

Applicants arrive in people's units (years, Y/N, booleans, the prototype's
French labels); the model speaks the dataset's (DAYS_BIRTH as negative days,
FLAG_OWN_CAR "Y"/"N"). The conversion is here, once, for POST /score and the
legacy routes alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from credit_scoring.api.tables import MODEL_NAMES, POPULATIONS
from credit_scoring.data.schema import DAYS_SENTINEL, MANDATORY_FIELDS

#: Days per year used to turn ages and employment lengths into the dataset's DAYS_* units.
DAYS_PER_YEAR = 365.25
#: Upper bounds of the people's-units inputs: beyond them a value is a typo, not a person.
MAX_AGE_YEARS = 130.0
MAX_YEARS_EMPLOYED = 100.0


class ApiError(Exception):
    """A refused request: HTTP status, the offending field and a machine-readable reason."""

    def __init__(self, status: int, field: str | None, reason: str, message: str) -> None:
        self.status = status
        self.field = field
        self.reason = reason
        self.message = message
        super().__init__(message)

    def to_json(self) -> dict[str, Any]:
        """The error body every 4xx/5xx answer carries."""
        return {
            "error": {
                "status": self.status,
                "field": self.field,
                "reason": self.reason,
                "message": self.message,
            }
        }


def bad(field: str, reason: str, message: str) -> ApiError:
    """A 400 for ``field``."""
    return ApiError(400, field, reason, f"{field}: {message}")


def parse_number(
    field: str,
    raw: Any,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """A finite number from a JSON value or a query string; booleans are not numbers."""
    if isinstance(raw, bool) or raw is None:
        raise bad(field, "not_a_number", "must be a number")
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            raise bad(field, "not_a_number", f"{raw[:40]!r} is not a number") from None
    elif isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            raise bad(field, "not_a_number", "is too large") from None
    else:
        raise bad(field, "not_a_number", "must be a number")
    if not math.isfinite(value):
        raise bad(field, "not_a_number", "must be a finite number")
    if positive and value <= 0:
        raise bad(field, "negative_amount" if value < 0 else "not_positive", "must be positive")
    if minimum is not None and value < minimum:
        raise bad(field, "out_of_range", f"must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise bad(field, "out_of_range", f"must be at most {maximum:g}")
    return value


#: An optionally signed run of ASCII digits. ``str.isdigit`` is not enough: it accepts
#: "²" or "٣", and stripping every "-" accepts "--5", all of which ``int`` refuses.
#: At most 18 digits: every such number fits the database's 64-bit integers.
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _integer(field: str, raw: str) -> int:
    """``raw`` as an int, or a 400 naming ``field``."""
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise bad(field, "not_an_integer", f"{raw[:40]!r} is not an integer")
    return int(text)


def parse_client_id(raw: str) -> int:
    """A client id from a path or query string: a decimal integer."""
    return _integer("client_id", raw)


def query_value(args: Mapping[str, str], field: str) -> str:
    """A required query parameter's raw text."""
    value = args.get(field)
    if value is None or value == "":
        raise bad(field, "missing", "is required")
    return value


def parse_model(raw: str | None, default: str = "light") -> str:
    """One of the served model names."""
    model = default if raw is None or raw == "" else raw
    if model not in MODEL_NAMES:
        raise bad("model", "unknown_model", f"{model[:40]!r} is not one of {list(MODEL_NAMES)}")
    return model


def parse_population(raw: str | None) -> str:
    """``all`` (every client) or ``repaid`` (TARGET = 0)."""
    population = raw or "all"
    if population not in POPULATIONS:
        raise bad("population", "unknown_category", f"must be one of {list(POPULATIONS)}")
    return population


def parse_int(field: str, raw: str | None, default: int, low: int, high: int) -> int:
    """An optional bounded integer query parameter."""
    if raw is None or raw == "":
        return default
    value = _integer(field, raw)
    if not low <= value <= high:
        raise bad(field, "out_of_range", f"must be between {low} and {high}")
    return value


_YES_NO = {"Y": "Y", "N": "N", True: "Y", False: "N"}

#: The applicant fields POST /score accepts, and how each is read.
APPLICANT_FIELDS: tuple[str, ...] = (
    *MANDATORY_FIELDS,
    "CODE_GENDER",
    "age_years",
    "DAYS_BIRTH",
    "CNT_CHILDREN",
    "years_employed",
    "DAYS_EMPLOYED",
    "FLAG_OWN_CAR",
    "FLAG_OWN_REALTY",
    "models",
)


def _flag(field: str, raw: Any) -> str:
    if isinstance(raw, bool | str) and raw in _YES_NO:
        return _YES_NO[raw]
    raise bad(field, "unknown_category", "must be 'Y', 'N', true or false")


def _either(body: Mapping[str, Any], people: str, dataset: str) -> None:
    if body.get(people) is not None and body.get(dataset) is not None:
        raise bad(people, "conflict", f"give either {people} or {dataset}, not both")


def parse_applicant(body: Any) -> dict[str, Any]:
    """The light model's ten raw fields (missing optional ones absent) from a JSON body."""
    if not isinstance(body, dict):
        raise bad("body", "not_an_object", "must be a JSON object")
    unknown = sorted(set(body) - set(APPLICANT_FIELDS))
    if unknown:
        raise bad(
            unknown[0], "unknown_field", f"is not an applicant field ({list(APPLICANT_FIELDS)})"
        )
    fields: dict[str, Any] = {}
    for name in MANDATORY_FIELDS:
        if body.get(name) is None:
            raise bad(name, "missing", "is required")
        fields[name] = parse_number(name, body[name], positive=True)
    if body.get("CODE_GENDER") is not None:
        if body["CODE_GENDER"] not in ("M", "F"):
            raise bad("CODE_GENDER", "unknown_category", "must be 'M' or 'F'")
        fields["CODE_GENDER"] = body["CODE_GENDER"]
    _either(body, "age_years", "DAYS_BIRTH")
    if body.get("age_years") is not None:
        age = parse_number("age_years", body["age_years"], positive=True, maximum=MAX_AGE_YEARS)
        fields["DAYS_BIRTH"] = -round(age * DAYS_PER_YEAR)
    elif body.get("DAYS_BIRTH") is not None:
        days = parse_number("DAYS_BIRTH", body["DAYS_BIRTH"])
        if days >= 0:
            raise bad("DAYS_BIRTH", "out_of_range", "must be negative (days before application)")
        fields["DAYS_BIRTH"] = days
    if body.get("CNT_CHILDREN") is not None:
        children = parse_number("CNT_CHILDREN", body["CNT_CHILDREN"], minimum=0)
        if children != int(children):
            raise bad("CNT_CHILDREN", "not_an_integer", "must be a whole number")
        fields["CNT_CHILDREN"] = children
    _either(body, "years_employed", "DAYS_EMPLOYED")
    if body.get("years_employed") is not None:
        years = parse_number(
            "years_employed", body["years_employed"], minimum=0, maximum=MAX_YEARS_EMPLOYED
        )
        fields["DAYS_EMPLOYED"] = -round(years * DAYS_PER_YEAR)
    elif body.get("DAYS_EMPLOYED") is not None:
        days = parse_number("DAYS_EMPLOYED", body["DAYS_EMPLOYED"])
        if days > 0 and days != DAYS_SENTINEL:
            raise bad("DAYS_EMPLOYED", "out_of_range", f"must be <= 0 (or {DAYS_SENTINEL})")
        fields["DAYS_EMPLOYED"] = days
    for name in ("FLAG_OWN_CAR", "FLAG_OWN_REALTY"):
        if body.get(name) is not None:
            fields[name] = _flag(name, body[name])
    return fields


def parse_models(body: Any, query: str | None) -> list[str]:
    """Which models score an applicant: ``?model=``, else the body's ``models``, else light."""
    if query:
        return [parse_model(query)]
    requested = body.get("models") if isinstance(body, dict) else None
    if requested is None:
        return ["light"]
    if not isinstance(requested, list) or not requested:
        raise bad("models", "not_a_list", f"must be a non-empty list of {list(MODEL_NAMES)}")
    models: list[str] = []
    for raw in requested:
        if not isinstance(raw, str) or raw not in MODEL_NAMES:
            raise bad(
                "models", "unknown_model", f"{str(raw)[:40]!r} is not one of {list(MODEL_NAMES)}"
            )
        if raw not in models:
            models.append(raw)
    return models


_LEGACY_GENDER = {"Monsieur": "M", "Madame": "F"}
_LEGACY_YES_NO = {"Oui": "Y", "Non": "N"}


def parse_legacy_applicant(args: Mapping[str, str], *, optional: bool) -> dict[str, Any]:
    """The prototype's query parameters turned into the light model's raw fields."""
    fields: dict[str, Any] = {
        name: parse_number(param, query_value(args, param), positive=True)
        for name, param in zip(
            MANDATORY_FIELDS,
            ("amt_income", "amt_goods_price", "amt_credit", "amt_annuity"),
            strict=True,
        )
    }
    if not optional:
        return fields
    gender = query_value(args, "gender")
    if gender not in _LEGACY_GENDER:
        raise bad("gender", "unknown_category", "must be 'Monsieur' or 'Madame'")
    fields["CODE_GENDER"] = _LEGACY_GENDER[gender]
    fields["DAYS_BIRTH"] = -round(
        parse_number("age", query_value(args, "age"), positive=True, maximum=MAX_AGE_YEARS)
        * DAYS_PER_YEAR
    )
    children = parse_number("cnt_children", query_value(args, "cnt_children"), minimum=0)
    fields["CNT_CHILDREN"] = children
    years = parse_number(
        "time_employment",
        query_value(args, "time_employment"),
        minimum=0,
        maximum=MAX_YEARS_EMPLOYED,
    )
    fields["DAYS_EMPLOYED"] = -round(years * DAYS_PER_YEAR)
    for name, param in (("FLAG_OWN_CAR", "own_car"), ("FLAG_OWN_REALTY", "own_realty")):
        value = query_value(args, param)
        if value not in _LEGACY_YES_NO:
            raise bad(param, "unknown_category", "must be 'Oui' or 'Non'")
        fields[name] = _LEGACY_YES_NO[value]
    return fields
