"""Business cost and threshold choice."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_scoring.models.cost import business_cost, cost_curve, cost_per_applicant


def test_known_confusion_matrix_gives_known_cost() -> None:
    # 2 missed defaults (FN), 3 refused good clients (FP), 1 caught default, 4 granted good.
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    refused = np.array([1, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    assert business_cost(y, refused, fn_cost=10, fp_cost=1) == 2 * 10 + 3 * 1
    assert business_cost(y, refused, fn_cost=1, fp_cost=5) == 2 * 1 + 3 * 5


def test_threshold_on_perfectly_separated_data_costs_nothing() -> None:
    y = np.array([0] * 50 + [1] * 5)
    p = np.concatenate([np.linspace(0.01, 0.3, 50), np.linspace(0.6, 0.9, 5)])
    curve = cost_curve(y, p, fn_cost=10, fp_cost=1)
    assert curve.best_cost == 0.0
    assert 0.3 < curve.best_threshold <= 0.6
    assert cost_per_applicant(y, p, curve.best_threshold, fn_cost=10, fp_cost=1) == 0.0


def test_costly_misses_lower_the_threshold() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(int)  # calibrated by construction
    cheap = cost_curve(y, p, fn_cost=1, fp_cost=1).best_threshold
    dear = cost_curve(y, p, fn_cost=10, fp_cost=1).best_threshold
    assert dear < cheap
    # With calibrated probabilities the optimum is near fp / (fp + fn) = 1/11.
    assert dear == pytest.approx(1 / 11, abs=0.05)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=2, max_size=60),
    st.floats(0.1, 20),
)
def test_cost_curve_matches_direct_cost_at_every_threshold(
    rows: list[tuple[int, float]], fn_cost: float
) -> None:
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    if y.min() == y.max():
        y[0] = 1 - y[0]
    curve = cost_curve(y, p, fn_cost=fn_cost, fp_cost=1)
    assert np.all(np.diff(curve.thresholds) > 0)
    direct = [cost_per_applicant(y, p, t, fn_cost=fn_cost, fp_cost=1) for t in curve.thresholds]
    np.testing.assert_allclose(curve.cost_per_applicant, direct, rtol=1e-12, atol=1e-12)
    # Refusing nobody costs every default; it is the last point of the curve.
    assert curve.cost_per_applicant[-1] == pytest.approx(fn_cost * y.sum() / len(y))
