"""Category codes and realistic frequencies, keyed by the schema's own vocabulary strings.

Frequencies are shares in the real Home Credit files (public EDA figures, rounded).
They are written against value names, never positions, and checked against the
schema when used, so a vocabulary change fails loudly instead of shifting shares.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from credit_scoring.data.schema import TABLES


def vocabulary(table: str, column: str) -> tuple[str, ...]:
    """The schema vocabulary of a categorical column."""
    vocab = TABLES[table].column(column).vocabulary
    if vocab is None:
        raise KeyError(f"{table}.{column} is not categorical")
    return vocab


def code(table: str, column: str, value: str) -> int:
    """The code (vocabulary position) of ``value``."""
    return vocabulary(table, column).index(value)


def weights(table: str, column: str, shares: Mapping[str, float]) -> np.ndarray:
    """Per-code weights for the vocabulary; values not named get weight 0."""
    vocab = vocabulary(table, column)
    unknown = set(shares) - set(vocab)
    if unknown:
        raise KeyError(f"{table}.{column}: {sorted(unknown)} not in the schema vocabulary")
    return np.array([shares.get(v, 0.0) for v in vocab])


APP = "application_train"
PREV = "previous_application"

GENDER = {"F": 0.658, "M": 0.342}
CONTRACT_TYPE = {"Cash loans": 0.905, "Revolving loans": 0.095}
WORKER_INCOME_TYPE = {
    "Working": 0.629,
    "Commercial associate": 0.284,
    "State servant": 0.0865,
    "Student": 0.0002,
    "Businessman": 0.0001,
    "Maternity leave": 0.0001,
}
EDUCATION = {
    "Secondary / secondary special": 0.710,
    "Higher education": 0.243,
    "Incomplete higher": 0.033,
    "Lower secondary": 0.0124,
    "Academic degree": 0.0005,
}
FAMILY = {
    "Married": 0.639,
    "Single / not married": 0.148,
    "Civil marriage": 0.097,
    "Separated": 0.064,
    "Widow": 0.052,
    "Unknown": 0.00002,
}
HOUSING = {
    "House / apartment": 0.887,
    "With parents": 0.048,
    "Municipal apartment": 0.036,
    "Rented apartment": 0.016,
    "Office apartment": 0.0085,
    "Co-op apartment": 0.0036,
}
SUITE_APPLICATION = {
    "Unaccompanied": 0.811,
    "Family": 0.131,
    "Spouse, partner": 0.037,
    "Children": 0.011,
    "Other_B": 0.0058,
    "Other_A": 0.0028,
    "Group of people": 0.0009,
}
OCCUPATION = {
    "Laborers": 0.261,
    "Sales staff": 0.152,
    "Core staff": 0.130,
    "Managers": 0.101,
    "Drivers": 0.088,
    "High skill tech staff": 0.054,
    "Accountants": 0.046,
    "Medicine staff": 0.040,
    "Security staff": 0.032,
    "Cooking staff": 0.028,
    "Cleaning staff": 0.022,
    "Private service staff": 0.012,
    "Low-skill Laborers": 0.010,
    "Waiters/barmen staff": 0.0064,
    "Secretaries": 0.0062,
    "Realty agents": 0.0035,
    "HR staff": 0.0027,
    "IT staff": 0.0025,
}
WEEKDAY = {
    "TUESDAY": 0.175,
    "WEDNESDAY": 0.169,
    "MONDAY": 0.165,
    "THURSDAY": 0.164,
    "FRIDAY": 0.164,
    "SATURDAY": 0.110,
    "SUNDAY": 0.053,
}
ORGANIZATION = {
    "Business Entity Type 3": 0.270,
    "Self-employed": 0.152,
    "Other": 0.066,
    "Medicine": 0.044,
    "Business Entity Type 2": 0.042,
    "Government": 0.041,
    "School": 0.036,
    "Trade: type 7": 0.031,
    "Kindergarten": 0.027,
    "Construction": 0.027,
    "Business Entity Type 1": 0.024,
    "Transport: type 4": 0.021,
    "Trade: type 3": 0.014,
    "Industry: type 9": 0.013,
    "Industry: type 3": 0.013,
    "Security": 0.013,
    "Housing": 0.012,
    "Industry: type 11": 0.011,
    "Military": 0.010,
    "Bank": 0.010,
    "Agriculture": 0.0097,
    "Police": 0.0093,
    "Transport: type 2": 0.0088,
    "Postal": 0.0086,
    "Security Ministries": 0.0078,
    "Trade: type 2": 0.0075,
    "Restaurant": 0.0072,
    "Services": 0.0063,
    "University": 0.0053,
    "Industry: type 7": 0.0052,
    "Transport: type 3": 0.0047,
    "Industry: type 1": 0.0041,
    "Hotel": 0.0038,
    "Electricity": 0.0038,
    "Industry: type 4": 0.0035,
    "Trade: type 6": 0.0025,
    "Industry: type 5": 0.0024,
    "Insurance": 0.0024,
    "Telecom": 0.0023,
    "Emergency": 0.0022,
    "Industry: type 2": 0.0018,
    "Advertising": 0.0017,
    "Realtor": 0.0016,
    "Culture": 0.0015,
    "Industry: type 12": 0.0015,
    "Trade: type 1": 0.0014,
    "Mobile": 0.0013,
    "Legal Services": 0.0012,
    "Cleaning": 0.0010,
    "Transport: type 1": 0.0008,
    "Industry: type 6": 0.0004,
    "Industry: type 10": 0.0004,
    "Religion": 0.0003,
    "Industry: type 13": 0.0002,
    "Trade: type 4": 0.0002,
    "Trade: type 5": 0.0002,
    "Industry: type 8": 0.0001,
}
FONDKAPREMONT = {
    "reg oper account": 0.76,
    "reg oper spec account": 0.12,
    "not specified": 0.06,
    "org spec account": 0.06,
}
HOUSETYPE = {"block of flats": 0.984, "specific housing": 0.010, "terraced house": 0.006}
WALLSMATERIAL = {
    "Panel": 0.436,
    "Stone, brick": 0.428,
    "Block": 0.061,
    "Wooden": 0.036,
    "Mixed": 0.015,
    "Monolithic": 0.011,
    "Others": 0.013,
}
EMERGENCYSTATE = {"No": 0.986, "Yes": 0.014}

#: Region population shares: the real data has ~80 distinct region values.
REGION_POPULATION = (
    0.00029, 0.001276, 0.002134, 0.002506, 0.003069, 0.003122, 0.003541, 0.003813,
    0.003818, 0.00496, 0.005313, 0.006207, 0.006233, 0.006296, 0.006629, 0.00702,
    0.007114, 0.00712, 0.007274, 0.007305, 0.00733, 0.008019, 0.008474, 0.008575,
    0.008866, 0.009175, 0.009334, 0.009549, 0.009657, 0.010006, 0.010032, 0.010147,
    0.010276, 0.0105, 0.010643, 0.010966, 0.01452, 0.015221, 0.016612, 0.018029,
    0.018209, 0.018634, 0.018801, 0.01885, 0.019101, 0.019689, 0.020246, 0.020713,
    0.022625, 0.0228, 0.02461, 0.025164, 0.026392, 0.028663, 0.030755, 0.031329,
    0.032561, 0.035792, 0.04622, 0.072508,
)  # fmt: skip

BUREAU_CREDIT_TYPE = {
    "Consumer credit": 0.729,
    "Credit card": 0.234,
    "Car loan": 0.016,
    "Mortgage": 0.0107,
    "Microloan": 0.0072,
    "Loan for business development": 0.00115,
    "Another type of loan": 0.0006,
    "Unknown type of loan": 0.0003,
    "Loan for working capital replenishment": 0.0002,
    "Cash loan (non-earmarked)": 0.00003,
    "Real estate loan": 0.00002,
    "Loan for the purchase of equipment": 0.00001,
    "Interbank credit": 0.000001,
    "Mobile operator loan": 0.000001,
    "Loan for purchase of shares (margin lending)": 0.000003,
}
BUREAU_CURRENCY = {
    "currency 1": 0.9992,
    "currency 2": 0.0007,
    "currency 3": 0.0001,
    "currency 4": 0.00001,
}
PREV_CONTRACT_TYPE = {
    "Cash loans": 0.448,
    "Consumer loans": 0.437,
    "Revolving loans": 0.116,
    "XNA": 0.0002,
}
CASH_LOAN_PURPOSE = {
    "XNA": 0.88,
    "Repairs": 0.032,
    "Other": 0.021,
    "Urgent needs": 0.011,
    "Buying a used car": 0.0039,
    "Building a house or an annex": 0.0036,
    "Everyday expenses": 0.0033,
    "Medicine": 0.0029,
    "Payments on other loans": 0.0027,
    "Education": 0.0022,
    "Journey": 0.0017,
    "Purchase of electronic equipment": 0.0014,
    "Buying a new car": 0.0014,
    "Wedding / gift / holiday": 0.0013,
    "Buying a home": 0.0012,
    "Car repairs": 0.0011,
    "Furniture": 0.0010,
    "Buying a holiday home / land": 0.0007,
    "Business development": 0.0006,
    "Gasification / water supply": 0.0004,
    "Buying a garage": 0.0002,
    "Hobby": 0.0001,
    "Money for a third person": 0.0000,
    "Refusal to name the goal": 0.0000,
}
REJECT_REASON = {
    "HC": 0.60,
    "LIMIT": 0.19,
    "SCO": 0.13,
    "SCOFR": 0.045,
    "XNA": 0.018,
    "VERIF": 0.012,
    "SYSTEM": 0.005,
}
SUITE_PREVIOUS = {
    "Unaccompanied": 0.59,
    "Family": 0.25,
    "Spouse, partner": 0.079,
    "Children": 0.037,
    "Other_B": 0.021,
    "Other_A": 0.011,
    "Group of people": 0.0028,
}
CLIENT_TYPE = {"Repeater": 0.737, "New": 0.180, "Refreshed": 0.081, "XNA": 0.001}
GOODS_CATEGORY = {
    "Mobile": 0.315,
    "Consumer Electronics": 0.170,
    "Computers": 0.148,
    "Audio/Video": 0.140,
    "Furniture": 0.075,
    "Photo / Cinema Equipment": 0.035,
    "Construction Materials": 0.035,
    "Clothing and Accessories": 0.033,
    "Auto Accessories": 0.010,
    "Jewelry": 0.010,
    "Homewares": 0.007,
    "Medical Supplies": 0.005,
    "Vehicles": 0.005,
    "Sport and Leisure": 0.0045,
    "Gardening": 0.0040,
    "Other": 0.0040,
    "Office Appliances": 0.0035,
    "Tourism": 0.0023,
    "Medicine": 0.0022,
    "Direct Sales": 0.0005,
    "Fitness": 0.0002,
    "Additional Service": 0.0001,
    "Education": 0.0001,
    "Weapon": 0.0001,
    "Insurance": 0.0001,
    "House Construction": 0.00001,
    "Animals": 0.00001,
}
CONSUMER_CHANNEL = {"Country-wide": 0.62, "Stone": 0.26, "Regional / Local": 0.12}
CASH_CHANNEL = {
    "Credit and cash offices": 0.80,
    "Contact center": 0.09,
    "AP+ (Cash loan)": 0.08,
    "Channel of corporate sales": 0.008,
    "Car dealer": 0.0007,
}
SELLER_INDUSTRY = {
    "Consumer electronics": 0.49,
    "Connectivity": 0.34,
    "Furniture": 0.072,
    "Construction": 0.036,
    "Clothing": 0.029,
    "Industry": 0.023,
    "Auto technology": 0.006,
    "Jewelry": 0.003,
    "MLM partners": 0.0014,
    "Tourism": 0.0006,
}
YIELD_GROUP = {"middle": 0.33, "high": 0.30, "low_normal": 0.28, "low_action": 0.08}
CONSUMER_COMBINATION = {
    "POS household with interest": 0.33,
    "POS mobile with interest": 0.27,
    "POS industry with interest": 0.12,
    "POS household without interest": 0.10,
    "POS industry without interest": 0.015,
    "POS mobile without interest": 0.03,
    "POS other with interest": 0.03,
    "POS others without interest": 0.003,
}
