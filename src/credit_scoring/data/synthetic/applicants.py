"""The application rows (train and test) and each applicant's latent history risk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from credit_scoring.data.schema import DAYS_SENTINEL
from credit_scoring.data.synthetic import categories as cat
from credit_scoring.data.synthetic.categories import APP, code, weights
from credit_scoring.data.synthetic.streams import BlockStreams, Level

#: CODE_GENDER is "XNA" on 4 of the 307,511 real train rows; one train applicant in
#: this many gets it, the first one early enough to exist in small data sets.
XNA_GENDER_EVERY = 76_877
XNA_GENDER_FIRST = 1_234

#: Building descriptors: (name, share missing in the real data, mean of the _AVG value).
#: _AVG, _MODE and _MEDI of a descriptor are present or missing together.
BUILDING = (
    ("APARTMENTS", 0.507, 0.117),
    ("BASEMENTAREA", 0.585, 0.088),
    ("YEARS_BEGINEXPLUATATION", 0.488, 0.977),
    ("YEARS_BUILD", 0.665, 0.752),
    ("COMMONAREA", 0.699, 0.045),
    ("ELEVATORS", 0.533, 0.079),
    ("ENTRANCES", 0.503, 0.150),
    ("FLOORSMAX", 0.498, 0.226),
    ("FLOORSMIN", 0.678, 0.232),
    ("LANDAREA", 0.594, 0.066),
    ("LIVINGAPARTMENTS", 0.684, 0.101),
    ("LIVINGAREA", 0.502, 0.107),
    ("NONLIVINGAPARTMENTS", 0.694, 0.0088),
    ("NONLIVINGAREA", 0.552, 0.028),
)
#: Share of applicants with any building information (EMERGENCYSTATE_MODE is the least missing).
BUILDING_SHARE = 0.526

#: Share of applicants holding each FLAG_DOCUMENT_k.
DOCUMENTS = {3: 0.71, 5: 0.015, 6: 0.088, 7: 0.0002, 8: 0.081, 9: 0.004, 11: 0.004, 13: 0.0035,
             14: 0.003, 15: 0.0012, 16: 0.01, 17: 0.0003, 18: 0.008, 19: 0.0006, 20: 0.0005,
             21: 0.0003, 4: 0.0001}  # fmt: skip


@dataclass
class Applicants:
    """One chunk of applicants: their file columns plus what the history generator needs."""

    columns: dict[str, np.ndarray]
    is_test: np.ndarray
    history_risk: np.ndarray


def _round_to(x: np.ndarray, step: float) -> np.ndarray:
    return np.round(x / step) * step


def _squash(x: np.ndarray) -> np.ndarray:
    """A smooth map of the real line onto (0, 1) with arithmetic only (no exp: exact everywhere)."""
    return 0.5 + x / (2.0 * (1.0 + np.abs(x)))


def make_applicants(
    rs: BlockStreams, level: Level, index: np.ndarray, n_train: int, n_total: int
) -> Applicants:
    """Generate the application columns for applicants ``index`` (0-based, global).

    Test applicants are spread evenly among train ones (exactly ``n_total - n_train``
    of them) so ids interleave as in the real files.
    """
    n = level.size
    n_test = n_total - n_train
    is_test = (index + 1) * n_test // n_total > index * n_test // n_total
    train_rank = index - (index * n_test + n_test - 1) // n_total  # train rows before this one
    c: dict[str, np.ndarray] = {"SK_ID_CURR": 100_002 + index, "TARGET": np.zeros(n, np.int64)}

    c["NAME_CONTRACT_TYPE"] = rs.choice(
        level, weights(APP, "NAME_CONTRACT_TYPE", cat.CONTRACT_TYPE)
    )
    revolving = c["NAME_CONTRACT_TYPE"] == code(APP, "NAME_CONTRACT_TYPE", "Revolving loans")
    gender = rs.choice(level, weights(APP, "CODE_GENDER", cat.GENDER))
    xna = ~is_test & (train_rank % XNA_GENDER_EVERY == XNA_GENDER_FIRST)
    c["CODE_GENDER"] = np.where(xna, code(APP, "CODE_GENDER", "XNA"), gender)
    male = c["CODE_GENDER"] == code(APP, "CODE_GENDER", "M")

    # Age: 20.5 to 69 years, mean about 44 as in the real data.
    age_years = 20.5 + 48.5 * rs.beta(level, 1.6, 1.9)
    c["DAYS_BIRTH"] = -np.clip(np.round(age_years * 365.25), 7489, 25229).astype(np.int64)
    age_days = -c["DAYS_BIRTH"]
    # Pensioners (and a few unemployed) carry the 365243 "not applicable" employment.
    p_pension = 0.01 + 0.93 / (1.0 + np.exp(-np.round((age_years - 54.6) / 1.7, 6)))
    retired = rs.uniform(level) < np.round(p_pension, 9)
    unemployed = ~retired & (rs.uniform(level) < 0.0002)
    no_job = retired | unemployed
    worker_type = rs.choice(level, weights(APP, "NAME_INCOME_TYPE", cat.WORKER_INCOME_TYPE))
    c["NAME_INCOME_TYPE"] = np.select(
        [retired, unemployed],
        [code(APP, "NAME_INCOME_TYPE", "Pensioner"), code(APP, "NAME_INCOME_TYPE", "Unemployed")],
        worker_type,
    )
    c["NAME_EDUCATION_TYPE"] = rs.choice(level, weights(APP, "NAME_EDUCATION_TYPE", cat.EDUCATION))
    higher = c["NAME_EDUCATION_TYPE"] == code(APP, "NAME_EDUCATION_TYPE", "Higher education")
    c["NAME_FAMILY_STATUS"] = rs.choice(level, weights(APP, "NAME_FAMILY_STATUS", cat.FAMILY))
    couple = np.isin(
        c["NAME_FAMILY_STATUS"],
        [
            code(APP, "NAME_FAMILY_STATUS", "Married"),
            code(APP, "NAME_FAMILY_STATUS", "Civil marriage"),
        ],
    )
    children = rs.choice(level, [0.700, 0.199, 0.087, 0.0121, 0.0014, 0.0003, 0.0001, 0.00003])
    c["CNT_CHILDREN"] = np.where(
        age_years > 55, np.minimum(children, 1) * (age_years < 60), children
    )
    c["CNT_FAM_MEMBERS"] = (c["CNT_CHILDREN"] + 1 + couple).astype(np.float64)

    # Employment length: at most since the 18th birthday, never over 48 years.
    employed = rs.gamma(level, 1.2, 1900.0)
    employed = np.minimum(np.minimum(employed, age_days - 18 * 366 - 30), 17546)
    c["DAYS_EMPLOYED"] = np.where(no_job, DAYS_SENTINEL, -np.maximum(np.round(employed), 0)).astype(
        np.int64
    )

    # Income: log-normal around 135k, rounded to 2,250 as the real incomes are.
    log_income = (
        np.log(135_000.0) + 0.17 * male + 0.25 * higher - 0.3 * no_job
        + 0.08 * (worker_type == code(APP, "NAME_INCOME_TYPE", "Commercial associate"))
    )  # fmt: skip
    income = rs.lognormal(level, log_income, 0.48)
    c["AMT_INCOME_TOTAL"] = np.clip(_round_to(income, 2250.0), 27_000.0, 13_500_000.0)

    # Loan: goods price in multiples of 4,500 (cash) or a card limit in 22,500 (revolving).
    ratio = rs.lognormal(level, np.log(2.6), 0.6)
    goods = np.clip(_round_to(c["AMT_INCOME_TOTAL"] * ratio, 4500.0), 45_000.0, 3_600_000.0)
    limit = np.clip(_round_to(c["AMT_INCOME_TOTAL"] * ratio / 3.0, 22_500.0), 45_000.0, 1_350_000.0)
    insured = rs.uniform(level) < 0.62
    loading = np.where(insured, 1.0 + 0.3 * rs.beta(level, 1.6, 3.0), 1.0)
    cash_credit = np.minimum(_round_to(goods * loading, 0.5), 4_050_000.0)
    c["AMT_CREDIT"] = np.where(revolving, limit, cash_credit)
    goods_missing = revolving & (rs.uniform(level) < 0.01)
    c["AMT_GOODS_PRICE"] = np.where(goods_missing, np.nan, np.where(revolving, limit, goods))
    months = np.array([12, 18, 24, 30, 36, 48, 60])[
        rs.choice(level, [0.16, 0.08, 0.20, 0.05, 0.20, 0.13, 0.18])
    ]
    rate = 0.011 + 0.012 * rs.uniform(level)
    factor = rate / (1.0 - (1.0 + rate) ** -months)
    cash_annuity = _round_to(cash_credit * np.clip(factor, 0.0222, 0.124), 0.5)
    annuity = np.where(revolving, _round_to(limit * 0.05, 0.5), cash_annuity)
    c["AMT_ANNUITY"] = np.where(rs.uniform(level) < 0.00004, np.nan, annuity)

    c["NAME_TYPE_SUITE"] = np.where(
        rs.uniform(level) < 0.0042,
        -1,
        rs.choice(level, weights(APP, "NAME_TYPE_SUITE", cat.SUITE_APPLICATION)),
    )
    c["NAME_HOUSING_TYPE"] = rs.choice(level, weights(APP, "NAME_HOUSING_TYPE", cat.HOUSING))
    region = np.array(cat.REGION_POPULATION)[rs.integers(level, 0, len(cat.REGION_POPULATION))]
    c["REGION_POPULATION_RELATIVE"] = region
    # Denser regions are rated better (1); sparse ones worse (3).
    rating_noise = rs.uniform(level)
    rating = np.where(
        region > 0.03, np.where(rating_noise < 0.7, 1, 2), np.where(rating_noise < 0.18, 3, 2)
    )
    c["REGION_RATING_CLIENT"] = rating
    shift = rs.uniform(level)
    c["REGION_RATING_CLIENT_W_CITY"] = np.clip(
        rating + np.where(shift < 0.02, -1, 0) + np.where(shift > 0.97, 1, 0), 1, 3
    )
    c["DAYS_REGISTRATION"] = -np.round(
        rs.uniform(level) ** 0.8 * np.minimum(age_days - 14 * 365, 24672)
    )
    c["DAYS_ID_PUBLISH"] = -np.round(
        rs.uniform(level) * np.minimum(age_days - 14 * 365, 6551)
    ).astype(np.int64)
    own_car = rs.uniform(level) < 0.30 + 0.12 * male
    c["FLAG_OWN_CAR"] = np.where(
        own_car, code(APP, "FLAG_OWN_CAR", "Y"), code(APP, "FLAG_OWN_CAR", "N")
    )
    c["OWN_CAR_AGE"] = np.where(
        own_car, np.minimum(np.round(rs.gamma(level, 1.8, 6.7)), 91.0), np.nan
    )
    c["FLAG_OWN_REALTY"] = np.where(
        rs.uniform(level) < 0.69,
        code(APP, "FLAG_OWN_REALTY", "Y"),
        code(APP, "FLAG_OWN_REALTY", "N"),
    )
    c["FLAG_MOBIL"] = np.ones(n, np.int64)
    c["FLAG_EMP_PHONE"] = (~no_job).astype(np.int64)
    c["FLAG_WORK_PHONE"] = (rs.uniform(level) < np.where(no_job, 0.02, 0.24)).astype(np.int64)
    c["FLAG_CONT_MOBILE"] = (rs.uniform(level) < 0.998).astype(np.int64)
    c["FLAG_PHONE"] = (rs.uniform(level) < 0.28).astype(np.int64)
    c["FLAG_EMAIL"] = (rs.uniform(level) < 0.057).astype(np.int64)
    occupation = rs.choice(level, weights(APP, "OCCUPATION_TYPE", cat.OCCUPATION))
    c["OCCUPATION_TYPE"] = np.where(no_job | (rs.uniform(level) < 0.155), -1, occupation)
    c["WEEKDAY_APPR_PROCESS_START"] = rs.choice(
        level, weights(APP, "WEEKDAY_APPR_PROCESS_START", cat.WEEKDAY)
    )
    c["HOUR_APPR_PROCESS_START"] = np.clip(np.round(rs.normal(level, 12.1, 3.3)), 0, 23).astype(
        np.int64
    )
    for name, share in (
        ("REG_REGION_NOT_LIVE_REGION", 0.015),
        ("REG_REGION_NOT_WORK_REGION", 0.051),
        ("LIVE_REGION_NOT_WORK_REGION", 0.041),
        ("REG_CITY_NOT_LIVE_CITY", 0.078),
        ("REG_CITY_NOT_WORK_CITY", 0.23),
        ("LIVE_CITY_NOT_WORK_CITY", 0.18),
    ):
        works_elsewhere = "WORK" in name
        flag = rs.uniform(level) < share
        c[name] = (flag & ~(no_job & works_elsewhere)).astype(np.int64)
    organization = rs.choice(level, weights(APP, "ORGANIZATION_TYPE", cat.ORGANIZATION))
    c["ORGANIZATION_TYPE"] = np.where(no_job, code(APP, "ORGANIZATION_TYPE", "XNA"), organization)

    # External scores: correlated with each other and with age, in (0, 1).
    common = rs.normal(level)
    age_z = (age_years - 44.0) / 12.0
    for k, (bias, spread, lo, hi, missing) in {
        1: (0.0, 1.05, 0.0151, 0.9626, 0.56),
        2: (0.35, 1.0, 0.0001, 0.8549, 0.0021),
        3: (0.1, 1.1, 0.0006, 0.8960, 0.198),
    }.items():
        z = 0.55 * common + 0.77 * rs.normal(level) + 0.3 * age_z
        value = lo + (hi - lo) * _squash(bias + spread * z)
        c[f"EXT_SOURCE_{k}"] = np.where(rs.uniform(level) < missing, np.nan, value)

    _add_building(rs, level, c)

    observed = np.minimum(rs.poisson(level, 1.45), 28).astype(np.float64)
    social_missing = rs.uniform(level) < 0.0033
    defaults = rs.poisson(level, 0.08 * observed + 0.02)
    defaults = np.minimum(defaults, np.minimum(observed, 8))
    c["OBS_30_CNT_SOCIAL_CIRCLE"] = np.where(social_missing, np.nan, observed)
    c["DEF_30_CNT_SOCIAL_CIRCLE"] = np.where(social_missing, np.nan, defaults)
    c["OBS_60_CNT_SOCIAL_CIRCLE"] = c["OBS_30_CNT_SOCIAL_CIRCLE"]
    c["DEF_60_CNT_SOCIAL_CIRCLE"] = np.where(
        social_missing, np.nan, np.minimum(defaults, rs.poisson(level, 0.08 * observed + 0.2))
    )
    c["DAYS_LAST_PHONE_CHANGE"] = -np.minimum(np.round(rs.gamma(level, 1.1, 880.0)), 4185.0)
    for k in range(2, 22):
        c[f"FLAG_DOCUMENT_{k}"] = (rs.uniform(level) < DOCUMENTS.get(k, 0.0)).astype(np.int64)

    bureau_missing = rs.uniform(level) < 0.135
    for name, lam, cap in (
        ("HOUR", 0.006, 3),
        ("DAY", 0.007, 8),
        ("WEEK", 0.034, 7),
        ("MON", 0.27, 24),
        ("QRT", 0.27, 8),
        ("YEAR", 1.9, 22),
    ):
        requests = np.minimum(rs.poisson(level, lam), cap).astype(np.float64)
        c[f"AMT_REQ_CREDIT_BUREAU_{name}"] = np.where(bureau_missing, np.nan, requests)

    history_risk = rs.normal(level)
    return Applicants(columns=c, is_test=is_test, history_risk=history_risk)


def _add_building(rs: BlockStreams, level: Level, c: dict[str, np.ndarray]) -> None:
    """Building descriptors of the applicant's home: present for flats, missing together."""
    has = rs.uniform(level) < BUILDING_SHARE
    size = rs.normal(level)  # bigger buildings: more apartments, area, elevators ...
    for name, missing, mean in BUILDING:
        keep = has & (rs.uniform(level) < (1.0 - missing) / BUILDING_SHARE)
        if name.startswith("YEARS"):
            avg = np.clip(mean + (1 - mean) * 0.6 * rs.normal(level), 0.0, 1.0)
        else:
            avg = np.clip(mean * (1.0 + 0.5 * size) * rs.gamma(level, 4.0, 0.25), 0.0, 1.0)
        avg = np.round(avg, 4)
        mode = np.clip(np.round(avg * (1.0 + 0.03 * rs.normal(level)), 4), 0.0, 1.0)
        medi = np.clip(np.round(avg * (1.0 + 0.01 * rs.normal(level)), 4), 0.0, 1.0)
        for suffix, value in (("AVG", avg), ("MODE", mode), ("MEDI", medi)):
            c[f"{name}_{suffix}"] = np.where(keep, value, np.nan)
    total = np.clip(np.round(c["LIVINGAREA_AVG"] * 1.05 + 0.002, 4), 0.0, 1.0)
    c["TOTALAREA_MODE"] = np.where(has & (rs.uniform(level) < 0.98), total, np.nan)
    c["TOTALAREA_MODE"] = np.where(np.isnan(c["LIVINGAREA_AVG"]), np.nan, c["TOTALAREA_MODE"])
    for column, shares, present in (
        ("FONDKAPREMONT_MODE", cat.FONDKAPREMONT, 0.316),
        ("HOUSETYPE_MODE", cat.HOUSETYPE, 0.498),
        ("WALLSMATERIAL_MODE", cat.WALLSMATERIAL, 0.492),
        ("EMERGENCYSTATE_MODE", cat.EMERGENCYSTATE, BUILDING_SHARE),
    ):
        value = rs.choice(level, weights(APP, column, shares))
        keep = has & (rs.uniform(level) < present / BUILDING_SHARE)
        c[column] = np.where(keep, value, -1)
