"""Synthetic data in the exact Home Credit format, with a known truth behind TARGET.

``generate`` writes the eight Kaggle files (same names, columns, order, value
spelling, vocabularies, id ranges, sentinels, missing patterns and per-client
volumes as the real ones, see ``shared/reference``) and, on request, an oracle
file with every applicant's true default probability and latent history risk
``h``, which never goes into ``data/raw``.

The latent risk model
---------------------
Each applicant has a latent *history risk* ``h ~ N(0, 1)``. Their true log-odds of
default is (coefficients ``risk.*`` in ``conf/data/synthetic.yaml``, defaults in
:class:`RiskModel`)::

    eta = intercept
        + ext_source_k * (EXT_SOURCE_k - 0.5)          k = 1, 2, 3; 0 when missing; <= 0
        + age_per_decade * (age_years / 10 - 4.3)        younger is riskier
        + employment_per_decade * (min(years employed, 20) / 10 - 0.6)
        + pensioner * [DAYS_EMPLOYED == 365243]
        + male * [CODE_GENDER == M]
        + higher_education * [Higher education] + lower_secondary_education * [Lower secondary]
        + region_rating * (REGION_RATING_CLIENT_W_CITY - 2)
        + credit_income * clip(AMT_CREDIT / AMT_INCOME_TOTAL - 3.5, -3, 10) / 3     >= 0
        + annuity_income * (AMT_ANNUITY / AMT_INCOME_TOTAL - 0.18)                  >= 0
        + credit_goods * clip(AMT_CREDIT / AMT_GOODS_PRICE - 1.12, -0.2, 0.5)
        + payment_rate * (0.055 - AMT_ANNUITY / AMT_CREDIT)   long terms are riskier
        + no_car * [FLAG_OWN_CAR == N] + no_realty * [FLAG_OWN_REALTY == N]
        + children * min(CNT_CHILDREN, 5)
        + social_circle_defaults * DEF_30_CNT_SOCIAL_CIRCLE
        + history * h

    P(TARGET = 1) = 1 / (1 + exp(-eta));   TARGET ~ Bernoulli(P)

Income enters only through the two ratios with non-negative coefficients and the
EXT_SOURCE coefficients are non-positive, so the true risk is non-increasing in
``AMT_INCOME_TOTAL`` and in each ``EXT_SOURCE_k`` (all else fixed), which the
product's monotone models assume; :class:`RiskModel` enforces the signs.

``h`` is invisible in the application row. It drives the history tables, row by
row, through ``P(event) = logistic(base + slope * h)`` (``history.EVENT_LOG_ODDS``):
bureau overdue days and amounts and bad-debt/sold credits, late ``STATUS`` months in
bureau_balance, refused previous applications, late (``DAYS_ENTRY_PAYMENT >
DAYS_INSTALMENT``) and short (``AMT_PAYMENT < AMT_INSTALMENT``) instalments, POS
and card days past due and card utilization (``AMT_BALANCE`` / limit). Plain
per-client means and maxima of those columns therefore estimate ``h``, so a
model using every table beats one using the ten light fields by a wide margin,
as on the real data; clients without history keep their ``h`` hidden.

Determinism: randomness comes from one PCG64 stream per block of 1,000
applicants (``streams``), values are rounded to the real granularity and the few
transcendental results that decide a value are rounded too, so a seed and a size
give byte-identical files on any machine and for any ``chunk_size``.
"""

from credit_scoring.data.synthetic.generator import generate
from credit_scoring.data.synthetic.risk import RiskModel

__all__ = ["RiskModel", "generate"]
