"""Pieces every page shows: the decision card, the reasons, and errors put into words."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from credit_scoring.dashboard.client import (
    ApiKeyRejected,
    ApiRefused,
    ApiUnreachable,
    ServiceDown,
)
from credit_scoring.dashboard.figures import GRANTED, gauge_chart, score_threshold
from credit_scoring.dashboard.i18n import Labels

#: The decision in a symbol as well as a word and a colour.
DECISION_SYMBOLS = {GRANTED: "✔", "refused": "✖"}


def explain_service_down(exc: ServiceDown, t: Labels) -> str:
    """Which part is down, in the officer's words."""
    if exc.server:
        return t("error.model_server_down", server=t(f"model.{exc.server}"))
    return t("error.service_down", message=exc.message)


@contextmanager
def guarded(t: Labels, *, refused_as: str = "warning") -> Iterator[None]:
    """Show what went wrong with the API in this section; the rest of the page still renders."""
    try:
        yield
    except ApiUnreachable as exc:
        st.error(
            t("error.api_unreachable", url=exc.url, detail=exc.detail), icon=":material/cloud_off:"
        )
    except ServiceDown as exc:
        st.error(explain_service_down(exc, t), icon=":material/warning:")
    except ApiKeyRejected as exc:
        st.error(t("error.unauthorized", message=exc.message, env=exc.key_env or "—"))
    except ApiRefused as exc:
        if exc.status == 429:
            st.warning(t("error.rate_limited"))
        else:
            show = st.warning if refused_as == "warning" else st.error
            show(t("error.refused", message=exc.message))


def decision_card(
    answer: Mapping[str, Any], t: Labels, *, caption: str | None = None, explain: bool = True
) -> None:
    """Decision (word, symbol and colour), the figures behind it, the gauge and the reasons."""
    decision = str(answer["decision"])
    word = t(f"decision.{decision}")
    separator = " :" if t.language == "fr" else ":"
    banner = f"### {DECISION_SYMBOLS.get(decision, '?')} {t('decision.title')}{separator} {word}"
    (st.success if decision == GRANTED else st.error)(banner)
    probability = float(answer["probability"])
    threshold = float(answer["threshold"])
    figures = [
        (t("metric.score"), t.number(float(answer["score"]), 1), t("metric.score_help")),
        (t("metric.probability"), t.percent(100 * probability), None),
        (
            t("metric.threshold"),
            t.percent(100 * threshold),
            t("metric.threshold_help", score=t.number(score_threshold(threshold), 1)),
        ),
    ]
    if answer.get("points") is not None:
        grade = answer.get("grade")
        points = t.number(float(answer["points"]))
        figures.append((t("metric.points"), f"{points} · {grade}" if grade else points, None))
    version = answer.get("model_version")
    registered = answer.get("registered_name") or ""
    figures.append((t("metric.model"), f"v{version}" if version else "—", registered or None))
    for col, (label, value, help_text) in zip(st.columns(len(figures)), figures, strict=True):
        col.metric(label, value, help=help_text)
    gauge, why = st.columns([3, 2]) if explain else (st.container(), None)
    with gauge:
        st.altair_chart(
            gauge_chart(
                float(answer["score"]),
                score_threshold(threshold),
                labels={
                    GRANTED: t("decision.granted"),
                    "refused": t("decision.refused"),
                    "axis": t("chart.score_axis"),
                },
                shown=t.number(float(answer["score"]), 1),
            ),
            width="stretch",
        )
        st.caption(
            caption
            or t(
                "decision.rule",
                threshold=t.percent(100 * threshold),
                score=t.number(score_threshold(threshold), 1),
            )
        )
    if why is not None:
        with why:
            reasons(answer, t)


def reasons(answer: Mapping[str, Any], t: Labels, *, limit: int = 3) -> None:
    """The principal reasons: the API's own texts when it gives them, else its contributions.

    The scorecard's reason codes (``reasons``: code, field, text, contribution) are
    the plain-words answer; without them the largest signed SHAP contributions
    are named in the catalog's words, the risk raisers first.
    """
    given: Sequence[Mapping[str, Any]] | None = answer.get("reasons")
    st.markdown(f"**{t('reasons.title')}**")
    if given:
        for reason in given:
            text = reason.get("text") or t.feature(str(reason.get("field", "")))
            st.markdown(f"- {_arrow(float(reason.get('contribution') or 0.0), t, str(text))}")
        return
    contributions = answer.get("contributions") or []
    if not contributions:
        st.caption(t("reasons.none"))
        return
    ups = [c for c in contributions if float(c["contribution"]) > 0][:limit]
    downs = [c for c in contributions if float(c["contribution"]) < 0][:limit]
    for item in ups + downs:
        value = item.get("value")
        shown = "" if value is None else f" = {_value(value, t)}"
        name = f"{t.feature(str(item['feature']))}{shown}"
        st.markdown(f"- {_arrow(float(item['contribution']), t, name)}")
    st.caption(t("reasons.from_contributions"))


def _arrow(contribution: float, t: Labels, what: str) -> str:
    # The direction in a symbol and in words, the reason in bold.
    if contribution > 0:
        return f"▲ **{what}** — {t('reasons.raises')}"
    return f"▼ **{what}** — {t('reasons.lowers')}"


def _value(value: Any, t: Labels) -> str:
    if isinstance(value, int | float):
        return t.number(float(value), 0 if abs(value) >= 100 else 2)
    return str(value)
