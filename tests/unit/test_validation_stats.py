"""Gini, KS, PSI, CAP and the gains table against plain computations on small fixed data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from credit_scoring.validation.stats import (
    MISSING_BIN,
    OTHER_BIN,
    cap_curve,
    gains_table,
    gini,
    ks_curve,
    ks_statistic,
    psi,
    psi_table,
    quantile_edges,
)

# 40 applicants: probabilities with ties, outcomes that mostly follow them.
RNG = np.random.default_rng(7)
P = np.round(RNG.uniform(0, 1, 40), 1)
Y = (RNG.uniform(0, 1, 40) < P).astype(int)


def _plain_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Share of (default, non-default) pairs ranked right, ties counting one half."""
    bad, good = p[y == 1], p[y == 0]
    wins = sum((b > g) + 0.5 * (b == g) for b in bad for g in good)
    return wins / (len(bad) * len(good))


def _plain_ks(y: np.ndarray, p: np.ndarray) -> float:
    """max over thresholds of |F_bad(t) - F_good(t)|, the distributions counted by hand."""
    bad, good = p[y == 1], p[y == 0]
    gaps = []
    for t in sorted(set(p)):
        gaps.append(
            abs(sum(b <= t for b in bad) / len(bad) - sum(g <= t for g in good) / len(good))
        )
    return max(gaps)


def test_gini_is_twice_the_pairwise_auc_minus_one() -> None:
    assert gini(Y, P) == pytest.approx(2 * _plain_auc(Y, P) - 1)
    assert gini([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert gini([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == -1.0


def test_ks_matches_the_largest_gap_between_the_two_distributions() -> None:
    assert ks_statistic(Y, P) == pytest.approx(_plain_ks(Y, P))
    # Perfect separation: KS 1; identical scores: KS 0.
    assert ks_statistic([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert ks_statistic([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.0
    curve = ks_curve(Y, P)
    assert curve["gap"].abs().max() == pytest.approx(_plain_ks(Y, P))
    assert curve.iloc[0].tolist()[1:] == [0.0, 0.0, 0.0]
    assert curve["cum_defaults"].iloc[-1] == curve["cum_non_defaults"].iloc[-1] == 1.0


def test_cap_curve_area_gives_the_gini() -> None:
    cap = cap_curve(Y, P)
    assert cap.iloc[0].tolist() == [0.0, 0.0] and cap.iloc[-1].tolist() == [1.0, 1.0]
    assert cap["defaults_share"].is_monotonic_increasing
    area = np.trapezoid(cap["defaults_share"], cap["population_share"])
    rate = Y.mean()
    accuracy_ratio = (area - 0.5) / ((1 - rate / 2) - 0.5)
    assert accuracy_ratio == pytest.approx(gini(Y, P))


def test_bad_outcomes_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="both defaults"):
        gini([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="only 0"):
        ks_statistic([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="same length"):
        gini([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="missing probabilities"):
        gini([0, 1], [0.1, np.nan])


def test_gains_table_against_a_hand_count() -> None:
    table = gains_table(Y, P, bins=4)
    assert table["bin"].tolist() == [1, 2, 3, 4]
    assert table["count"].tolist() == [10, 10, 10, 10]
    order = sorted(range(40), key=lambda i: (-P[i], i))  # riskiest first, ties by position
    total_bad, rate = Y.sum(), Y.mean()
    caught = 0
    for k in range(4):
        rows = order[10 * k : 10 * (k + 1)]
        bad = sum(Y[i] for i in rows)
        caught += bad
        row = table.iloc[k]
        assert row["defaults"] == bad
        assert row["default_rate"] == pytest.approx(bad / 10)
        assert row["mean_predicted"] == pytest.approx(np.mean([P[i] for i in rows]))
        assert row["min_probability"] == min(P[i] for i in rows)
        assert row["cum_defaults_share"] == pytest.approx(caught / total_bad)
        assert row["cum_non_defaults_share"] == pytest.approx(
            (10 * (k + 1) - caught) / (40 - total_bad)
        )
        assert row["lift"] == pytest.approx(bad / 10 / rate)
        assert row["cum_lift"] == pytest.approx(caught / (10 * (k + 1)) / rate)
    assert table["cum_population_share"].iloc[-1] == table["cum_defaults_share"].iloc[-1] == 1.0
    assert table["max_probability"].is_monotonic_decreasing
    # Ten bins on 40 rows keep equal sizes; uneven sizes differ by at most one.
    assert set(gains_table(Y, P, bins=7)["count"]) <= {5, 6}
    with pytest.raises(ValueError, match="bins"):
        gains_table(Y, P, bins=41)


def test_psi_on_two_halves_equals_the_formula() -> None:
    reference = np.arange(10, dtype=float)  # median edge 4 (an observed value)
    current = np.array([0, 1, 2, 8, 9, 9, 9, 9], dtype=float)
    table = psi_table(reference, current, bins=2)
    assert table["bin"].tolist() == ["(-inf, 4]", "(4, inf)", MISSING_BIN]
    assert table["reference_count"].tolist() == [5, 5, 0]
    assert table["current_count"].tolist() == [3, 5, 0]
    expected = (3 / 8 - 0.5) * math.log(0.75) + (5 / 8 - 0.5) * math.log(1.25)
    assert psi(reference, current, bins=2) == pytest.approx(expected)
    assert table["psi"].sum() == pytest.approx(expected)
    assert psi(reference, reference) == 0.0


def test_psi_quantile_bins_by_hand() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=1000)
    current = rng.normal(0.3, 1.2, size=700)
    edges = np.quantile(reference, [0.1 * k for k in range(1, 10)], method="inverted_cdf")
    ref_bins = np.digitize(reference, edges, right=True)
    cur_bins = np.digitize(current, edges, right=True)
    total = 0.0
    for b in range(10):
        r = max((ref_bins == b).mean(), 1e-4)
        c = max((cur_bins == b).mean(), 1e-4)
        total += (c - r) * math.log(c / r)
    assert psi(reference, current) == pytest.approx(total)
    assert psi(reference, current) > 0.05


def test_psi_missing_values_are_a_bin_of_their_own() -> None:
    reference = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan] * 20)
    current = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan, np.nan, np.nan, np.nan] * 10)
    table = psi_table(reference, current, bins=4).set_index("bin")
    assert table.loc[MISSING_BIN, "reference_share"] == pytest.approx(0.2)
    assert table.loc[MISSING_BIN, "current_share"] == pytest.approx(0.5)
    shares = np.array([[0.2, 0.125]] * 4 + [[0.2, 0.5]])
    expected = sum((c - r) * math.log(c / r) for r, c in shares)
    assert psi(reference, current, bins=4) == pytest.approx(expected)


def test_psi_empty_bins_are_floored_by_epsilon() -> None:
    reference = np.arange(100, dtype=float)
    current = np.full(50, 500.0)  # everything lands in the top bin
    table = psi_table(reference, current, bins=10, epsilon=1e-3)
    top = table.iloc[9]
    assert top["current_share"] == 1.0 and top["reference_share"] == pytest.approx(0.1)
    empty = table.iloc[0]
    assert empty["current_count"] == 0
    assert empty["psi"] == pytest.approx((1e-3 - 0.1) * math.log(1e-3 / 0.1))
    assert math.isfinite(psi(reference, current))
    with pytest.raises(ValueError, match="epsilon"):
        psi(reference, current, epsilon=0)


def test_psi_ties_and_constant_reference() -> None:
    # 80% zeros: the tied quantiles merge into one edge at 0.
    flags = np.array([0.0] * 80 + [1.0] * 20)
    assert quantile_edges(flags, 10).tolist() == [0.0, 1.0]
    table = psi_table(flags, flags)
    assert table["reference_count"].tolist() == [80, 20, 0, 0]
    # A constant reference: "at most c" and "above c", so an upward shift shows.
    constant = np.full(30, 5.0)
    assert quantile_edges(constant).tolist() == [5.0]
    shifted = psi_table(constant, np.r_[np.full(10, 5.0), np.full(10, 6.0)])
    assert shifted["current_count"].tolist() == [10, 10, 0]
    assert psi(constant, constant) == 0.0
    assert psi(constant, np.full(10, 6.0)) > 1.0


def test_psi_explicit_edges_and_categories() -> None:
    table = psi_table([1, 5, 9, 12], [0, 20, 30, 40], bins=[2, 10])
    assert table["bin"].tolist() == ["(-inf, 2]", "(2, 10]", "(10, inf)", MISSING_BIN]
    assert table["reference_count"].tolist() == [1, 2, 1, 0]
    assert table["current_count"].tolist() == [1, 0, 3, 0]
    with pytest.raises(ValueError, match="increasing"):
        psi([1, 2], [1, 2], bins=[3, 1])

    reference = ["F"] * 60 + ["M"] * 40
    current = ["F"] * 30 + ["M"] * 50 + ["XNA"] * 10 + [None] * 10
    table = psi_table(reference, current)
    assert table["bin"].tolist() == ["F", "M", OTHER_BIN, MISSING_BIN]
    assert table["current_count"].tolist() == [30, 50, 10, 10]
    shares = [(0.6, 0.3), (0.4, 0.5), (1e-4, 0.1), (1e-4, 0.1)]
    assert psi(reference, current) == pytest.approx(
        sum((c - r) * math.log(c / r) for r, c in shares)
    )
    with pytest.raises(ValueError, match="numeric"):
        psi([1.0, 2.0], ["a", "b"])
