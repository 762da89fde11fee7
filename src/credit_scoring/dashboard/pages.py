"""The three pages: a known client, a new applicant (with the what-if), the service's state.

Each section of a page is ``guarded``: a model server or the API going down
turns that section into a message naming what is down, and the rest of the page
still renders.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from credit_scoring.dashboard.client import ApiClient, ApiRefused, ServiceDown
from credit_scoring.dashboard.figures import (
    histogram_frame,
    percentile_in_histogram,
    population_chart,
    waterfall_chart,
    waterfall_frame,
    what_if_chart,
    what_if_values,
)
from credit_scoring.dashboard.i18n import Labels
from credit_scoring.dashboard.settings import DashboardSettings
from credit_scoring.dashboard.ui import decision_card, explain_service_down, guarded

#: The amounts placed on the population's histograms and moved by the what-if.
AMOUNTS = ("AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY")
#: The four amounts an applicant must give (the annuity may come from a repayment period).
REQUIRED = ("AMT_INCOME_TOTAL", "AMT_GOODS_PRICE", "AMT_CREDIT", "AMT_ANNUITY")
MODELS = ("full", "light")


# --------------------------------------------------------------------------- client


def client_page(api: ApiClient, settings: DashboardSettings, t: Labels) -> None:
    """A known client by id: decision and reasons, both models, place in the population."""
    st.header(t("client.title"))
    left, right = st.columns([2, 3])
    raw = left.text_input(
        t("client.id"),
        value=st.query_params.get("client", ""),
        key="client_id",
        placeholder=t("client.id_placeholder"),
        help=t("client.id_help"),
    )
    model = right.radio(
        t("client.model"),
        MODELS,
        format_func=lambda m: t(f"model.{m}_long"),
        horizontal=True,
        key="client_model",
    )
    text = raw.strip()
    if not text:
        st.info(t("client.hint"))
        return
    if not text.isdigit():
        st.warning(t("client.bad_id", raw=text[:40]))
        return
    client_id = int(text)
    st.query_params["client"] = str(client_id)
    client: dict[str, Any] | None = None
    with guarded(t):
        try:
            client = api.client(client_id)
        except ApiRefused as exc:
            if exc.status != 404:
                raise
            st.warning(t("client.unknown", id=client_id), icon=":material/search_off:")
    if client is None:
        return
    _client_summary(client, t)
    st.subheader(t("client.decision", model=t(f"model.{model}_long")))
    with guarded(t):
        _client_decision(api, settings, t, client, model)
    st.subheader(t("compare.title"))
    with guarded(t):
        _model_comparison(api.compare_models(client_id), t)
    st.subheader(t("population.title"))
    with guarded(t):
        _population(api, settings, t, client)


def _client_summary(client: dict[str, Any], t: Labels) -> None:
    fields = client["fields"]
    cols = st.columns(4)
    cols[0].metric(t("field.AMT_INCOME_TOTAL"), t.number(fields.get("AMT_INCOME_TOTAL")))
    cols[1].metric(t("field.AMT_CREDIT"), t.number(fields.get("AMT_CREDIT")))
    cols[2].metric(t("field.AMT_ANNUITY"), t.number(fields.get("AMT_ANNUITY")))
    cols[3].metric(t("field.AMT_GOODS_PRICE"), t.number(fields.get("AMT_GOODS_PRICE")))
    details = {
        t("field.age_years"): t.number(client.get("age_years"), 0),
        t("field.years_employed"): t.number(client.get("years_employed"), 1),
        t("field.CODE_GENDER"): _category(t, "gender", fields.get("CODE_GENDER")),
        t("field.CNT_CHILDREN"): t.number(fields.get("CNT_CHILDREN")),
        t("field.FLAG_OWN_CAR"): _category(t, "yes_no", fields.get("FLAG_OWN_CAR")),
        t("field.FLAG_OWN_REALTY"): _category(t, "yes_no", fields.get("FLAG_OWN_REALTY")),
        t("field.NAME_CONTRACT_TYPE"): fields.get("NAME_CONTRACT_TYPE") or "—",
        t("field.NAME_INCOME_TYPE"): fields.get("NAME_INCOME_TYPE") or "—",
        t("field.OCCUPATION_TYPE"): fields.get("OCCUPATION_TYPE") or "—",
        t("field.NAME_FAMILY_STATUS"): fields.get("NAME_FAMILY_STATUS") or "—",
    }
    with st.expander(t("client.file", id=client["client_id"]), expanded=False):
        st.table(pd.DataFrame({t("client.field"): details.keys(), "": details.values()}))


def _category(t: Labels, kind: str, value: Any) -> str:
    return "—" if value in (None, "") else t(f"{kind}.{value}")


def _client_decision(
    api: ApiClient, settings: DashboardSettings, t: Labels, client: dict[str, Any], model: str
) -> None:
    """The live answer with its explanation; the stored one, said so, when the server is down."""
    try:
        answer = api.explain(int(client["client_id"]), model, settings.explain_top)
    except ServiceDown as exc:
        st.error(explain_service_down(exc, t), icon=":material/warning:")
        stored = client["scores"].get(model)
        if stored and stored.get("probability") is not None:
            threshold = _stored_threshold(api, model)
            if threshold is not None:
                decision_card(
                    {**stored, "model": model, "threshold": threshold},
                    t,
                    caption=t("decision.precomputed"),
                    explain=False,
                )
        return
    decision_card(answer, t)
    contributions = answer.get("contributions") or []
    if contributions:
        steps = waterfall_frame(answer["base_value"], contributions, t.feature)
        st.altair_chart(
            waterfall_chart(
                steps,
                float(answer["base_value"]),
                title=t("chart.waterfall_title", n=len(contributions)),
                axis=t("chart.waterfall_axis"),
                legend={"up": t("reasons.raises"), "down": t("reasons.lowers")},
            ),
            width="stretch",
        )
        st.caption(t("chart.waterfall_caption"))


def _stored_threshold(api: ApiClient, model: str) -> float | None:
    try:
        return float(api.models()[model]["threshold"])
    except (KeyError, TypeError, ApiRefused, ServiceDown):
        return None


def _model_comparison(both: dict[str, Any], t: Labels) -> None:
    cols = st.columns(2)
    for col, model in zip(cols, MODELS, strict=True):
        answer = both["models"][model]
        with col, st.container(border=True):
            st.markdown(f"**{t(f'model.{model}_long')}**")
            decision = t(f"decision.{answer['decision']}")
            symbol = "✔" if answer["decision"] == "granted" else "✖"
            st.metric(
                t("metric.score"),
                f"{t.number(float(answer['score']), 1)} / 100",
                help=t("compare.live") if answer.get("live") else t("compare.stored"),
            )
            st.markdown(
                f"{symbol} **{decision}** · {t('metric.probability')} "
                f"{t.percent(100 * float(answer['probability']))}"
            )
            st.caption(
                (t("compare.live") if answer.get("live") else t("compare.stored"))
                + (f" · v{answer['model_version']}" if answer.get("model_version") else "")
            )
    st.caption(t("compare.difference", diff=t.number(float(both["score_difference"]), 1)))
    for warning in both.get("warnings") or []:
        st.warning(warning)


def _population(
    api: ApiClient, settings: DashboardSettings, t: Labels, client: dict[str, Any]
) -> None:
    """Income, credit and annuity on the histograms of all clients and repaid clients."""
    position = api.position(int(client["client_id"]))
    cols = st.columns(len(AMOUNTS))
    for col, feature in zip(cols, AMOUNTS, strict=True):
        value = client["fields"].get(feature)
        with col:
            if value is None:
                st.caption(t("population.missing", field=t(f"field.{feature}")))
                continue
            value = float(value)
            hists = {
                pop: _distribution(api, feature, pop, settings.histogram_bins)
                for pop in ("all", "repaid")
            }
            frames = {t(f"population.{p}"): histogram_frame(hists[p], p) for p in hists}
            st.altair_chart(
                population_chart(
                    frames,
                    value,
                    title=t(f"field.{feature}"),
                    axis=t("chart.amount_axis"),
                    share=t("chart.share_axis"),
                    marker=t("chart.client_marker"),
                ),
                width="stretch",
            )
            exact = feature == "AMT_INCOME_TOTAL" and position.get("income_percentile") is not None
            everyone = (
                position["income_percentile"]
                if exact
                else percentile_in_histogram(hists["all"], value)
            )
            repaid = percentile_in_histogram(hists["repaid"], value)
            st.markdown(
                t(
                    "population.percentiles",
                    all=t.percent(everyone, 0),
                    repaid=t.percent(repaid, 0),
                )
            )
    peers = position.get("peers") or 0
    st.caption(
        t(
            "population.peers",
            n=t.number(peers),
            credit=t.number(position.get("peers_mean_credit")),
            annuity=t.number(position.get("peers_mean_annuity")),
        )
        if peers
        else t("population.no_peers")
    )


def _distribution(api: ApiClient, feature: str, population: str, bins: int) -> dict[str, Any]:
    return _distribution_cached(api, api.base_url, feature, population, bins)


@st.cache_data(ttl=300, show_spinner=False)
def _distribution_cached(
    _api: ApiClient, base_url: str, feature: str, population: str, bins: int
) -> dict[str, Any]:
    # Histograms change only on a republish: a few minutes' cache spares the API.
    # (Streamlit does not hash ``_api``; the URL keys the cache instead.)
    return _api.distribution(feature, population, bins)


# --------------------------------------------------------------------------- applicant


def applicant_page(api: ApiClient, settings: DashboardSettings, t: Labels) -> None:
    """A new applicant: 4 amounts, 6 optional fields, the score, its reasons, the what-if."""
    st.header(t("applicant.title"))
    mode = st.radio(
        t("applicant.annuity_mode"),
        ("annuity", "years"),
        format_func=lambda m: t(f"applicant.mode_{m}"),
        horizontal=True,
        key="annuity_mode",
    )
    with st.form("applicant_form"):
        st.markdown(f"**{t('applicant.required')}**")
        c1, c2 = st.columns(2)
        amounts = {
            "AMT_INCOME_TOTAL": c1.number_input(
                t("field.AMT_INCOME_TOTAL"), min_value=0.0, value=None, step=1000.0, key="income"
            ),
            "AMT_GOODS_PRICE": c2.number_input(
                t("field.AMT_GOODS_PRICE"), min_value=0.0, value=None, step=1000.0, key="goods"
            ),
            "AMT_CREDIT": c1.number_input(
                t("field.AMT_CREDIT"), min_value=0.0, value=None, step=1000.0, key="credit"
            ),
        }
        if mode == "annuity":
            annuity = c2.number_input(
                t("field.AMT_ANNUITY"), min_value=0.0, value=None, step=100.0, key="annuity"
            )
            years = None
        else:
            years = c2.number_input(
                t("field.repayment_years"),
                min_value=1,
                max_value=50,
                value=None,
                step=1,
                key="repayment_years",
                help=t("field.repayment_years_help"),
            )
            annuity = None
        st.markdown(f"**{t('applicant.optional')}**")
        o1, o2, o3 = st.columns(3)
        gender = o1.selectbox(
            t("field.CODE_GENDER"),
            ("M", "F"),
            index=None,
            format_func=lambda v: t(f"gender.{v}"),
            placeholder=t("applicant.not_given"),
            key="gender",
        )
        age = o2.number_input(
            t("field.age_years"), min_value=18, max_value=100, value=None, step=1, key="age"
        )
        children = o3.number_input(
            t("field.CNT_CHILDREN"), min_value=0, max_value=20, value=None, step=1, key="children"
        )
        employed = o1.number_input(
            t("field.years_employed"),
            min_value=0.0,
            max_value=60.0,
            value=None,
            step=1.0,
            key="employed",
        )
        car = o2.selectbox(
            t("field.FLAG_OWN_CAR"),
            ("Y", "N"),
            index=None,
            format_func=lambda v: t(f"yes_no.{v}"),
            placeholder=t("applicant.not_given"),
            key="car",
        )
        realty = o3.selectbox(
            t("field.FLAG_OWN_REALTY"),
            ("Y", "N"),
            index=None,
            format_func=lambda v: t(f"yes_no.{v}"),
            placeholder=t("applicant.not_given"),
            key="realty",
        )
        with_full = st.checkbox(t("applicant.with_full"), key="with_full")
        submitted = st.form_submit_button(t("applicant.submit"), type="primary", key="submit")
    if submitted:
        if years is not None and amounts["AMT_CREDIT"]:
            annuity = round(float(amounts["AMT_CREDIT"]) / float(years), 2)
        missing = [k for k, v in {**amounts, "AMT_ANNUITY": annuity}.items() if not v]
        if mode == "years" and years is None:
            missing = [m for m in missing if m != "AMT_ANNUITY"] + ["repayment_years"]
        if missing:
            st.error(t("applicant.missing", fields=", ".join(t(f"field.{m}") for m in missing)))
            st.session_state.pop("applicant", None)
            return
        applicant: dict[str, Any] = {**amounts, "AMT_ANNUITY": annuity}
        optional = {
            "CODE_GENDER": gender,
            "age_years": age,
            "CNT_CHILDREN": children,
            "years_employed": employed,
            "FLAG_OWN_CAR": car,
            "FLAG_OWN_REALTY": realty,
        }
        applicant.update({k: v for k, v in optional.items() if v is not None})
        st.session_state["applicant"] = applicant
        st.session_state["applicant_models"] = ["light", "full"] if with_full else ["light"]
    applicant = st.session_state.get("applicant")
    if not applicant:
        st.info(t("applicant.hint"))
        return
    models = st.session_state.get("applicant_models", ["light"])
    with guarded(t, refused_as="error"):
        answer = api.score(applicant, models)
        if mode == "years" and "repayment_years" in st.session_state:
            st.caption(
                t("applicant.annuity_from_years", annuity=t.number(applicant["AMT_ANNUITY"]))
            )
        for warning in answer.get("warnings") or []:
            st.warning(warning)
        light = answer["scores"]["light"]
        st.subheader(t("applicant.result"))
        decision_card(light, t)
        if "full" in answer["scores"]:
            full = answer["scores"]["full"]
            st.markdown(
                t(
                    "applicant.full_too",
                    decision=t(f"decision.{full['decision']}"),
                    score=t.number(float(full["score"]), 1),
                    probability=t.percent(100 * float(full["probability"])),
                )
            )
        st.subheader(t("whatif.title"))
        _what_if(api, settings, t, applicant, float(light["threshold"]))


def _what_if(
    api: ApiClient,
    settings: DashboardSettings,
    t: Labels,
    applicant: dict[str, Any],
    threshold: float,
) -> None:
    """Move one amount, others fixed: the light model's probability along a grid around it."""
    field = st.selectbox(
        t("whatif.field"), AMOUNTS, format_func=lambda f: t(f"field.{f}"), key="whatif_field"
    )
    current = float(applicant[field])
    low, high = settings.what_if_range
    grid = what_if_values(current, low, high, settings.what_if_points)
    curve = _curve(api, applicant, field, grid)
    moved = st.select_slider(
        t("whatif.move", field=t(f"field.{field}")),
        options=grid,
        value=round(current, 2),
        format_func=lambda v: t.number(float(v)),
        key=f"whatif_value_{field}",
    )
    at = curve.loc[curve["value"] == moved].iloc[0]
    here = curve.loc[curve["value"] == round(current, 2)].iloc[0]
    m1, m2 = st.columns(2)
    m1.metric(
        t("whatif.probability_at", value=t.number(float(moved))),
        t.percent(100 * float(at["probability"])),
        delta=t.percent(100 * (float(at["probability"]) - float(here["probability"]))),
        delta_color="inverse",
    )
    symbol = "✔" if at["decision"] == "granted" else "✖"
    m2.metric(t("whatif.decision_at"), f"{symbol} {t('decision.' + str(at['decision']))}")
    st.altair_chart(
        what_if_chart(
            curve,
            float(moved),
            threshold,
            axis=t(f"field.{field}"),
            probability=t("metric.probability"),
            threshold_label=t("chart.threshold_label", value=t.percent(100 * threshold)),
            current_label=t("chart.applicant_marker"),
        ),
        width="stretch",
    )
    if field == "AMT_INCOME_TOTAL":
        rising = (curve["probability"].diff().dropna() > 1e-12).any()
        if rising:
            st.warning(t("whatif.not_monotone"))
        else:
            st.caption(t("whatif.monotone"))
    st.caption(t("whatif.caption", n=len(grid)))


def _curve(
    api: ApiClient, applicant: dict[str, Any], field: str, grid: list[float]
) -> pd.DataFrame:
    return _curve_cached(api, api.base_url, tuple(sorted(applicant.items())), field, tuple(grid))


@st.cache_data(ttl=120, show_spinner=False, max_entries=64)
def _curve_cached(
    _api: ApiClient,
    base_url: str,
    applicant: tuple[tuple[str, Any], ...],
    field: str,
    grid: tuple[float, ...],
) -> pd.DataFrame:
    # One call per point; moving the slider back and forth must not call the API again.
    rows = []
    for value in grid:
        answer = _api.score({**dict(applicant), field: value}, ["light"])["scores"]["light"]
        rows.append(
            {"value": value, "probability": answer["probability"], "decision": answer["decision"]}
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- service


def service_page(api: ApiClient, settings: DashboardSettings, t: Labels) -> None:
    """Which parts answer, the champions' versions, the last monitoring summary."""
    st.header(t("service.title"))
    with guarded(t):
        health = api.health()
        checks = health.get("checks", {})
        if health.get("status") == "ok":
            st.success(t("service.all_up"), icon=":material/check_circle:")
        else:
            down = [_component(name, t) for name, c in checks.items() if not c.get("ok")]
            st.error(t("service.some_down", parts=", ".join(down)), icon=":material/warning:")
        rows = [
            {
                t("service.component"): _component(name, t),
                t("service.state"): ("✔ " + t("service.up"))
                if check.get("ok")
                else ("✖ " + t("service.down")),
                t("service.detail"): check.get("detail")
                or (f"v{check['model_version']}" if check.get("model_version") else "")
                or str(check.get("publish_id") or ""),
            }
            for name, check in checks.items()
        ]
        st.table(pd.DataFrame(rows))
    st.subheader(t("service.models"))
    with guarded(t):
        models = api.models()
        st.table(
            pd.DataFrame(
                [
                    {
                        t("service.model"): t(f"model.{name}_long"),
                        t("service.registered"): f"{m.get('registered_name')} v{m.get('version')}",
                        t("service.auc"): t.number(m.get("test_auc"), 3),
                        t("metric.threshold"): t.percent(100 * float(m["threshold"]))
                        if m.get("threshold") is not None
                        else "—",
                        t("service.trained"): str(m.get("trained_at") or "—")[:19],
                    }
                    for name, m in models.items()
                ]
            )
        )
    st.subheader(t("service.monitoring"))
    with guarded(t):
        try:
            summary = api.optional("/monitoring/summary")
        except ServiceDown as exc:  # e.g. the prediction log is switched off
            st.info(t("service.monitoring_off", message=exc.message))
        else:
            if summary is None:
                st.info(t("service.no_monitoring"))
            else:
                _monitoring(summary, t)
    st.caption(t("service.api", url=settings.api_url))


def _component(name: str, t: Labels) -> str:
    if name.startswith("model_server_"):
        return t("service.model_server", model=t(f"model.{name.removeprefix('model_server_')}"))
    return t(f"service.{name}") if name == "database" else name


def _monitoring(summary: dict[str, Any], t: Labels) -> None:
    """The monitoring summary's headline figures, per model, and the rest as it came."""
    cols = st.columns(4)
    cols[0].metric(t("service.scored"), t.number(summary.get("count")))
    rate = summary.get("refusal_rate")
    cols[1].metric(t("service.refusal_rate"), t.percent(None if rate is None else 100 * rate))
    psi = summary.get("score_psi", summary.get("psi"))
    if isinstance(psi, int | float):
        cols[2].metric(t("service.psi"), t.number(float(psi), 3))
    if summary.get("first") or summary.get("last"):
        period = f"{str(summary.get('first') or '…')[:16]} → {str(summary.get('last') or '…')[:16]}"
        cols[3].metric(t("service.period"), period)
    models = summary.get("models") or {}
    if models:
        rows = []
        for name, entry in models.items():
            latency = entry.get("latency_ms") or {}
            rate = entry.get("refusal_rate")
            rows.append(
                {
                    t("service.model"): t(f"model.{name}_long") if name in MODELS else name,
                    t("service.scored"): t.number(entry.get("count")),
                    t("service.refusal_rate"): t.percent(None if rate is None else 100 * rate),
                    t("service.latency"): f"{t.number(latency.get('p50'), 1)} / "
                    f"{t.number(latency.get('p95'), 1)} ms",
                }
            )
        st.table(pd.DataFrame(rows))
    with st.expander(t("service.monitoring_details")):
        st.json(summary)
