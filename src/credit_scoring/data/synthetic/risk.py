"""The latent default-risk model: coefficients, and the probability it gives an applicant.

See the package docstring for the formula and the reasons behind each term.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from credit_scoring.data.synthetic.categories import APP, code


@dataclass(frozen=True)
class RiskModel:
    """Coefficients of the true default log-odds (``conf/data/synthetic.yaml: risk``).

    Signs are part of the contract: ``ext_source_*`` <= 0 and ``annuity_income``,
    ``credit_income`` >= 0 keep the risk non-increasing in the external scores and
    in the income, which the product's monotone models assume.
    """

    intercept: float = -3.55
    ext_source_1: float = -2.2
    ext_source_2: float = -2.6
    ext_source_3: float = -2.8
    age_per_decade: float = -0.2
    employment_per_decade: float = -0.35
    pensioner: float = -0.1
    male: float = 0.3
    higher_education: float = -0.3
    lower_secondary_education: float = 0.3
    region_rating: float = 0.2
    credit_income: float = 0.12
    annuity_income: float = 1.0
    credit_goods: float = 1.6
    payment_rate: float = 8.0
    no_car: float = 0.15
    no_realty: float = 0.05
    children: float = 0.06
    social_circle_defaults: float = 0.15
    history: float = 1.0

    def __post_init__(self) -> None:
        # ValueError: the config validation reports it under the key ``data.risk``.
        if max(self.ext_source_1, self.ext_source_2, self.ext_source_3) > 0:
            raise ValueError("risk.ext_source_* must be <= 0 (higher score, lower risk)")
        if min(self.annuity_income, self.credit_income) < 0:
            raise ValueError(
                "risk.annuity_income and risk.credit_income must be >= 0 "
                "(risk non-increasing in income)"
            )


def logistic(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), rounded to 12 decimals.

    numpy's ``exp`` may use CPU-specific SIMD code whose last bit differs between
    machines; rounding hides that so that files are byte-identical everywhere.
    """
    return np.round(1.0 / (1.0 + np.exp(-x)), 12)


def default_log_odds(
    model: RiskModel,
    columns: Mapping[str, np.ndarray],
    history_risk: np.ndarray,
) -> np.ndarray:
    """The true log-odds of default of each applicant, from its application row and history risk.

    A missing EXT_SOURCE_k or AMT_ANNUITY contributes as its population centre,
    so the risk is a function of what the file shows plus the latent history risk.
    """
    c = columns
    income = c["AMT_INCOME_TOTAL"]
    credit = c["AMT_CREDIT"]
    annuity = np.where(np.isnan(c["AMT_ANNUITY"]), 0.05 * credit, c["AMT_ANNUITY"])
    goods = np.where(np.isnan(c["AMT_GOODS_PRICE"]), credit, c["AMT_GOODS_PRICE"])
    age_decades = -c["DAYS_BIRTH"] / 3652.5
    pensioner = c["DAYS_EMPLOYED"] == 365243
    employed_decades = np.where(pensioner, 0.0, np.minimum(-c["DAYS_EMPLOYED"] / 3652.5, 2.0))

    def centred(name: str, centre: float) -> np.ndarray:
        return np.nan_to_num(c[name] - centre, nan=0.0)

    eta = (
        model.intercept
        + model.ext_source_1 * centred("EXT_SOURCE_1", 0.5)
        + model.ext_source_2 * centred("EXT_SOURCE_2", 0.5)
        + model.ext_source_3 * centred("EXT_SOURCE_3", 0.5)
        + model.age_per_decade * (age_decades - 4.3)
        + model.employment_per_decade * (employed_decades - 0.6)
        + model.pensioner * pensioner
        + model.male * (c["CODE_GENDER"] == code(APP, "CODE_GENDER", "M"))
        + model.higher_education
        * (c["NAME_EDUCATION_TYPE"] == code(APP, "NAME_EDUCATION_TYPE", "Higher education"))
        + model.lower_secondary_education
        * (c["NAME_EDUCATION_TYPE"] == code(APP, "NAME_EDUCATION_TYPE", "Lower secondary"))
        + model.region_rating * (c["REGION_RATING_CLIENT_W_CITY"] - 2)
        + model.credit_income * np.clip(credit / income - 3.5, -3.0, 10.0) / 3.0
        + model.annuity_income * (annuity / income - 0.18)
        + model.credit_goods * np.clip(credit / goods - 1.12, -0.2, 0.5)
        + model.payment_rate * (0.055 - annuity / credit)
        + model.no_car * (c["FLAG_OWN_CAR"] == code(APP, "FLAG_OWN_CAR", "N"))
        + model.no_realty * (c["FLAG_OWN_REALTY"] == code(APP, "FLAG_OWN_REALTY", "N"))
        + model.children * np.minimum(c["CNT_CHILDREN"], 5)
        + model.social_circle_defaults * np.nan_to_num(c["DEF_30_CNT_SOCIAL_CIRCLE"], nan=0.0)
        + model.history * history_risk
    )
    return eta
