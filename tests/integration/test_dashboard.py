"""The loan officer's dashboard against the real stack: Streamlit's AppTest and a real browser.

The launcher starts both model servers, the API and the dashboard on free loopback
ports, on the champions and database of the shared pipeline run. AppTest drives
each page in-process against that API (its answers are checked against the API's
own); Debian's chromium, driven by Playwright, loads the running dashboard and
reads the decision from the rendered page. The last test stops the light model
server and checks that every page says so and stays up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from credit_scoring.dashboard.i18n import Labels
from credit_scoring.dashboard.server import APP, url
from credit_scoring.dashboard.settings import CONFIG_ENV
from tests.conftest import REPO_ROOT, free_port
from tests.integration.conftest import PipelineRepo, serving_stack

pytestmark = pytest.mark.slow

#: Where the browser test leaves its screenshot (CI keeps ``build/`` as an artifact folder).
ARTIFACTS = Path(os.environ.get("CREDIT_SCORING_ARTIFACTS", REPO_ROOT / "build/test-artifacts"))
CHROMIUM = os.environ.get("CREDIT_SCORING_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EN = Labels("en")
FR = Labels("fr")


@pytest.fixture(scope="module")
def served(
    pipeline_repo: PipelineRepo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Model servers, API and dashboard, all started under the supervisor."""
    with serving_stack(pipeline_repo, tmp_path_factory.mktemp("dashboard-logs")) as running:
        yield running


def _app(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, language: str = "en") -> Any:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(CONFIG_ENV, json.dumps(config))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state["language"] = language
    return app.run()


def _texts(app: Any) -> str:
    """Every text the page shows (markdown, alerts, captions, metrics), for ``in`` checks."""
    parts = [m.value for m in app.markdown]
    parts += [e.value for kind in ("error", "warning", "info", "success") for e in app.get(kind)]
    parts += [c.value for c in app.caption]
    parts += [f"{m.label}: {m.value}" for m in app.metric]
    return "\n".join(str(p) for p in parts)


def _metric(app: Any, label: str) -> str:
    values = [m.value for m in app.metric if m.label == label]
    assert values, f"no metric {label!r} in {[m.label for m in app.metric]}"
    return values[0]


def _no_failure(app: Any) -> None:
    assert not app.exception, [e.value for e in app.exception]


def _known_client(served: dict[str, Any]) -> int:
    return int(served["clients"]["SK_ID_CURR"].iloc[7])


def test_known_client_shows_the_live_decision_reasons_and_population(served, monkeypatch) -> None:
    client_id = _known_client(served)
    live = requests.get(
        f"{served['url']}/clients/{client_id}/explain", params={"model": "full"}, timeout=30
    ).json()
    app = _app(served["config"]["dashboard"], monkeypatch)
    app.text_input(key="client_id").input(str(client_id)).run()
    _no_failure(app)
    # A refusal is shown as an error box: that one is the decision, not a failure.
    failures = [e.value for e in app.error if not e.value.startswith("### ")]
    assert not failures, failures
    assert _metric(app, EN("metric.score")) == EN.number(live["score"], 1)
    assert _metric(app, EN("metric.probability")) == EN.percent(100 * live["probability"])
    assert _metric(app, EN("metric.threshold")) == EN.percent(100 * live["threshold"])
    assert _metric(app, EN("metric.model")) == f"v{live['model_version']}"
    texts = _texts(app)
    assert EN(f"decision.{live['decision']}") in texts
    assert EN("reasons.title") in texts
    # Both models side by side, and the three amounts placed on the population.
    assert texts.count(EN("compare.live")) == 2
    assert texts.count(EN("population.percentiles").split("**")[0]) == 3
    charts = app.get("vega_lite_chart")
    assert len(charts) >= 1 + 1 + 3  # gauge, waterfall, three histograms
    # The light model on request: its own live answer.
    light = requests.get(
        f"{served['url']}/clients/{client_id}/score", params={"model": "light"}, timeout=30
    ).json()
    app.radio(key="client_model").set_value("light").run()
    _no_failure(app)
    assert _metric(app, EN("metric.score")) == EN.number(light["score"], 1)


def test_unknown_and_malformed_ids_get_a_message(served, monkeypatch) -> None:
    app = _app(served["config"]["dashboard"], monkeypatch)
    app.text_input(key="client_id").input("1").run()
    _no_failure(app)
    assert EN("client.unknown", id=1) in [w.value for w in app.warning]
    app.text_input(key="client_id").input("12ab").run()
    _no_failure(app)
    assert EN("client.bad_id", raw="12ab") in [w.value for w in app.warning]


def _fill_amounts(app: Any, amounts: dict[str, float]) -> None:
    app.radio(key="page").set_value("applicant").run()
    for key, value in amounts.items():
        app.number_input(key=key).set_value(value)


AMOUNTS = {"income": 150000.0, "goods": 450000.0, "credit": 500000.0, "annuity": 25000.0}
API_AMOUNTS = {
    "AMT_INCOME_TOTAL": 150000,
    "AMT_GOODS_PRICE": 450000,
    "AMT_CREDIT": 500000,
    "AMT_ANNUITY": 25000,
}


def _score(served: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{served['url']}/score", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["scores"]["light"]


def test_new_applicant_with_the_four_amounts(served, monkeypatch) -> None:
    app = _app(served["config"]["dashboard"], monkeypatch)
    _fill_amounts(app, AMOUNTS)
    app.button(key="submit").click().run()
    _no_failure(app)
    expected = _score(served, API_AMOUNTS)
    assert _metric(app, EN("metric.score")) == EN.number(expected["score"], 1)
    assert EN(f"decision.{expected['decision']}") in _texts(app)


def test_new_applicant_with_ten_fields_and_a_repayment_period(served, monkeypatch) -> None:
    app = _app(served["config"]["dashboard"], monkeypatch, language="fr")
    app.radio(key="page").set_value("applicant").run()
    app.radio(key="annuity_mode").set_value("years").run()
    amounts = {k: v for k, v in AMOUNTS.items() if k != "annuity"}
    for key, value in amounts.items():
        app.number_input(key=key).set_value(value)
    app.number_input(key="repayment_years").set_value(20)
    app.selectbox(key="gender").set_value("F")
    app.number_input(key="age").set_value(35)
    app.number_input(key="children").set_value(2)
    app.number_input(key="employed").set_value(6.0)
    app.selectbox(key="car").set_value("N")
    app.selectbox(key="realty").set_value("Y")
    app.button(key="submit").click().run()
    _no_failure(app)
    expected = _score(
        served,
        {
            **API_AMOUNTS,
            "AMT_ANNUITY": 25000,  # 500,000 over 20 years
            "CODE_GENDER": "F",
            "age_years": 35,
            "CNT_CHILDREN": 2,
            "years_employed": 6,
            "FLAG_OWN_CAR": "N",
            "FLAG_OWN_REALTY": "Y",
        },
    )
    assert _metric(app, FR("metric.score")) == FR.number(expected["score"], 1)
    assert FR(f"decision.{expected['decision']}") in _texts(app)
    assert FR("applicant.annuity_from_years", annuity=FR.number(25000)) in _texts(app)
    # Without the optional fields the same amounts score differently: all ten were sent.
    assert expected["probability"] != _score(served, API_AMOUNTS)["probability"]


def test_missing_amount_is_named(served, monkeypatch) -> None:
    app = _app(served["config"]["dashboard"], monkeypatch)
    _fill_amounts(app, {k: v for k, v in AMOUNTS.items() if k != "credit"})
    app.button(key="submit").click().run()
    _no_failure(app)
    assert EN("applicant.missing", fields=EN("field.AMT_CREDIT")) in [e.value for e in app.error]


def test_what_if_curve_follows_the_api_and_never_rises_with_income(served, monkeypatch) -> None:
    app = _app(served["config"]["dashboard"], monkeypatch)
    _fill_amounts(app, AMOUNTS)
    app.button(key="submit").click().run()
    app.selectbox(key="whatif_field").set_value("AMT_INCOME_TOTAL").run()
    _no_failure(app)
    assert EN("whatif.monotone") in _texts(app)
    slider = app.select_slider(key="whatif_value_AMT_INCOME_TOTAL")
    richest = max(slider.options, key=lambda o: float(o.replace(",", "")))
    value = float(richest.replace(",", ""))
    slider.set_value(value).run()
    _no_failure(app)
    expected = _score(served, {**API_AMOUNTS, "AMT_INCOME_TOTAL": value})
    label = EN("whatif.probability_at", value=EN.number(value))
    assert _metric(app, label) == EN.percent(100 * expected["probability"])
    base = _score(served, API_AMOUNTS)
    assert expected["probability"] <= base["probability"]
    # Moving the credit instead: the curve is drawn for that amount.
    app.selectbox(key="whatif_field").set_value("AMT_CREDIT").run()
    _no_failure(app)
    assert app.select_slider(key="whatif_value_AMT_CREDIT").value == 500000.0


def test_service_page_shows_versions_and_skips_a_missing_monitoring_route(
    served, monkeypatch
) -> None:
    models = requests.get(f"{served['url']}/models", timeout=30).json()
    app = _app(served["config"]["dashboard"], monkeypatch)
    app.radio(key="page").set_value("service").run()
    _no_failure(app)
    texts = _texts(app)
    assert EN("service.all_up") in texts
    tables = "\n".join(table.value.to_csv() for table in app.table)
    for model in models.values():
        assert f"{model['registered_name']} v{model['version']}" in tables
    monitoring = requests.get(f"{served['url']}/monitoring/summary", timeout=30)
    if monitoring.status_code == 404:
        assert EN("service.no_monitoring") in texts
    else:
        assert EN("service.monitoring_details") in [e.label for e in app.expander]


def test_an_api_that_is_down_is_said_and_the_pages_stay_up(served, monkeypatch) -> None:
    config = {**served["config"]["dashboard"], "api_url": f"http://127.0.0.1:{free_port()}"}
    app = _app(config, monkeypatch)
    app.text_input(key="client_id").input(str(_known_client(served))).run()
    _no_failure(app)
    assert any(EN("error.api_unreachable", url="", detail="")[:20] in e.value for e in app.error)
    for page in ("applicant", "service"):
        app.radio(key="page").set_value(page).run()
        _no_failure(app)
    assert app.error  # the service page says the API does not answer


def _browser() -> Any:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium first")
    return sync_playwright()


def test_a_real_browser_renders_the_clients_score_and_decision(served) -> None:
    client_id = _known_client(served)
    live = requests.get(
        f"{served['url']}/clients/{client_id}/score", params={"model": "full"}, timeout=30
    ).json()
    score = FR.number(live["score"], 1)
    decision = FR(f"decision.{live['decision']}")
    address = f"{url(served['config']['dashboard'])}/?client={client_id}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    with _browser() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # Streamlit scrolls inside its own container: a tall viewport shows the whole page.
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.goto(address, wait_until="domcontentloaded", timeout=60_000)
            metric = page.locator('[data-testid="stMetricValue"]', has_text=score)
            metric.first.wait_for(timeout=60_000)
            page.get_by_text(decision, exact=False).first.wait_for(timeout=30_000)
            # Charts are drawn after the text: wait for the gauge, the waterfall and the
            # three histograms, then for Vega to paint them.
            page.locator('[data-testid="stVegaLiteChart"]').nth(4).wait_for(timeout=60_000)
            page.wait_for_timeout(3000)
            body = page.inner_text("body")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert score in body
    assert decision in body
    assert FR("reasons.title") in body
    assert shot.stat().st_size > 10_000


def test_zz_a_stopped_model_server_is_named_on_every_page(served, monkeypatch) -> None:
    # Named zz so it runs last in this module: it stops the light server for good.
    # Stopped through the supervisor, so that it stays down (a crash would be restarted).
    served["stack"].rpc().stopProcess("serving:light")
    down = EN("error.model_server_down", server=EN("model.light"))
    app = _app(served["config"]["dashboard"], monkeypatch)
    app.radio(key="client_model").set_value("light")
    app.text_input(key="client_id").input(str(_known_client(served))).run()
    _no_failure(app)
    assert down in [e.value for e in app.error]
    # The stored score stands in, said so; the full model's comparison is still live.
    assert EN("decision.precomputed") in _texts(app)
    assert EN("compare.stored") in _texts(app)
    _fill_amounts(app, AMOUNTS)
    app.button(key="submit").click().run()
    _no_failure(app)
    assert down in [e.value for e in app.error]
    app.radio(key="page").set_value("service").run()
    _no_failure(app)
    light_server = EN("service.model_server", model=EN("model.light"))
    assert EN("service.some_down", parts=light_server) in [e.value for e in app.error]
