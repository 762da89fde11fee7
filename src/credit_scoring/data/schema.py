"""The Home Credit tables, declared once: files, columns, types, keys and vocabularies.

Every other part of the product (generator, loader, features, model, API) imports
its column lists and category vocabularies from here and never derives them from
the data at hand, so that a model's input schema cannot depend on which
categories a file happens to contain.

Types are the real files' own: ``int`` columns are never missing in the real
data, ``float`` columns may be, ``str`` columns hold raw category strings such as
``"Spouse, partner"``, ``"XNA"`` (not available) or ``"XAP"`` (not applicable),
which are values, not missing markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

Kind = Literal["int", "float", "str"]

#: "Not applicable" marker of the DAYS columns (pensioners' DAYS_EMPLOYED, previous
#: applications' DAYS_FIRST_DRAWING ...). It is a code, not a duration: features
#: turn it into a missing value.
DAYS_SENTINEL = 365243

#: The ten fields a loan officer can type in at the counter: the seed's light model.
LIGHT_FIELDS: tuple[str, ...] = (
    "AMT_INCOME_TOTAL",
    "AMT_GOODS_PRICE",
    "AMT_CREDIT",
    "AMT_ANNUITY",
    "CODE_GENDER",
    "DAYS_BIRTH",
    "CNT_CHILDREN",
    "DAYS_EMPLOYED",
    "FLAG_OWN_CAR",
    "FLAG_OWN_REALTY",
)

#: Of the light fields, those the API cannot score without.
MANDATORY_FIELDS: tuple[str, ...] = LIGHT_FIELDS[:4]

_COLUMNS: dict[str, str] = {
    "application_train": """
        SK_ID_CURR:int TARGET:int NAME_CONTRACT_TYPE:str CODE_GENDER:str FLAG_OWN_CAR:str
        FLAG_OWN_REALTY:str CNT_CHILDREN:int AMT_INCOME_TOTAL:float AMT_CREDIT:float
        AMT_ANNUITY:float AMT_GOODS_PRICE:float NAME_TYPE_SUITE:str NAME_INCOME_TYPE:str
        NAME_EDUCATION_TYPE:str NAME_FAMILY_STATUS:str NAME_HOUSING_TYPE:str
        REGION_POPULATION_RELATIVE:float DAYS_BIRTH:int DAYS_EMPLOYED:int
        DAYS_REGISTRATION:float DAYS_ID_PUBLISH:int OWN_CAR_AGE:float FLAG_MOBIL:int
        FLAG_EMP_PHONE:int FLAG_WORK_PHONE:int FLAG_CONT_MOBILE:int FLAG_PHONE:int
        FLAG_EMAIL:int OCCUPATION_TYPE:str CNT_FAM_MEMBERS:float REGION_RATING_CLIENT:int
        REGION_RATING_CLIENT_W_CITY:int WEEKDAY_APPR_PROCESS_START:str
        HOUR_APPR_PROCESS_START:int REG_REGION_NOT_LIVE_REGION:int
        REG_REGION_NOT_WORK_REGION:int LIVE_REGION_NOT_WORK_REGION:int
        REG_CITY_NOT_LIVE_CITY:int REG_CITY_NOT_WORK_CITY:int LIVE_CITY_NOT_WORK_CITY:int
        ORGANIZATION_TYPE:str EXT_SOURCE_1:float EXT_SOURCE_2:float EXT_SOURCE_3:float
        APARTMENTS_AVG:float BASEMENTAREA_AVG:float YEARS_BEGINEXPLUATATION_AVG:float
        YEARS_BUILD_AVG:float COMMONAREA_AVG:float ELEVATORS_AVG:float ENTRANCES_AVG:float
        FLOORSMAX_AVG:float FLOORSMIN_AVG:float LANDAREA_AVG:float LIVINGAPARTMENTS_AVG:float
        LIVINGAREA_AVG:float NONLIVINGAPARTMENTS_AVG:float NONLIVINGAREA_AVG:float
        APARTMENTS_MODE:float BASEMENTAREA_MODE:float YEARS_BEGINEXPLUATATION_MODE:float
        YEARS_BUILD_MODE:float COMMONAREA_MODE:float ELEVATORS_MODE:float ENTRANCES_MODE:float
        FLOORSMAX_MODE:float FLOORSMIN_MODE:float LANDAREA_MODE:float
        LIVINGAPARTMENTS_MODE:float LIVINGAREA_MODE:float NONLIVINGAPARTMENTS_MODE:float
        NONLIVINGAREA_MODE:float APARTMENTS_MEDI:float BASEMENTAREA_MEDI:float
        YEARS_BEGINEXPLUATATION_MEDI:float YEARS_BUILD_MEDI:float COMMONAREA_MEDI:float
        ELEVATORS_MEDI:float ENTRANCES_MEDI:float FLOORSMAX_MEDI:float FLOORSMIN_MEDI:float
        LANDAREA_MEDI:float LIVINGAPARTMENTS_MEDI:float LIVINGAREA_MEDI:float
        NONLIVINGAPARTMENTS_MEDI:float NONLIVINGAREA_MEDI:float FONDKAPREMONT_MODE:str
        HOUSETYPE_MODE:str TOTALAREA_MODE:float WALLSMATERIAL_MODE:str EMERGENCYSTATE_MODE:str
        OBS_30_CNT_SOCIAL_CIRCLE:float DEF_30_CNT_SOCIAL_CIRCLE:float
        OBS_60_CNT_SOCIAL_CIRCLE:float DEF_60_CNT_SOCIAL_CIRCLE:float
        DAYS_LAST_PHONE_CHANGE:float FLAG_DOCUMENT_2:int FLAG_DOCUMENT_3:int FLAG_DOCUMENT_4:int
        FLAG_DOCUMENT_5:int FLAG_DOCUMENT_6:int FLAG_DOCUMENT_7:int FLAG_DOCUMENT_8:int
        FLAG_DOCUMENT_9:int FLAG_DOCUMENT_10:int FLAG_DOCUMENT_11:int FLAG_DOCUMENT_12:int
        FLAG_DOCUMENT_13:int FLAG_DOCUMENT_14:int FLAG_DOCUMENT_15:int FLAG_DOCUMENT_16:int
        FLAG_DOCUMENT_17:int FLAG_DOCUMENT_18:int FLAG_DOCUMENT_19:int FLAG_DOCUMENT_20:int
        FLAG_DOCUMENT_21:int AMT_REQ_CREDIT_BUREAU_HOUR:float AMT_REQ_CREDIT_BUREAU_DAY:float
        AMT_REQ_CREDIT_BUREAU_WEEK:float AMT_REQ_CREDIT_BUREAU_MON:float
        AMT_REQ_CREDIT_BUREAU_QRT:float AMT_REQ_CREDIT_BUREAU_YEAR:float
    """,
    "bureau": """
        SK_ID_CURR:int SK_ID_BUREAU:int CREDIT_ACTIVE:str CREDIT_CURRENCY:str DAYS_CREDIT:int
        CREDIT_DAY_OVERDUE:int DAYS_CREDIT_ENDDATE:float DAYS_ENDDATE_FACT:float
        AMT_CREDIT_MAX_OVERDUE:float CNT_CREDIT_PROLONG:int AMT_CREDIT_SUM:float
        AMT_CREDIT_SUM_DEBT:float AMT_CREDIT_SUM_LIMIT:float AMT_CREDIT_SUM_OVERDUE:float
        CREDIT_TYPE:str DAYS_CREDIT_UPDATE:int AMT_ANNUITY:float
    """,
    "bureau_balance": """
        SK_ID_BUREAU:int MONTHS_BALANCE:int STATUS:str
    """,
    "previous_application": """
        SK_ID_PREV:int SK_ID_CURR:int NAME_CONTRACT_TYPE:str AMT_ANNUITY:float
        AMT_APPLICATION:float AMT_CREDIT:float AMT_DOWN_PAYMENT:float AMT_GOODS_PRICE:float
        WEEKDAY_APPR_PROCESS_START:str HOUR_APPR_PROCESS_START:int
        FLAG_LAST_APPL_PER_CONTRACT:str NFLAG_LAST_APPL_IN_DAY:int RATE_DOWN_PAYMENT:float
        RATE_INTEREST_PRIMARY:float RATE_INTEREST_PRIVILEGED:float NAME_CASH_LOAN_PURPOSE:str
        NAME_CONTRACT_STATUS:str DAYS_DECISION:int NAME_PAYMENT_TYPE:str CODE_REJECT_REASON:str
        NAME_TYPE_SUITE:str NAME_CLIENT_TYPE:str NAME_GOODS_CATEGORY:str NAME_PORTFOLIO:str
        NAME_PRODUCT_TYPE:str CHANNEL_TYPE:str SELLERPLACE_AREA:int NAME_SELLER_INDUSTRY:str
        CNT_PAYMENT:float NAME_YIELD_GROUP:str PRODUCT_COMBINATION:str DAYS_FIRST_DRAWING:float
        DAYS_FIRST_DUE:float DAYS_LAST_DUE_1ST_VERSION:float DAYS_LAST_DUE:float
        DAYS_TERMINATION:float NFLAG_INSURED_ON_APPROVAL:float
    """,
    "POS_CASH_balance": """
        SK_ID_PREV:int SK_ID_CURR:int MONTHS_BALANCE:int CNT_INSTALMENT:float
        CNT_INSTALMENT_FUTURE:float NAME_CONTRACT_STATUS:str SK_DPD:int SK_DPD_DEF:int
    """,
    "installments_payments": """
        SK_ID_PREV:int SK_ID_CURR:int NUM_INSTALMENT_VERSION:float NUM_INSTALMENT_NUMBER:int
        DAYS_INSTALMENT:float DAYS_ENTRY_PAYMENT:float AMT_INSTALMENT:float AMT_PAYMENT:float
    """,
    "credit_card_balance": """
        SK_ID_PREV:int SK_ID_CURR:int MONTHS_BALANCE:int AMT_BALANCE:float
        AMT_CREDIT_LIMIT_ACTUAL:int AMT_DRAWINGS_ATM_CURRENT:float AMT_DRAWINGS_CURRENT:float
        AMT_DRAWINGS_OTHER_CURRENT:float AMT_DRAWINGS_POS_CURRENT:float
        AMT_INST_MIN_REGULARITY:float AMT_PAYMENT_CURRENT:float AMT_PAYMENT_TOTAL_CURRENT:float
        AMT_RECEIVABLE_PRINCIPAL:float AMT_RECIVABLE:float AMT_TOTAL_RECEIVABLE:float
        CNT_DRAWINGS_ATM_CURRENT:float CNT_DRAWINGS_CURRENT:int CNT_DRAWINGS_OTHER_CURRENT:float
        CNT_DRAWINGS_POS_CURRENT:float CNT_INSTALMENT_MATURE_CUM:float NAME_CONTRACT_STATUS:str
        SK_DPD:int SK_DPD_DEF:int
    """,
}

_WEEKDAYS = ("FRIDAY", "MONDAY", "SATURDAY", "SUNDAY", "THURSDAY", "TUESDAY", "WEDNESDAY")
_SUITES = (
    "Children",
    "Family",
    "Group of people",
    "Other_A",
    "Other_B",
    "Spouse, partner",
    "Unaccompanied",
)

#: Exact raw category strings per (table, column), as they occur in the real data.
VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("application", "CODE_GENDER"): ("M", "F", "XNA"),
    ("application", "FLAG_OWN_CAR"): ("N", "Y"),
    ("application", "FLAG_OWN_REALTY"): ("N", "Y"),
    ("application", "NAME_CONTRACT_TYPE"): ("Cash loans", "Revolving loans"),
    ("application", "NAME_TYPE_SUITE"): _SUITES,
    ("application", "NAME_INCOME_TYPE"): (
        "Businessman",
        "Commercial associate",
        "Maternity leave",
        "Pensioner",
        "State servant",
        "Student",
        "Unemployed",
        "Working",
    ),
    ("application", "NAME_EDUCATION_TYPE"): (
        "Academic degree",
        "Higher education",
        "Incomplete higher",
        "Lower secondary",
        "Secondary / secondary special",
    ),
    ("application", "NAME_FAMILY_STATUS"): (
        "Civil marriage",
        "Married",
        "Separated",
        "Single / not married",
        "Unknown",
        "Widow",
    ),
    ("application", "NAME_HOUSING_TYPE"): (
        "Co-op apartment",
        "House / apartment",
        "Municipal apartment",
        "Office apartment",
        "Rented apartment",
        "With parents",
    ),
    ("application", "OCCUPATION_TYPE"): (
        "Accountants",
        "Cleaning staff",
        "Cooking staff",
        "Core staff",
        "Drivers",
        "HR staff",
        "High skill tech staff",
        "IT staff",
        "Laborers",
        "Low-skill Laborers",
        "Managers",
        "Medicine staff",
        "Private service staff",
        "Realty agents",
        "Sales staff",
        "Secretaries",
        "Security staff",
        "Waiters/barmen staff",
    ),
    ("application", "WEEKDAY_APPR_PROCESS_START"): _WEEKDAYS,
    ("application", "ORGANIZATION_TYPE"): (
        "Advertising",
        "Agriculture",
        "Bank",
        "Business Entity Type 1",
        "Business Entity Type 2",
        "Business Entity Type 3",
        "Cleaning",
        "Construction",
        "Culture",
        "Electricity",
        "Emergency",
        "Government",
        "Hotel",
        "Housing",
        "Industry: type 1",
        "Industry: type 10",
        "Industry: type 11",
        "Industry: type 12",
        "Industry: type 13",
        "Industry: type 2",
        "Industry: type 3",
        "Industry: type 4",
        "Industry: type 5",
        "Industry: type 6",
        "Industry: type 7",
        "Industry: type 8",
        "Industry: type 9",
        "Insurance",
        "Kindergarten",
        "Legal Services",
        "Medicine",
        "Military",
        "Mobile",
        "Other",
        "Police",
        "Postal",
        "Realtor",
        "Religion",
        "Restaurant",
        "School",
        "Security",
        "Security Ministries",
        "Self-employed",
        "Services",
        "Telecom",
        "Trade: type 1",
        "Trade: type 2",
        "Trade: type 3",
        "Trade: type 4",
        "Trade: type 5",
        "Trade: type 6",
        "Trade: type 7",
        "Transport: type 1",
        "Transport: type 2",
        "Transport: type 3",
        "Transport: type 4",
        "University",
        "XNA",
    ),
    ("application", "FONDKAPREMONT_MODE"): (
        "not specified",
        "org spec account",
        "reg oper account",
        "reg oper spec account",
    ),
    ("application", "HOUSETYPE_MODE"): ("block of flats", "specific housing", "terraced house"),
    ("application", "WALLSMATERIAL_MODE"): (
        "Block",
        "Mixed",
        "Monolithic",
        "Others",
        "Panel",
        "Stone, brick",
        "Wooden",
    ),
    ("application", "EMERGENCYSTATE_MODE"): ("No", "Yes"),
    ("bureau", "CREDIT_ACTIVE"): ("Active", "Bad debt", "Closed", "Sold"),
    ("bureau", "CREDIT_CURRENCY"): ("currency 1", "currency 2", "currency 3", "currency 4"),
    ("bureau", "CREDIT_TYPE"): (
        "Another type of loan",
        "Car loan",
        "Cash loan (non-earmarked)",
        "Consumer credit",
        "Credit card",
        "Interbank credit",
        "Loan for business development",
        "Loan for purchase of shares (margin lending)",
        "Loan for the purchase of equipment",
        "Loan for working capital replenishment",
        "Microloan",
        "Mobile operator loan",
        "Mortgage",
        "Real estate loan",
        "Unknown type of loan",
    ),
    ("bureau_balance", "STATUS"): ("0", "1", "2", "3", "4", "5", "C", "X"),
    ("previous_application", "NAME_CONTRACT_TYPE"): (
        "Cash loans",
        "Consumer loans",
        "Revolving loans",
        "XNA",
    ),
    ("previous_application", "WEEKDAY_APPR_PROCESS_START"): _WEEKDAYS,
    ("previous_application", "FLAG_LAST_APPL_PER_CONTRACT"): ("N", "Y"),
    ("previous_application", "NAME_CASH_LOAN_PURPOSE"): (
        "Building a house or an annex",
        "Business development",
        "Buying a garage",
        "Buying a holiday home / land",
        "Buying a home",
        "Buying a new car",
        "Buying a used car",
        "Car repairs",
        "Education",
        "Everyday expenses",
        "Furniture",
        "Gasification / water supply",
        "Hobby",
        "Journey",
        "Medicine",
        "Money for a third person",
        "Other",
        "Payments on other loans",
        "Purchase of electronic equipment",
        "Refusal to name the goal",
        "Repairs",
        "Urgent needs",
        "Wedding / gift / holiday",
        "XAP",
        "XNA",
    ),
    ("previous_application", "NAME_CONTRACT_STATUS"): (
        "Approved",
        "Canceled",
        "Refused",
        "Unused offer",
    ),
    ("previous_application", "NAME_PAYMENT_TYPE"): (
        "Cash through the bank",
        "Cashless from the account of the employer",
        "Non-cash from your account",
        "XNA",
    ),
    ("previous_application", "CODE_REJECT_REASON"): (
        "CLIENT",
        "HC",
        "LIMIT",
        "SCO",
        "SCOFR",
        "SYSTEM",
        "VERIF",
        "XAP",
        "XNA",
    ),
    ("previous_application", "NAME_TYPE_SUITE"): _SUITES,
    ("previous_application", "NAME_CLIENT_TYPE"): ("New", "Refreshed", "Repeater", "XNA"),
    ("previous_application", "NAME_GOODS_CATEGORY"): (
        "Additional Service",
        "Animals",
        "Audio/Video",
        "Auto Accessories",
        "Clothing and Accessories",
        "Computers",
        "Construction Materials",
        "Consumer Electronics",
        "Direct Sales",
        "Education",
        "Fitness",
        "Furniture",
        "Gardening",
        "Homewares",
        "House Construction",
        "Insurance",
        "Jewelry",
        "Medical Supplies",
        "Medicine",
        "Mobile",
        "Office Appliances",
        "Other",
        "Photo / Cinema Equipment",
        "Sport and Leisure",
        "Tourism",
        "Vehicles",
        "Weapon",
        "XNA",
    ),
    ("previous_application", "NAME_PORTFOLIO"): ("Cards", "Cars", "Cash", "POS", "XNA"),
    ("previous_application", "NAME_PRODUCT_TYPE"): ("XNA", "walk-in", "x-sell"),
    ("previous_application", "CHANNEL_TYPE"): (
        "AP+ (Cash loan)",
        "Car dealer",
        "Channel of corporate sales",
        "Contact center",
        "Country-wide",
        "Credit and cash offices",
        "Regional / Local",
        "Stone",
    ),
    ("previous_application", "NAME_SELLER_INDUSTRY"): (
        "Auto technology",
        "Clothing",
        "Connectivity",
        "Construction",
        "Consumer electronics",
        "Furniture",
        "Industry",
        "Jewelry",
        "MLM partners",
        "Tourism",
        "XNA",
    ),
    ("previous_application", "NAME_YIELD_GROUP"): (
        "XNA",
        "high",
        "low_action",
        "low_normal",
        "middle",
    ),
    ("previous_application", "PRODUCT_COMBINATION"): (
        "Card Street",
        "Card X-Sell",
        "Cash",
        "Cash Street: high",
        "Cash Street: low",
        "Cash Street: middle",
        "Cash X-Sell: high",
        "Cash X-Sell: low",
        "Cash X-Sell: middle",
        "POS household with interest",
        "POS household without interest",
        "POS industry with interest",
        "POS industry without interest",
        "POS mobile with interest",
        "POS mobile without interest",
        "POS other with interest",
        "POS others without interest",
    ),
    ("POS_CASH_balance", "NAME_CONTRACT_STATUS"): (
        "Active",
        "Amortized debt",
        "Approved",
        "Canceled",
        "Completed",
        "Demand",
        "Returned to the store",
        "Signed",
        "XNA",
    ),
    ("credit_card_balance", "NAME_CONTRACT_STATUS"): (
        "Active",
        "Approved",
        "Completed",
        "Demand",
        "Refused",
        "Sent proposal",
        "Signed",
    ),
}


@dataclass(frozen=True)
class Column:
    """One column of a table: its name, its type in the CSV and, if categorical, its values."""

    name: str
    kind: Kind
    vocabulary: tuple[str, ...] | None = None

    @property
    def nullable(self) -> bool:
        """Integer columns are never missing in the real files; the others may be."""
        return self.kind != "int"


@dataclass(frozen=True)
class ForeignKey:
    """A link from a side table to the table that owns the key."""

    column: str
    parent: str


@dataclass(frozen=True)
class TableSchema:
    """A Home Credit table: its file, ordered columns, primary key and links."""

    name: str
    columns: tuple[Column, ...]
    key: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)
    required: bool = False

    @property
    def file_name(self) -> str:
        """The CSV file name, as in the Kaggle download."""
        return f"{self.name}.csv"

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in file order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name`` (``KeyError`` if the table has none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def categorical(self) -> tuple[Column, ...]:
        """Columns holding category strings, in file order."""
        return tuple(c for c in self.columns if c.kind == "str")


def _vocab_table(table: str) -> str:
    return "application" if table.startswith("application_") else table


def _parse(table: str, spec: str) -> tuple[Column, ...]:
    cols = []
    for token in spec.split():
        name, kind = token.split(":")
        vocab = VOCABULARIES.get((_vocab_table(table), name)) if kind == "str" else None
        if kind == "str" and vocab is None:
            raise AssertionError(f"no vocabulary declared for {table}.{name}")
        cols.append(Column(name, kind, vocab))  # type: ignore[arg-type]
    return tuple(cols)


#: POS, instalment and card rows hang on a previous application and repeat its client.
_MONTHLY_OF_PREVIOUS = (
    ForeignKey("SK_ID_PREV", "previous_application"),
    ForeignKey("SK_ID_CURR", "application"),
)

_TRAIN_COLUMNS = _parse("application_train", _COLUMNS["application_train"])

#: Every table, keyed by its name (which is also the file stem).
TABLES: dict[str, TableSchema] = {
    "application_train": TableSchema(
        "application_train", _TRAIN_COLUMNS, key="SK_ID_CURR", required=True
    ),
    "application_test": TableSchema(
        "application_test",
        tuple(c for c in _TRAIN_COLUMNS if c.name != "TARGET"),
        key="SK_ID_CURR",
    ),
    "bureau": TableSchema(
        "bureau",
        _parse("bureau", _COLUMNS["bureau"]),
        key="SK_ID_BUREAU",
        foreign_keys=(ForeignKey("SK_ID_CURR", "application"),),
    ),
    "bureau_balance": TableSchema(
        "bureau_balance",
        _parse("bureau_balance", _COLUMNS["bureau_balance"]),
        foreign_keys=(ForeignKey("SK_ID_BUREAU", "bureau"),),
    ),
    "previous_application": TableSchema(
        "previous_application",
        _parse("previous_application", _COLUMNS["previous_application"]),
        key="SK_ID_PREV",
        foreign_keys=(ForeignKey("SK_ID_CURR", "application"),),
    ),
    "POS_CASH_balance": TableSchema(
        "POS_CASH_balance",
        _parse("POS_CASH_balance", _COLUMNS["POS_CASH_balance"]),
        foreign_keys=_MONTHLY_OF_PREVIOUS,
    ),
    "installments_payments": TableSchema(
        "installments_payments",
        _parse("installments_payments", _COLUMNS["installments_payments"]),
        foreign_keys=_MONTHLY_OF_PREVIOUS,
    ),
    "credit_card_balance": TableSchema(
        "credit_card_balance",
        _parse("credit_card_balance", _COLUMNS["credit_card_balance"]),
        foreign_keys=_MONTHLY_OF_PREVIOUS,
    ),
}

#: The side tables, in the order the feature recipe aggregates them.
SIDE_TABLES: tuple[str, ...] = (
    "bureau",
    "bureau_balance",
    "previous_application",
    "POS_CASH_balance",
    "installments_payments",
    "credit_card_balance",
)

#: Columns whose value 365243 is the "not applicable" sentinel.
SENTINEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "application": ("DAYS_EMPLOYED",),
    "previous_application": (
        "DAYS_FIRST_DRAWING",
        "DAYS_FIRST_DUE",
        "DAYS_LAST_DUE_1ST_VERSION",
        "DAYS_LAST_DUE",
        "DAYS_TERMINATION",
    ),
}

_NON_WORD = re.compile(r"[^A-Za-z0-9_]")


def feature_name(raw: str) -> str:
    """A feature name as the recipe forms it: every character outside ``[A-Za-z0-9_]`` removed."""
    return _NON_WORD.sub("", raw)


@cache
def features_795() -> tuple[str, ...]:
    """The full model's 795 input features, in the seed model's order."""
    text = resources.files(__package__).joinpath("features_795.txt").read_text()
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != 795:
        raise AssertionError(f"features_795.txt holds {len(names)} names, not 795")
    return names
