"""The six history tables of a chunk of applicants, driven by each one's latent history risk.

Every bad event is drawn with probability ``logistic(base + slope * h)`` for the
owner's history risk ``h`` (see the package docstring), row by row, so that the
plain per-client aggregates (mean, max, sum) of the affected columns reveal ``h``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from credit_scoring.data.schema import DAYS_SENTINEL
from credit_scoring.data.synthetic import categories as cat
from credit_scoring.data.synthetic.categories import PREV, code, weights
from credit_scoring.data.synthetic.risk import logistic
from credit_scoring.data.synthetic.streams import BlockStreams, Level

BUREAU_ID_START = 5_000_000
PREV_ID_START = 1_000_000
DAYS_PER_MONTH = 30.4375

#: (base, slope) of the log-odds of each bad event given the history risk h.
EVENT_LOG_ODDS = {
    "bureau_overdue": (-2.7, 1.3),
    "bureau_late_month": (-3.8, 1.4),
    "refused": (-1.9, 0.9),
    "late_instalment": (-2.6, 1.3),
    "short_payment": (-3.4, 1.3),
    "pos_dpd": (-3.6, 1.4),
    "card_dpd": (-3.6, 1.4),
}


def _event(
    rs: BlockStreams, level: Level, h: np.ndarray, name: str, offset: float = 0.0
) -> np.ndarray:
    base, slope = EVENT_LOG_ODDS[name]
    if offset:  # a scenario's shift; the default process never adds (same bytes)
        base = base + offset
    return rs.uniform(level) < logistic(base + slope * h)


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner and 0-based rank of each row, for ``counts[i]`` rows hanging off element ``i``."""
    owner = np.repeat(np.arange(counts.size), counts)
    start = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - start[owner]


def _round_to(x: np.ndarray, step: float) -> np.ndarray:
    return np.round(np.round(x / step) * step, 3)


@dataclass
class IdCounters:
    """Next free SK_ID_BUREAU / SK_ID_PREV; carried from chunk to chunk."""

    bureau: int = BUREAU_ID_START
    prev: int = PREV_ID_START


def make_history(
    rs: BlockStreams,
    level: Level,
    sk_id_curr: np.ndarray,
    h: np.ndarray,
    ids: IdCounters,
    event_shift: Mapping[str, float] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """All side-table columns for one chunk of applicants, keyed by table name.

    ``event_shift`` adds to the log-odds of named events (a scenario's ``refused``).
    """
    tables: dict[str, dict[str, np.ndarray]] = {}
    tables["bureau"], tables["bureau_balance"] = _bureau(rs, level, sk_id_curr, h, ids)
    refused_shift = (event_shift or {}).get("refused", 0.0)
    prev, loans = _previous(rs, level, sk_id_curr, h, ids, refused_shift)
    tables["previous_application"] = prev
    tables["POS_CASH_balance"] = _pos(rs, loans)
    tables["installments_payments"] = _installments(rs, loans)
    tables["credit_card_balance"] = _cards(rs, loans)
    return tables


def _bureau(
    rs: BlockStreams, level: Level, sk_id_curr: np.ndarray, h: np.ndarray, ids: IdCounters
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    # 86% of applicants have credit-bureau records, 5.6 on average (negative binomial).
    covered = rs.uniform(level) < 0.86
    count = np.where(covered, 1 + rs.poisson(level, rs.gamma(level, 1.5, 4.6 / 1.5)), 0)
    rows = level.child(count)
    owner, _ = _expand(count)
    hb = h[owner]
    n = rows.size
    b: dict[str, np.ndarray] = {"SK_ID_CURR": sk_id_curr[owner]}
    b["SK_ID_BUREAU"] = ids.bureau + np.arange(n)
    ids.bureau += n

    opened = 2 + np.floor(2920 * rs.uniform(rows) ** 1.4)
    bad = _event(rs, rows, hb, "bureau_overdue")
    active = rs.uniform(rows) < np.clip(0.95 - opened / 1400, 0.08, 0.9) + 0.1 * bad
    fate = rs.uniform(rows)
    status = np.where(
        active, code("bureau", "CREDIT_ACTIVE", "Active"), code("bureau", "CREDIT_ACTIVE", "Closed")
    )
    status = np.where(fate < 0.004 + 0.02 * bad, code("bureau", "CREDIT_ACTIVE", "Sold"), status)
    status = np.where(
        fate < 0.0001 + 0.001 * bad, code("bureau", "CREDIT_ACTIVE", "Bad debt"), status
    )
    b["CREDIT_ACTIVE"] = status
    active = status == code("bureau", "CREDIT_ACTIVE", "Active")
    b["CREDIT_CURRENCY"] = rs.choice(
        rows, weights("bureau", "CREDIT_CURRENCY", cat.BUREAU_CURRENCY)
    )
    b["DAYS_CREDIT"] = -opened.astype(np.int64)
    overdue_days = np.minimum(np.round(rs.gamma(rows, 0.8, 50.0)) + 1, 2792)
    b["CREDIT_DAY_OVERDUE"] = np.where(active & bad, overdue_days, 0).astype(np.int64)
    duration = np.round(rs.gamma(rows, 1.6, 420.0)) + 30
    end = -opened + duration
    b["DAYS_CREDIT_ENDDATE"] = np.where(rs.uniform(rows) < 0.06, np.nan, end)
    closed_at = np.round(-opened + rs.uniform(rows) * (np.minimum(end, 0) + opened))
    b["DAYS_ENDDATE_FACT"] = np.where(active, np.nan, np.minimum(closed_at, 0))
    kind = rs.choice(rows, weights("bureau", "CREDIT_TYPE", cat.BUREAU_CREDIT_TYPE))
    b["CREDIT_TYPE"] = kind
    card = kind == code("bureau", "CREDIT_TYPE", "Credit card")
    amount = np.minimum(rs.lognormal(rows, np.log(110_000.0), 1.0), 1e8)
    amount = np.where(
        card, np.maximum(_round_to(amount, 22_500.0), 22_500.0), _round_to(amount, 0.5)
    )
    b["AMT_CREDIT_SUM"] = amount
    max_overdue = _round_to(amount * rs.beta(rows, 1.0, 8.0), 0.005)
    b["AMT_CREDIT_MAX_OVERDUE"] = np.where(
        bad, max_overdue, np.where(rs.uniform(rows) < 0.3, 0.0, np.nan)
    )
    b["CNT_CREDIT_PROLONG"] = (rs.uniform(rows) < 0.004 + 0.03 * bad).astype(np.int64)
    debt = np.where(active, _round_to(amount * rs.uniform(rows) * (0.6 + 0.4 * bad), 0.5), 0.0)
    b["AMT_CREDIT_SUM_DEBT"] = np.where(rs.uniform(rows) < 0.15, np.nan, debt)
    limit = np.where(card & active, amount - debt, 0.0)
    b["AMT_CREDIT_SUM_LIMIT"] = np.where(rs.uniform(rows) < 0.34, np.nan, limit)
    overdue_amount = _round_to(debt * rs.beta(rows, 1.0, 5.0), 0.5)
    b["AMT_CREDIT_SUM_OVERDUE"] = np.where(active & bad, overdue_amount, 0.0)
    update = np.where(
        active,
        -rs.integers(rows, 0, 40),
        np.minimum(b["DAYS_ENDDATE_FACT"] + rs.integers(rows, 0, 30), 0),
    )
    b["DAYS_CREDIT_UPDATE"] = np.maximum(np.nan_to_num(update), -opened).astype(np.int64)
    annuity = _round_to(amount / 24.0, 0.5)
    b["AMT_ANNUITY"] = np.where(rs.uniform(rows) < 0.71, np.nan, annuity)

    # Monthly balance for some 42% of credits, from the opening month to now.
    with_balance = rs.uniform(rows) < 0.42
    months = np.where(with_balance, np.minimum(opened // DAYS_PER_MONTH + 1, 97), 0).astype(
        np.int64
    )
    months_level = rows.child(months)
    credit, age = _expand(months)
    closed_months_ago = np.where(
        active, -1, np.floor(-np.nan_to_num(b["DAYS_ENDDATE_FACT"]) / DAYS_PER_MONTH)
    )[credit]
    late = _event(rs, months_level, hb[credit], "bureau_late_month")
    bucket = 1 + rs.choice(months_level, [0.80, 0.10, 0.04, 0.02, 0.04])
    unknown = rs.uniform(months_level) < 0.14
    status_codes = np.where(late, bucket, 0)
    status_codes = np.where(unknown, code("bureau_balance", "STATUS", "X"), status_codes)
    status_codes = np.where(
        age < closed_months_ago, code("bureau_balance", "STATUS", "C"), status_codes
    )
    balance = {
        "SK_ID_BUREAU": b["SK_ID_BUREAU"][credit],
        "MONTHS_BALANCE": -age,
        "STATUS": status_codes,
    }
    return b, balance


@dataclass
class Loans:
    """Approved previous loans that leave monthly traces (POS, instalments, card)."""

    level: Level
    sk_id_prev: np.ndarray
    sk_id_curr: np.ndarray
    h: np.ndarray
    kind: np.ndarray  # 0 instalment loan (cash or consumer), 1 card, -1 none
    credit: np.ndarray
    annuity: np.ndarray
    payments: np.ndarray
    decision: np.ndarray
    first_due: np.ndarray
    last_due: np.ndarray


def _previous(
    rs: BlockStreams,
    level: Level,
    sk_id_curr: np.ndarray,
    h: np.ndarray,
    ids: IdCounters,
    refused_shift: float = 0.0,
) -> tuple[dict[str, np.ndarray], Loans]:
    # 95% of applicants applied before, 4.9 times on average; 29% hold a card, whose
    # first application is then an approved revolving loan.
    card_holder = rs.uniform(level) < 0.29
    covered = card_holder | (rs.uniform(level) < 0.93)
    count = np.where(covered, 1 + rs.poisson(level, rs.gamma(level, 1.3, 3.93 / 1.3)), 0)
    rows = level.child(count)
    owner, rank = _expand(count)
    hp = h[owner]
    n = rows.size
    p: dict[str, np.ndarray] = {}
    p["SK_ID_PREV"] = ids.prev + np.cumsum(1 + (rs.uniform(rows) < 0.1))
    ids.prev = int(p["SK_ID_PREV"][-1]) if n else ids.prev
    p["SK_ID_CURR"] = sk_id_curr[owner]
    is_card = card_holder[owner] & (rank == 0)

    ct = {v: code(PREV, "NAME_CONTRACT_TYPE", v) for v in cat.PREV_CONTRACT_TYPE}
    contract = rs.choice(rows, weights(PREV, "NAME_CONTRACT_TYPE", cat.PREV_CONTRACT_TYPE))
    contract = np.where(is_card, ct["Revolving loans"], contract)
    cash, consumer = contract == ct["Cash loans"], contract == ct["Consumer loans"]
    revolving, unknown = contract == ct["Revolving loans"], contract == ct["XNA"]
    p["NAME_CONTRACT_TYPE"] = contract

    st = {
        v: code(PREV, "NAME_CONTRACT_STATUS", v)
        for v in ("Approved", "Canceled", "Refused", "Unused offer")
    }
    refused = _event(rs, rows, hp, "refused", refused_shift) & ~is_card
    draw = rs.uniform(rows)
    status = np.select(
        [refused, draw < 0.22, draw < 0.24],
        [st["Refused"], st["Canceled"], st["Unused offer"]],
        st["Approved"],
    )
    status = np.where(is_card, st["Approved"], np.where(unknown, st["Canceled"], status))
    p["NAME_CONTRACT_STATUS"] = status
    approved, canceled = status == st["Approved"], status == st["Canceled"]

    cash_amount = np.clip(
        _round_to(rs.lognormal(rows, np.log(225_000.0), 0.8), 4500.0), 4500.0, 4_050_000.0
    )
    goods = np.clip(_round_to(rs.lognormal(rows, np.log(55_000.0), 0.9), 0.5), 1000.0, 3_000_000.0)
    limit = np.clip(
        _round_to(rs.lognormal(rows, np.log(150_000.0), 0.6), 22_500.0), 22_500.0, 1_350_000.0
    )
    down = np.where(rs.uniform(rows) < 0.55, 0.0, _round_to(goods * rs.beta(rows, 1.2, 8.0), 0.5))
    loading = np.where(rs.uniform(rows) < 0.5, 1.0, 1.0 + 0.25 * rs.uniform(rows))
    application = np.select(
        [cash, consumer, revolving],
        [cash_amount, goods, np.where(rs.uniform(rows) < 0.5, 0.0, limit)],
        0.0,
    )
    credit = np.select(
        [cash, consumer, revolving],
        [_round_to(cash_amount * loading, 0.5), goods - down, limit],
        0.0,
    )
    credit = np.where(canceled & cash & (rs.uniform(rows) < 0.7), 0.0, credit)
    p["AMT_APPLICATION"] = application
    p["AMT_CREDIT"] = credit
    p["AMT_DOWN_PAYMENT"] = np.where(consumer, down, np.nan)
    p["AMT_GOODS_PRICE"] = np.select([cash & ~canceled, consumer], [cash_amount, goods], np.nan)
    p["RATE_DOWN_PAYMENT"] = np.where(consumer, down / goods, np.nan)
    terms = np.select(
        [cash, consumer],
        [
            np.array([12, 18, 24, 36, 48, 60])[rs.choice(rows, [0.2, 0.1, 0.25, 0.25, 0.1, 0.1])],
            np.array([6, 10, 12, 18, 24])[rs.choice(rows, [0.2, 0.25, 0.3, 0.1, 0.15])],
        ],
        0,
    )
    p["CNT_PAYMENT"] = np.where(canceled | unknown, np.nan, terms.astype(np.float64))
    rate = 0.008 + 0.02 * rs.uniform(rows)
    factor = rate / (1.0 - (1.0 + rate) ** -np.maximum(terms, 1))
    annuity = np.where(revolving, _round_to(limit * 0.05, 0.005), _round_to(credit * factor, 0.005))
    p["AMT_ANNUITY"] = np.where(canceled | unknown | (credit == 0), np.nan, annuity)
    p["WEEKDAY_APPR_PROCESS_START"] = rs.choice(
        rows, weights(PREV, "WEEKDAY_APPR_PROCESS_START", cat.WEEKDAY)
    )
    p["HOUR_APPR_PROCESS_START"] = np.clip(np.round(rs.normal(rows, 12.5, 3.3)), 0, 23).astype(
        np.int64
    )
    p["FLAG_LAST_APPL_PER_CONTRACT"] = np.where(
        rs.uniform(rows) < 0.995,
        code(PREV, "FLAG_LAST_APPL_PER_CONTRACT", "Y"),
        code(PREV, "FLAG_LAST_APPL_PER_CONTRACT", "N"),
    )
    p["NFLAG_LAST_APPL_IN_DAY"] = (rs.uniform(rows) < 0.996).astype(np.int64)
    privileged = rs.uniform(rows) < 0.0036
    p["RATE_INTEREST_PRIMARY"] = np.where(
        privileged, np.round(0.03 + 0.97 * rs.uniform(rows), 6), np.nan
    )
    p["RATE_INTEREST_PRIVILEGED"] = np.where(
        privileged, np.round(0.37 + 0.63 * rs.uniform(rows), 6), np.nan
    )
    purpose = rs.choice(rows, weights(PREV, "NAME_CASH_LOAN_PURPOSE", cat.CASH_LOAN_PURPOSE))
    p["NAME_CASH_LOAN_PURPOSE"] = np.where(
        cash, purpose, code(PREV, "NAME_CASH_LOAN_PURPOSE", "XAP")
    )
    decision = 1 + np.floor(2921 * rs.uniform(rows) ** 1.5)
    p["DAYS_DECISION"] = -decision.astype(np.int64)
    pay = rs.choice(rows, [0.97, 0.027, 0.003])
    pay_codes = np.array(
        [
            code(PREV, "NAME_PAYMENT_TYPE", v)
            for v in (
                "Cash through the bank",
                "Non-cash from your account",
                "Cashless from the account of the employer",
            )
        ]
    )
    p["NAME_PAYMENT_TYPE"] = np.where(
        canceled | revolving | unknown, code(PREV, "NAME_PAYMENT_TYPE", "XNA"), pay_codes[pay]
    )
    reason = rs.choice(rows, weights(PREV, "CODE_REJECT_REASON", cat.REJECT_REASON))
    p["CODE_REJECT_REASON"] = np.select(
        [status == st["Refused"], status == st["Unused offer"]],
        [reason, code(PREV, "CODE_REJECT_REASON", "CLIENT")],
        code(PREV, "CODE_REJECT_REASON", "XAP"),
    )
    suite = rs.choice(rows, weights(PREV, "NAME_TYPE_SUITE", cat.SUITE_PREVIOUS))
    p["NAME_TYPE_SUITE"] = np.where(rs.uniform(rows) < 0.49, -1, suite)
    p["NAME_CLIENT_TYPE"] = rs.choice(rows, weights(PREV, "NAME_CLIENT_TYPE", cat.CLIENT_TYPE))
    category = rs.choice(rows, weights(PREV, "NAME_GOODS_CATEGORY", cat.GOODS_CATEGORY))
    p["NAME_GOODS_CATEGORY"] = np.where(
        consumer, category, code(PREV, "NAME_GOODS_CATEGORY", "XNA")
    )
    p["NAME_PORTFOLIO"] = np.select(
        [canceled | unknown, consumer, cash, revolving],
        [code(PREV, "NAME_PORTFOLIO", v) for v in ("XNA", "POS", "Cash", "Cards")],
        code(PREV, "NAME_PORTFOLIO", "XNA"),
    )
    x_sell = rs.uniform(rows) < 0.75
    p["NAME_PRODUCT_TYPE"] = np.select(
        [consumer | unknown, x_sell],
        [code(PREV, "NAME_PRODUCT_TYPE", "XNA"), code(PREV, "NAME_PRODUCT_TYPE", "x-sell")],
        code(PREV, "NAME_PRODUCT_TYPE", "walk-in"),
    )
    p["CHANNEL_TYPE"] = np.where(
        consumer,
        rs.choice(rows, weights(PREV, "CHANNEL_TYPE", cat.CONSUMER_CHANNEL)),
        rs.choice(rows, weights(PREV, "CHANNEL_TYPE", cat.CASH_CHANNEL)),
    )
    seller_area = np.minimum(np.round(rs.gamma(rows, 0.7, 400.0)), 4_000_000).astype(np.int64)
    p["SELLERPLACE_AREA"] = np.where(consumer, seller_area, -1)
    industry = rs.choice(rows, weights(PREV, "NAME_SELLER_INDUSTRY", cat.SELLER_INDUSTRY))
    p["NAME_SELLER_INDUSTRY"] = np.where(
        consumer, industry, code(PREV, "NAME_SELLER_INDUSTRY", "XNA")
    )
    yield_group = rs.choice(rows, weights(PREV, "NAME_YIELD_GROUP", cat.YIELD_GROUP))
    no_yield = canceled | revolving | unknown
    p["NAME_YIELD_GROUP"] = np.where(no_yield, code(PREV, "NAME_YIELD_GROUP", "XNA"), yield_group)
    band = np.select(
        [
            yield_group == code(PREV, "NAME_YIELD_GROUP", "high"),
            yield_group == code(PREV, "NAME_YIELD_GROUP", "middle"),
        ],
        [2, 1],
        0,
    )
    combination = np.select(
        [
            consumer,
            cash & canceled,
            cash & x_sell,
            cash,
            revolving & x_sell,
            revolving,
        ],
        [
            rs.choice(rows, weights(PREV, "PRODUCT_COMBINATION", cat.CONSUMER_COMBINATION)),
            code(PREV, "PRODUCT_COMBINATION", "Cash"),
            np.array(
                [
                    code(PREV, "PRODUCT_COMBINATION", f"Cash X-Sell: {b}")
                    for b in ("low", "middle", "high")
                ]
            )[band],
            np.array(
                [
                    code(PREV, "PRODUCT_COMBINATION", f"Cash Street: {b}")
                    for b in ("low", "middle", "high")
                ]
            )[band],
            code(PREV, "PRODUCT_COMBINATION", "Card X-Sell"),
            code(PREV, "PRODUCT_COMBINATION", "Card Street"),
        ],
        -1,
    )
    p["PRODUCT_COMBINATION"] = combination

    # Dates of approved loans; 365243 marks "not applicable" (no drawing, still running).
    sentinel = float(DAYS_SENTINEL)
    # A date that has already happened is never positive: recent decisions are capped at
    # yesterday (only DAYS_LAST_DUE_1ST_VERSION, a plan, may lie in the future).
    first_due = np.minimum(-decision + rs.integers(rows, 10, 45), -1)
    planned_end = first_due + 30.0 * (np.maximum(terms, 1) - 1)
    repaid_early = rs.uniform(rows) < 0.3
    last_due = np.where(
        repaid_early,
        np.minimum(first_due + np.floor(rs.uniform(rows) * (planned_end - first_due)), -1),
        planned_end,
    )
    finished = last_due < 0
    drawing = np.where(
        rs.uniform(rows) < 0.96, sentinel, np.minimum(-decision + rs.integers(rows, 1, 20), -1)
    )
    card_ok = revolving & approved
    p["DAYS_FIRST_DRAWING"] = np.where(
        approved,
        np.where(card_ok, np.minimum(drawing, np.minimum(-decision + 5, -1)), drawing),
        np.nan,
    )
    p["DAYS_FIRST_DUE"] = np.where(
        approved, np.where(card_ok & (rs.uniform(rows) < 0.3), sentinel, first_due), np.nan
    )
    p["DAYS_LAST_DUE_1ST_VERSION"] = np.where(
        approved, np.where(card_ok, sentinel, planned_end), np.nan
    )
    closed = np.where(finished & ~card_ok, last_due, sentinel)
    p["DAYS_LAST_DUE"] = np.where(approved, closed, np.nan)
    p["DAYS_TERMINATION"] = np.where(
        approved,
        np.where(closed == sentinel, sentinel, np.minimum(closed + rs.integers(rows, 0, 10), -1)),
        np.nan,
    )
    insured = (rs.uniform(rows) < 0.33) & ~revolving
    p["NFLAG_INSURED_ON_APPROVAL"] = np.where(approved, insured.astype(np.float64), np.nan)

    kind = np.select([approved & (cash | consumer), is_card], [0, 1], -1)
    loans = Loans(
        level=rows,
        sk_id_prev=p["SK_ID_PREV"],
        sk_id_curr=p["SK_ID_CURR"],
        h=hp,
        kind=kind,
        credit=credit,
        annuity=np.nan_to_num(annuity),
        payments=terms,
        decision=decision,
        first_due=first_due,
        last_due=np.where(finished, last_due, planned_end),
    )
    return p, loans


def _pos(rs: BlockStreams, loans: Loans) -> dict[str, np.ndarray]:
    """Monthly status of instalment loans, from the first due month to now or completion."""
    first = np.floor(loans.first_due / DAYS_PER_MONTH)
    last = np.minimum(np.floor(loans.last_due / DAYS_PER_MONTH), -1)
    first = np.maximum(first, -96)
    months = np.where(loans.kind == 0, np.maximum(last - first + 1, 1), 0).astype(np.int64)
    level = loans.level.child(months)
    loan, age = _expand(months)
    month = last[loan] - age
    elapsed = month - first[loan]
    total = loans.payments[loan].astype(np.float64)
    done = (loans.last_due[loan] < 0) & (age == 0)
    dpd = np.where(
        _event(rs, level, loans.h[loan], "pos_dpd"), np.round(rs.gamma(level, 0.8, 15.0)) + 1, 0
    ).astype(np.int64)
    return {
        "SK_ID_PREV": loans.sk_id_prev[loan],
        "SK_ID_CURR": loans.sk_id_curr[loan],
        "MONTHS_BALANCE": month.astype(np.int64),
        "CNT_INSTALMENT": total,
        "CNT_INSTALMENT_FUTURE": np.where(done, 0.0, np.maximum(total - elapsed - 1, 0.0)),
        "NAME_CONTRACT_STATUS": np.where(
            done,
            code("POS_CASH_balance", "NAME_CONTRACT_STATUS", "Completed"),
            code("POS_CASH_balance", "NAME_CONTRACT_STATUS", "Active"),
        ),
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(dpd > 15, dpd, 0),
    }


def _installments(rs: BlockStreams, loans: Loans) -> dict[str, np.ndarray]:
    """One row per instalment due so far: days late and amount short reveal the history risk."""
    due_count = np.floor((np.minimum(loans.last_due, -1) - loans.first_due) / 30.0) + 1
    count = np.where(
        loans.kind == 0, np.clip(due_count, 0, np.minimum(loans.payments, 96)), 0
    ).astype(np.int64)
    level = loans.level.child(count)
    loan, number = _expand(count)
    hl = loans.h[loan]
    due = loans.first_due[loan] + 30.0 * number
    late = _event(rs, level, hl, "late_instalment")
    delay = np.where(
        late, np.round(rs.gamma(level, 1.0, 12.0)) + 1, -np.round(rs.gamma(level, 1.0, 8.0))
    )
    entry = np.minimum(due + delay, -1.0)
    instalment = loans.annuity[loan]
    short = _event(rs, level, hl, "short_payment")
    payment = np.where(short, _round_to(instalment * rs.beta(level, 2.0, 2.0), 0.005), instalment)
    unpaid = rs.uniform(level) < 0.0002
    return {
        "SK_ID_PREV": loans.sk_id_prev[loan],
        "SK_ID_CURR": loans.sk_id_curr[loan],
        "NUM_INSTALMENT_VERSION": np.where(rs.uniform(level) < 0.06, 2.0, 1.0),
        "NUM_INSTALMENT_NUMBER": number + 1,
        "DAYS_INSTALMENT": due,
        "DAYS_ENTRY_PAYMENT": np.where(unpaid, np.nan, entry),
        "AMT_INSTALMENT": instalment,
        "AMT_PAYMENT": np.where(unpaid, np.nan, payment),
    }


def _cards(rs: BlockStreams, loans: Loans) -> dict[str, np.ndarray]:
    """Monthly card statements: utilization and days past due reveal the history risk."""
    months = np.where(
        loans.kind == 1, np.clip(np.floor(loans.decision / DAYS_PER_MONTH), 1, 96), 0
    ).astype(np.int64)
    card_level = loans.level
    habit = np.clip(0.35 + 0.22 * loans.h + 0.15 * rs.normal(card_level), 0.0, 1.0)
    level = card_level.child(months)
    card, age = _expand(months)
    limit = loans.credit[card]
    utilization = np.clip(habit[card] + 0.12 * rs.normal(level), 0.0, 1.05)
    balance = _round_to(limit * utilization, 0.005)
    quiet = rs.uniform(level) < 0.195
    atm = np.where(rs.uniform(level) < 0.2, _round_to(limit * 0.1 * rs.uniform(level), 4500.0), 0.0)
    pos_spend = np.where(
        rs.uniform(level) < 0.3, _round_to(rs.lognormal(level, np.log(8000.0), 1.0), 0.005), 0.0
    )
    atm, pos_spend = np.where(quiet, 0.0, atm), np.where(quiet, 0.0, pos_spend)
    n_atm = np.where(atm > 0, rs.integers(level, 1, 4), 0)
    n_pos = np.where(pos_spend > 0, rs.integers(level, 1, 6), 0)
    minimum = _round_to(balance * 0.05, 0.005)
    no_schedule = rs.uniform(level) < 0.079
    late = _event(rs, level, loans.h[card], "card_dpd")
    paid = np.where(late, 0.0, _round_to(minimum * (1.0 + 2.0 * rs.uniform(level)), 0.005))
    payment_missing = rs.uniform(level) < 0.2
    dpd = np.where(late, np.round(rs.gamma(level, 0.8, 20.0)) + 1, 0).astype(np.int64)
    cc = code("credit_card_balance", "NAME_CONTRACT_STATUS", "Active")
    status = rs.choice(level, weights("credit_card_balance", "NAME_CONTRACT_STATUS", {
        "Active": 0.963, "Completed": 0.033, "Signed": 0.003, "Demand": 0.0004,
        "Sent proposal": 0.0001, "Refused": 0.00001, "Approved": 0.000001,
    }))  # fmt: skip
    nan_if_quiet = lambda x: np.where(quiet, np.nan, x)  # noqa: E731
    return {
        "SK_ID_PREV": loans.sk_id_prev[card],
        "SK_ID_CURR": loans.sk_id_curr[card],
        "MONTHS_BALANCE": -(age + 1),
        "AMT_BALANCE": balance,
        "AMT_CREDIT_LIMIT_ACTUAL": limit.astype(np.int64),
        "AMT_DRAWINGS_ATM_CURRENT": nan_if_quiet(atm),
        "AMT_DRAWINGS_CURRENT": atm + pos_spend,
        "AMT_DRAWINGS_OTHER_CURRENT": nan_if_quiet(np.zeros(level.size)),
        "AMT_DRAWINGS_POS_CURRENT": nan_if_quiet(pos_spend),
        "AMT_INST_MIN_REGULARITY": np.where(no_schedule, np.nan, minimum),
        "AMT_PAYMENT_CURRENT": np.where(payment_missing, np.nan, paid),
        "AMT_PAYMENT_TOTAL_CURRENT": paid,
        "AMT_RECEIVABLE_PRINCIPAL": _round_to(balance * 0.96, 0.005),
        "AMT_RECIVABLE": balance,
        "AMT_TOTAL_RECEIVABLE": balance,
        "CNT_DRAWINGS_ATM_CURRENT": nan_if_quiet(n_atm.astype(np.float64)),
        "CNT_DRAWINGS_CURRENT": (n_atm + n_pos).astype(np.int64),
        "CNT_DRAWINGS_OTHER_CURRENT": nan_if_quiet(np.zeros(level.size)),
        "CNT_DRAWINGS_POS_CURRENT": nan_if_quiet(n_pos.astype(np.float64)),
        "CNT_INSTALMENT_MATURE_CUM": np.where(
            no_schedule, np.nan, (months[card] - age - 1).astype(np.float64)
        ),
        "NAME_CONTRACT_STATUS": np.where(age == 0, status, cc),
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(dpd > 30, dpd, 0),
    }
