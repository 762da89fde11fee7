"""What the dashboard computes from API answers, and the charts it draws from them.

Pure functions of JSON-shaped data: tested without Streamlit or a server. Charts
are Altair (Streamlit renders them natively) and never rely on colour alone:
every coloured mark also carries a sign, a word or a position.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

#: The two decisions the model returns, and the ones shown when they are unknown.
GRANTED, REFUSED = "granted", "refused"
#: Colour pairs chosen to stay distinct for the common colour-vision deficiencies
#: (blue/orange rather than green/red); the text always says the same thing.
DECISION_COLOURS = {GRANTED: "#1f6fb2", REFUSED: "#d9661f"}
RISK_COLOURS = {"up": "#d9661f", "down": "#1f6fb2"}


def score_threshold(probability_threshold: float) -> float:
    """The 0-100 score at which the decision flips (score = (1 - p) * 100)."""
    return round((1.0 - probability_threshold) * 100.0, 1)


def percentile_in_histogram(histogram: Mapping[str, Any], value: float) -> float | None:
    """Share of the population (in %) strictly below ``value``, from a published histogram.

    The API publishes bins, not the column: within the bin holding ``value`` the
    clients are taken as evenly spread, so the answer is exact at every bin edge
    and off by at most one bin's share in between. ``below``/``above`` count the
    clients outside the drawn range; a value in one of those tails counts that
    whole tail on the far side (the published range holds all but the top 0.5%).
    """
    edges = np.asarray(histogram["edges"], dtype=float)
    counts = np.asarray(histogram["counts"], dtype=float)
    below = float(histogram.get("below") or 0)
    above = float(histogram.get("above") or 0)
    total = counts.sum() + below + above
    if total == 0 or math.isnan(value):
        return None
    if value <= edges[0]:
        return 0.0
    if value >= edges[-1]:
        return 100.0 * (below + counts.sum()) / total
    i = int(np.searchsorted(edges, value, side="right")) - 1
    width = edges[i + 1] - edges[i]
    inside = counts[i] * ((value - edges[i]) / width if width > 0 else 0.0)
    return 100.0 * (below + counts[:i].sum() + inside) / total


def histogram_frame(histogram: Mapping[str, Any], population: str) -> pd.DataFrame:
    """One row per bar: its edges, count and share of the population (%)."""
    edges = list(histogram["edges"])
    counts = list(histogram["counts"])
    total = sum(counts) + (histogram.get("below") or 0) + (histogram.get("above") or 0)
    return pd.DataFrame(
        {
            "start": edges[:-1],
            "end": edges[1:],
            "count": counts,
            "share": [100.0 * c / total if total else 0.0 for c in counts],
            "population": population,
        }
    )


def population_chart(
    bars: Mapping[str, pd.DataFrame],
    value: float,
    *,
    title: str,
    axis: str,
    share: str,
    marker: str,
) -> alt.VConcatChart:
    """One histogram per population (shares, so they read on the same scale), value marked.

    The client's value is a labelled dashed rule on each, not a colour; the x axes
    are shared so that the two populations line up.
    """
    # The axis stops at the published range (all but the top 0.5%): a client beyond it
    # stretches the axis rather than fall off the chart.
    low = min(float(f["start"].min()) for f in bars.values())
    high = max(max(float(f["end"].max()) for f in bars.values()), value * 1.03)
    panels = []
    for population, frame in bars.items():
        base = alt.Chart(frame).encode(
            x=alt.X(
                "start:Q",
                title=axis,
                axis=alt.Axis(format="~s"),
                scale=alt.Scale(domain=[low, high], nice=False),
            ),
            x2="end:Q",
            y=alt.Y("share:Q", title=share),
            y2=alt.datum(0),
            tooltip=[
                alt.Tooltip("start:Q", format=",.0f"),
                alt.Tooltip("end:Q", format=",.0f"),
                alt.Tooltip("count:Q", format=","),
                alt.Tooltip("share:Q", format=".1f"),
            ],
        )
        hist = base.mark_bar(color="#8fa3b8", stroke="white", strokeWidth=0.3)
        here = alt.Chart(pd.DataFrame({"value": [value], "label": [marker]}))
        rule = here.mark_rule(color="#111", strokeWidth=2, strokeDash=[4, 2]).encode(x="value:Q")
        label = here.mark_text(align="left", dx=4, y=6, fontWeight="bold", color="#111").encode(
            x="value:Q", text="label:N"
        )
        panels.append(
            alt.layer(hist, rule, label).properties(
                height=130, title=alt.TitleParams(population, fontSize=12, anchor="start")
            )
        )
    return (
        alt.vconcat(*panels)
        .resolve_scale(x="shared")
        .properties(title=alt.TitleParams(title, fontSize=14, anchor="start"))
    )


def waterfall_frame(
    base_value: float, contributions: Sequence[Mapping[str, Any]], name: Callable[[str], str]
) -> pd.DataFrame:
    """Waterfall steps from the base log-odds through each contribution, in the API's order.

    Each step starts where the previous one ended; ``direction`` and the signed
    ``label`` say which way it pushes the risk, so the chart reads without colour.
    """
    rows: list[dict[str, Any]] = []
    level = float(base_value)
    for rank, item in enumerate(contributions):
        delta = float(item["contribution"])
        value = item.get("value")
        shown = "" if value is None else f" = {_short(value)}"
        rows.append(
            {
                "rank": rank,
                "feature": f"{name(str(item['feature']))}{shown}",
                "start": level,
                "end": level + delta,
                "contribution": delta,
                "direction": "up" if delta > 0 else "down",
                "label": f"{delta:+.2f}",
            }
        )
        level += delta
    return pd.DataFrame(rows)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def waterfall_chart(
    steps: pd.DataFrame,
    base_value: float,
    *,
    title: str,
    axis: str,
    legend: Mapping[str, str],
) -> alt.LayerChart:
    """Horizontal waterfall of SHAP contributions (log-odds), largest first, base marked."""
    order = steps["feature"].tolist()
    steps = steps.assign(
        low=steps[["start", "end"]].min(axis=1),
        high=steps[["start", "end"]].max(axis=1),
        meaning=steps["direction"].map(legend),
    )
    colour = alt.Color(
        "meaning:N",
        title=None,
        scale=alt.Scale(
            domain=[legend["up"], legend["down"]],
            range=[RISK_COLOURS["up"], RISK_COLOURS["down"]],
        ),
        legend=alt.Legend(orient="bottom"),
    )
    y = alt.Y("feature:N", sort=order, title=None, axis=alt.Axis(labelLimit=320))
    bars = (
        alt.Chart(steps)
        .mark_bar(height=14)
        .encode(
            y=y,
            x=alt.X("low:Q", title=axis, scale=alt.Scale(zero=False)),
            x2="high:Q",
            color=colour,
            tooltip=["feature:N", alt.Tooltip("contribution:Q", format="+.3f")],
        )
    )
    text = (
        alt.Chart(steps)
        .mark_text(align="left", dx=4, fontSize=11)
        .encode(y=y, x="high:Q", text="label:N")
    )
    base = (
        alt.Chart(pd.DataFrame({"base": [base_value]}))
        .mark_rule(strokeDash=[3, 3], color="#555")
        .encode(x="base:Q")
    )
    return alt.layer(bars, text, base).properties(height=alt.Step(26), title=title)


def gauge_chart(
    score: float, threshold_score: float, *, labels: Mapping[str, str], shown: str | None = None
) -> alt.LayerChart:
    """The 0-100 score on a band split at the threshold, each zone named in words."""
    zones = pd.DataFrame(
        {
            "start": [0.0, threshold_score],
            "end": [threshold_score, 100.0],
            "zone": [labels[REFUSED], labels[GRANTED]],
            "mid": [threshold_score / 2, (threshold_score + 100) / 2],
        }
    )
    band = (
        alt.Chart(zones)
        .mark_bar(height=26, opacity=0.28)
        .encode(
            x=alt.X("start:Q", scale=alt.Scale(domain=[0, 100]), title=labels["axis"]),
            x2="end:Q",
            color=alt.Color(
                "zone:N",
                scale=alt.Scale(
                    domain=[labels[REFUSED], labels[GRANTED]],
                    range=[DECISION_COLOURS[REFUSED], DECISION_COLOURS[GRANTED]],
                ),
                legend=None,
            ),
        )
    )
    names = (
        alt.Chart(zones)
        .mark_text(fontSize=12, fontWeight="bold", color="#333")
        .encode(x="mid:Q", text="zone:N")
    )
    marker = pd.DataFrame({"score": [score], "label": [shown or f"{score:.1f}"]})
    tick = alt.Chart(marker).mark_tick(thickness=4, size=34, color="#111").encode(x="score:Q")
    value = (
        alt.Chart(marker)
        .mark_text(dy=26, fontWeight="bold", fontSize=13, color="#111")
        .encode(x="score:Q", text="label:N")
    )
    cut = (
        alt.Chart(pd.DataFrame({"t": [threshold_score]}))
        .mark_rule(strokeDash=[4, 2], color="#333")
        .encode(x="t:Q")
    )
    return alt.layer(band, names, cut, tick, value).properties(height=90)


def what_if_values(current: float, low: float, high: float, points: int) -> list[float]:
    """``points`` amounts from ``low`` to ``high`` times ``current``, evenly on a log scale.

    Amounts span orders of magnitude and the model reacts to ratios, so a geometric
    grid spends its calls where the curve moves; the current value is always on it.
    """
    grid = np.geomspace(low * current, high * current, num=max(points, 2))
    values = sorted({round(float(v), 2) for v in grid} | {round(float(current), 2)})
    return values


def what_if_chart(
    curve: pd.DataFrame,
    current: float,
    probability_threshold: float,
    *,
    axis: str,
    probability: str,
    threshold_label: str,
    current_label: str,
) -> alt.LayerChart:
    """P(default) against one amount, the threshold as a labelled line, the applicant marked."""
    x = alt.X("value:Q", title=axis, scale=alt.Scale(type="log"), axis=alt.Axis(format="~s"))
    line = (
        alt.Chart(curve)
        .mark_line(point=True, color="#1f3b57")
        .encode(
            x=x,
            y=alt.Y("probability:Q", title=probability, axis=alt.Axis(format="%")),
            tooltip=[
                alt.Tooltip("value:Q", format=",.0f"),
                alt.Tooltip("probability:Q", format=".1%"),
                "decision:N",
            ],
        )
    )
    rule = alt.Chart(pd.DataFrame({"t": [probability_threshold], "label": [threshold_label]}))
    threshold = rule.mark_rule(strokeDash=[5, 3], color=DECISION_COLOURS[REFUSED]).encode(y="t:Q")
    threshold_text = rule.mark_text(align="left", dy=-7, x=4, color="#333").encode(
        y="t:Q", text="label:N"
    )
    here = alt.Chart(pd.DataFrame({"value": [current], "label": [current_label]}))
    you = here.mark_rule(color="#111", strokeWidth=2).encode(x=alt.X("value:Q"))
    you_text = here.mark_text(align="left", dx=4, y=8, fontWeight="bold").encode(
        x="value:Q", text="label:N"
    )
    return alt.layer(line, threshold, threshold_text, you, you_text).properties(height=300)
