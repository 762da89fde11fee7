"""The API's requests and answers, declared once as pydantic models.

Every query string, path parameter and JSON body the API accepts is one of the
models below; the routes receive them validated, and the OpenAPI document at
``/openapi.json`` (and the ``/docs`` page) is generated from them. A refusal is
a pydantic error turned into the API's error JSON (``field``, ``reason``,
``message``) by ``credit_scoring.api.validation``: the error *types* raised
here (``not_a_number``, ``negative_amount``, ``conflict``...) are the reasons a
client sees.

Applicants arrive in people's units (years, Y/N, booleans, the prototype's
French labels); the model speaks the dataset's (DAYS_BIRTH as negative days,
FLAG_OWN_CAR "Y"/"N"). The conversion is here, once, for POST /score and the
legacy routes alike (``Applicant.model_fields_for_scoring``).
"""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from credit_scoring.data.schema import DAYS_SENTINEL

#: Days per year used to turn ages and employment lengths into the dataset's DAYS_* units.
DAYS_PER_YEAR = 365.25
#: Upper bounds of the people's-units inputs: beyond them a value is a typo, not a person.
MAX_AGE_YEARS = 130.0
MAX_YEARS_EMPLOYED = 100.0

ModelName = Literal["full", "light"]
Population = Literal["all", "repaid"]

# --------------------------------------------------------------------------- value types


def _number(raw: Any) -> Any:
    """JSON numbers and numeric text; booleans are not numbers (pydantic would take them)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise PydanticCustomError("not_a_number", "must be a number")
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            raise PydanticCustomError(
                "not_a_number", "{text!r} is not a number", {"text": raw[:40]}
            ) from None
    else:
        try:
            value = float(raw)
        except OverflowError:
            raise PydanticCustomError("not_a_number", "is too large") from None
    if not math.isfinite(value):
        raise PydanticCustomError("not_a_number", "must be a finite number")
    return value


#: An optionally signed run of ASCII digits. ``str.isdigit`` is not enough: it accepts
#: "²" or "٣", and stripping every "-" accepts "--5", all of which ``int`` refuses.
#: At most 18 digits: every such number fits the database's 64-bit integers.
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_INT64_SAFE = 10**18 - 1


def _integer(raw: Any) -> Any:
    """Decimal text or a JSON integer (a whole float such as 2.0 too); nothing else."""
    if isinstance(raw, str):
        if not _INTEGER.fullmatch(raw.strip()):
            raise PydanticCustomError(
                "not_an_integer", "{text!r} is not an integer", {"text": raw[:40]}
            )
        return int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise PydanticCustomError("not_an_integer", "must be an integer")
    if isinstance(raw, float) and not (math.isfinite(raw) and raw == int(raw)):
        raise PydanticCustomError("not_an_integer", "must be a whole number")
    if abs(raw) > _INT64_SAFE:
        raise PydanticCustomError("not_an_integer", "is too large")
    return int(raw)


def number(**bounds: float) -> Any:
    """A finite number (JSON number or numeric text) within ``bounds`` (``gt``, ``le``...)."""
    return Annotated[float, Field(**bounds), BeforeValidator(_number)]


def amount(**bounds: float) -> Any:
    """An amount of money: a strictly positive number."""
    return number(gt=0, **bounds)


def integer(**bounds: int) -> Any:
    """An integer written in decimal digits, within the database's 64-bit range."""
    limits = {"ge": -_INT64_SAFE, "le": _INT64_SAFE, **bounds}
    return Annotated[int, Field(**limits), BeforeValidator(_integer)]


Number = number()
Amount = amount()
#: A stored client's SK_ID_CURR.
ClientId = Annotated[integer(), Field(description="SK_ID_CURR of a known client")]


def _yes_no(raw: Any) -> Any:
    return {True: "Y", False: "N"}.get(raw, raw) if isinstance(raw, bool) else raw


#: "Y"/"N" as the dataset writes them, or a JSON boolean.
YesNo = Annotated[
    Literal["Y", "N"],
    BeforeValidator(_yes_no),
    WithJsonSchema({"oneOf": [{"type": "string", "enum": ["Y", "N"]}, {"type": "boolean"}]}),
]


def _days_employed(value: float) -> float:
    if value > 0 and value != DAYS_SENTINEL:
        raise PydanticCustomError("out_of_range", f"must be <= 0 (or {DAYS_SENTINEL})")
    return value


def _unique(models: list[str]) -> list[str]:
    return list(dict.fromkeys(models))


def _days(years: float) -> int:
    return -round(years * DAYS_PER_YEAR)


class Request(BaseModel):
    """A request model whose JSON schema is computed once per class.

    flask-openapi3 reads a query model's JSON schema on every request (to tell list
    parameters from single ones), and pydantic builds it anew each time: about 4 ms,
    more than the whole score. The schema of a class never changes; callers only read it.
    """

    @classmethod
    @functools.cache
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """pydantic's JSON schema of the class, cached."""
        return super().model_json_schema(*args, **kwargs)


class Strict(Request):
    """Unknown fields are refused (``unknown_field``), never silently dropped."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- requests


class ClientPath(Request):
    """``/clients/{client_id}``."""

    client_id: ClientId


class MonitoringQuery(Request):
    """``/monitoring/summary``: the period, ISO 8601 times (UTC without an offset)."""

    since: str | None = Field(None, description="from this time (ISO 8601)")
    until: str | None = Field(None, description="until this time, exclusive (ISO 8601)")


class ModelQuery(Request):
    """Which champion answers (``?model=``)."""

    model: ModelName = Field("light", description="full or light")


def explain_query(max_top: int) -> type[BaseModel]:
    """``?model=&top=``, with ``top`` bounded by ``serve.api.max_top``."""

    class ExplainQuery(ModelQuery):
        top: integer(ge=1, le=max_top) = Field(  # type: ignore[valid-type]
            10, description="how many features, by absolute contribution"
        )

    return ExplainQuery


class ScoreQuery(Request):
    """``POST /score?model=``: one model, overriding the body's ``models``."""

    model: ModelName | None = Field(None, description="score with this model only")


class DistributionQuery(Request):
    """``/compare/distribution``: which feature, population and bin count."""

    feature: str = Field(min_length=1, description="e.g. AMT_INCOME_TOTAL")
    population: Population = "all"
    bins: integer(ge=1) | None = Field(None, description="one of the published bin counts")  # type: ignore[valid-type]


class IncomeQuery(Request):
    """``/compare/position?income=``."""

    income: Amount


class CompareModelsQuery(Request):
    """``/compare/models?client_id=``."""

    client_id: ClientId


class Applicant(Strict):
    """A new applicant in people's or the dataset's units (give one of each pair)."""

    AMT_INCOME_TOTAL: Amount
    AMT_GOODS_PRICE: Amount
    AMT_CREDIT: Amount
    AMT_ANNUITY: Amount
    CODE_GENDER: Literal["M", "F"] | None = None
    age_years: amount(le=MAX_AGE_YEARS) | None = Field(  # type: ignore[valid-type]
        None, description="or DAYS_BIRTH"
    )
    DAYS_BIRTH: number(lt=0) | None = Field(  # type: ignore[valid-type]
        None, description="negative: days before the application"
    )
    CNT_CHILDREN: integer(ge=0) | None = None  # type: ignore[valid-type]
    years_employed: number(ge=0, le=MAX_YEARS_EMPLOYED) | None = Field(  # type: ignore[valid-type]
        None, description="or DAYS_EMPLOYED"
    )
    DAYS_EMPLOYED: (
        Annotated[
            Number,
            AfterValidator(_days_employed),
            WithJsonSchema({"anyOf": [{"type": "number", "maximum": 0}, {"const": DAYS_SENTINEL}]}),
        ]
        | None
    ) = Field(None, description=f"<= 0, or {DAYS_SENTINEL} (not employed)")
    FLAG_OWN_CAR: YesNo | None = None
    FLAG_OWN_REALTY: YesNo | None = None
    models: Annotated[list[ModelName], Field(min_length=1), AfterValidator(_unique)] | None = Field(
        None, description="default: light"
    )

    @model_validator(mode="after")
    def _one_of_each_pair(self) -> Applicant:
        for people, dataset in (("age_years", "DAYS_BIRTH"), ("years_employed", "DAYS_EMPLOYED")):
            if getattr(self, people) is not None and getattr(self, dataset) is not None:
                raise PydanticCustomError(
                    "conflict",
                    "give either {field} or {other}, not both",
                    {"field": people, "other": dataset},
                )
        return self

    def model_fields_for_scoring(self) -> dict[str, Any]:
        """The light model's raw fields in the dataset's units; unknown ones absent."""
        fields = self.model_dump(
            exclude_none=True, exclude={"age_years", "years_employed", "models"}
        )
        if self.age_years is not None:
            fields["DAYS_BIRTH"] = _days(self.age_years)
        if self.years_employed is not None:
            fields["DAYS_EMPLOYED"] = _days(self.years_employed)
        return fields


# --------------------------------------------------------------------------- legacy requests


class LegacyClientQuery(Request):
    """The prototype's ``?client_ID=``."""

    client_ID: ClientId  # noqa: N815 (the prototype's parameter name)


class LegacyIncomeQuery(Request):
    """The prototype's ``?amt_income=``."""

    amt_income: Amount


class LegacyMandatoryQuery(LegacyIncomeQuery):
    """The four amounts of ``/predict/mandatory``."""

    amt_goods_price: Amount
    amt_credit: Amount
    amt_annuity: Amount

    def model_fields_for_scoring(self) -> dict[str, Any]:
        """The light model's raw fields (the six optional ones missing)."""
        return {
            "AMT_INCOME_TOTAL": self.amt_income,
            "AMT_GOODS_PRICE": self.amt_goods_price,
            "AMT_CREDIT": self.amt_credit,
            "AMT_ANNUITY": self.amt_annuity,
        }


class LegacyOptionalQuery(LegacyMandatoryQuery):
    """All ten inputs of ``/predict/optional``, in the prototype's units and labels."""

    gender: Literal["Monsieur", "Madame"]
    age: amount(le=MAX_AGE_YEARS) = Field(description="years")  # type: ignore[valid-type]
    cnt_children: integer(ge=0)  # type: ignore[valid-type]
    time_employment: number(ge=0, le=MAX_YEARS_EMPLOYED) = Field(description="years")  # type: ignore[valid-type]
    own_car: Literal["Oui", "Non"]
    own_realty: Literal["Oui", "Non"]

    def model_fields_for_scoring(self) -> dict[str, Any]:
        """The light model's ten raw fields in the dataset's units and labels."""
        yes_no = {"Oui": "Y", "Non": "N"}
        return {
            **super().model_fields_for_scoring(),
            "CODE_GENDER": {"Monsieur": "M", "Madame": "F"}[self.gender],
            "DAYS_BIRTH": _days(self.age),
            "CNT_CHILDREN": self.cnt_children,
            "DAYS_EMPLOYED": _days(self.time_employment),
            "FLAG_OWN_CAR": yes_no[self.own_car],
            "FLAG_OWN_REALTY": yes_no[self.own_realty],
        }


# --------------------------------------------------------------------------- answers


class ErrorDetail(BaseModel):
    """What every refusal says: the status, the field at fault, a reason code and a message."""

    status: int
    field: str | None = None
    reason: str
    message: str
    server: str | None = Field(None, description="the model server at fault (502/503)")


class ErrorAnswer(BaseModel):
    """Every 4xx/5xx answer."""

    error: ErrorDetail


class Reason(BaseModel):
    """One principal reason of a decision, in plain words."""

    code: str
    field: str | None = None
    text: str
    contribution: float | None = None


class Contribution(BaseModel):
    """A feature's signed SHAP contribution to the log-odds of default."""

    model_config = ConfigDict(extra="allow")

    feature: str
    contribution: float


class Prediction(BaseModel):
    """A champion's answer: probability of default, 0-100 score, decision at its threshold."""

    model_config = ConfigDict(extra="allow")

    probability: float = Field(ge=0, le=1)
    score: float = Field(ge=0, le=100)
    decision: Literal["granted", "refused"]
    model_version: str | None = None
    points: float | None = Field(None, description="scorecard points")
    grade: str | None = None
    reasons: list[Reason] | None = None


class Score(Prediction):
    """A live score from the model server, naming the registry version that gave it."""

    model: ModelName
    threshold: float
    registered_name: str | None = None
    run_id: str | None = None


class ClientScore(Score):
    """A stored client's live score, with the answer ``publish`` stored alongside."""

    client_id: int
    precomputed: Prediction


class ClientExplanation(ClientScore):
    """A live score with the signed contributions of the ``top`` features."""

    top: int
    base_value: float | None = None
    contributions: list[Contribution] = []


class ApplicantScores(BaseModel):
    """``POST /score``: the applicant as scored (dataset units), scores by model, warnings."""

    applicant: dict[str, Any]
    scores: dict[ModelName, Score]
    warnings: list[str]


class ClientRecord(BaseModel):
    """A stored client's fields and the champions' precomputed answers."""

    client_id: int
    split: str
    TARGET: int | None
    fields: dict[str, Any]
    age_years: float | None
    years_employed: float | None
    scores: dict[ModelName, Prediction]


class ModelRecord(BaseModel):
    """A champion as published: registry version, test AUC, threshold, training date."""

    registered_name: str
    version: str
    run_id: str
    test_auc: float | None
    threshold: float
    trained_at: str | None


class Models(RootModel[dict[ModelName, ModelRecord]]):
    """``/models``: one record per published champion."""


class Check(BaseModel):
    """One part of ``/health``."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    detail: str | None = None


class MonitoringSummary(BaseModel):
    """``/monitoring/summary``: counts per model and decision, refusal rate, latency, scores."""

    model_config = ConfigDict(extra="allow")


class Health(BaseModel):
    """``/health``: ``ok`` (200) or ``unavailable`` (503) with a check per part."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, Check]
    model_versions: dict[str, str]


class Position(BaseModel):
    """An income's percentile among all clients, and the repaid peers within ±5%."""

    income: float
    income_percentile: float | None
    peers: int
    peers_mean_credit: float | None
    peers_mean_annuity: float | None


class ClientPosition(Position):
    """The same for a stored client."""

    client_id: int


class Distribution(BaseModel):
    """A precomputed histogram: bin edges and counts, and the tails beyond the axis."""

    model_config = ConfigDict(extra="allow")

    feature: str
    population: str
    bins: int
    edges: list[float]
    counts: list[int]
    below: int | None = None
    above: int | None = None
    missing: int | None = None


class ComparedModel(Prediction):
    """One model's answer in a comparison; ``live`` false when it is the precomputed one."""

    model: ModelName
    live: bool


class ModelComparison(BaseModel):
    """``/compare/models``: full and light side by side."""

    client_id: int
    models: dict[ModelName, ComparedModel]
    score_difference: float
    warnings: list[str]


class LegacyNumber(RootModel[float | None]):
    """A bare number (null when there is nothing to compute it from)."""


class LegacyFlag(RootModel[bool]):
    """A bare boolean."""


class LegacyText(RootModel[str]):
    """A bare string."""


class LegacyColumn(RootModel[list[float]]):
    """A whole column of numbers."""
