"""The loan officer's dashboard: ``streamlit run src/credit_scoring/dashboard/app.py``.

``make serve`` starts it next to the API, which is all it talks to (its URL is
``serve.dashboard.api_url``). The sidebar holds the language switch, the page
choice and a one-line state of the service; the pages are in ``pages``.
"""

from __future__ import annotations

import streamlit as st

from credit_scoring.dashboard.client import ApiClient, ApiError
from credit_scoring.dashboard.i18n import Labels, languages
from credit_scoring.dashboard.pages import applicant_page, client_page, service_page
from credit_scoring.dashboard.settings import DashboardSettings, load_settings

PAGES = {"client": client_page, "applicant": applicant_page, "service": service_page}


@st.cache_resource(show_spinner=False)
def _client(settings: DashboardSettings) -> ApiClient:
    # One pooled session per server process and settings (keep-alive to the API).
    return ApiClient(settings)


def _sidebar(api: ApiClient, settings: DashboardSettings) -> tuple[Labels, str]:
    names = languages()
    codes = [c for c in settings.languages if c in names]
    language = st.sidebar.selectbox(
        "Langue / Language",
        codes,
        index=codes.index(settings.language) if settings.language in codes else 0,
        format_func=names.__getitem__,
        key="language",
    )
    t = Labels(language)
    page = st.sidebar.radio(
        t("nav.title"), list(PAGES), format_func=lambda p: t(f"nav.{p}"), key="page"
    )
    try:
        health = api.health()
    except ApiError:
        st.sidebar.error(t("sidebar.api_down", url=api.base_url), icon=":material/cloud_off:")
    else:
        if health.get("status") == "ok":
            versions = health.get("model_versions", {})
            st.sidebar.success(t("sidebar.ok"), icon=":material/check_circle:")
            st.sidebar.caption(
                " · ".join(f"{t(f'model.{m}')} v{v}" for m, v in versions.items() if v)
            )
        else:
            st.sidebar.warning(t("sidebar.degraded"), icon=":material/warning:")
    return t, page


def main() -> None:
    """Render one run of the page."""
    st.set_page_config(
        page_title="Credit scoring", page_icon=":material/account_balance:", layout="wide"
    )
    settings = load_settings()
    api = _client(settings)
    t, page = _sidebar(api, settings)
    st.title(t("app.title"))
    PAGES[page](api, settings, t)


main()
