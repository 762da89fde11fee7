"""The credit-risk validation statistics: Gini, KS, PSI and the gains table.

Plain functions on arrays, shared by the validation report of a trained model and by
the monitoring of a served one, so a PSI in a drift report and a PSI in a model card
are the same number.

Conventions:

- ``y`` is the observed outcome, 1 = default; ``p`` is the predicted probability of
  default (any score that ranks risk the same way gives the same Gini, KS and gains).
- Gini is the accuracy ratio of the CAP curve, 2·AUC − 1 (scikit-learn's AUC).
- KS is the two-sample Kolmogorov–Smirnov statistic between the scores of defaulters
  and of non-defaulters (``scipy.stats.ks_2samp``): the largest gap between the two
  cumulative distributions, the same as max |TPR − FPR| over all thresholds.
- PSI = Σ (current share − reference share) · ln(current share / reference share)
  over bins fixed on the *reference* (training) population; shares are floored at
  ``epsilon`` so an empty bin gives a large but finite term. Missing values form a
  bin of their own: a field that starts arriving empty is a shift, not noise to drop.
  Usual reading: < 0.1 stable, 0.1–0.25 a moderate shift, > 0.25 a major one.

No library fits PSI as validation teams define it (reference-quantile bins, a
missing bin, categorical fields, the per-bin table): optbinning and toad each bring
a framework of their own for one function of ten lines, so it is written here and
tested against a plain computation.

scipy and scikit-learn are imported in the two functions that use them: the
configuration imports this module (through the monitoring settings), so every
pipeline stage would otherwise pay ~1.4 s to import them at start.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Label of the bin holding missing values in :func:`psi_table`.
MISSING_BIN = "missing"
#: Label of the bin holding categories the reference never showed (categorical fields).
OTHER_BIN = "other"
#: Default floor of a bin's share in PSI (an empty bin would make the log infinite).
PSI_EPSILON = 1e-4


def _outcomes(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> tuple:
    """``y`` as int 0/1 and ``p`` as float, checked: same length, both classes, no NaN."""
    y_arr = np.asarray(y)
    p_arr = np.asarray(p, dtype=float)
    if y_arr.ndim != 1 or p_arr.shape != y_arr.shape:
        raise ValueError(
            f"y and p must be 1-d of the same length, got {y_arr.shape}, {p_arr.shape}"
        )
    if not np.isin(y_arr, (0, 1)).all():
        raise ValueError("y must hold only 0 (repaid) and 1 (default)")
    y_arr = y_arr.astype(int)
    if y_arr.min() == y_arr.max():
        raise ValueError("y must hold both defaults and non-defaults")
    if np.isnan(p_arr).any():
        raise ValueError(f"p holds {int(np.isnan(p_arr).sum())} missing probabilities")
    return y_arr, p_arr


def gini(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> float:
    """Gini coefficient (accuracy ratio) of probabilities ``p`` for outcomes ``y``: 2·AUC − 1."""
    y_arr, p_arr = _outcomes(y, p)
    from sklearn.metrics import roc_auc_score  # here, not at the top: see the module docstring

    return float(2.0 * roc_auc_score(y_arr, p_arr) - 1.0)


def ks_statistic(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> float:
    """Kolmogorov–Smirnov statistic between the scores of defaulters and non-defaulters."""
    y_arr, p_arr = _outcomes(y, p)
    from scipy.stats import ks_2samp

    return float(ks_2samp(p_arr[y_arr == 1], p_arr[y_arr == 0]).statistic)


def ks_curve(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """The two cumulative distributions behind KS, one row per distinct probability.

    Columns: ``threshold``, ``cum_defaults`` (share of defaulters with p ≤ threshold),
    ``cum_non_defaults`` (same for non-defaulters), ``gap`` (their difference, whose
    largest absolute value is :func:`ks_statistic`).
    """
    y_arr, p_arr = _outcomes(y, p)
    thresholds = np.unique(p_arr)
    bad = np.sort(p_arr[y_arr == 1])
    good = np.sort(p_arr[y_arr == 0])
    cum_bad = np.searchsorted(bad, thresholds, side="right") / len(bad)
    cum_good = np.searchsorted(good, thresholds, side="right") / len(good)
    return pd.DataFrame(
        {
            "threshold": np.concatenate([[thresholds[0]], thresholds]),
            "cum_defaults": np.concatenate([[0.0], cum_bad]),
            "cum_non_defaults": np.concatenate([[0.0], cum_good]),
            "gap": np.concatenate([[0.0], cum_good - cum_bad]),
        }
    )


def cap_curve(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """Cumulative accuracy profile: share of defaults caught when refusing the riskiest x.

    Rows run from the riskiest applicant down, starting at (0, 0); tied probabilities
    are taken together (one point per distinct probability), so the curve does not
    depend on the order of the rows. Columns: ``population_share``, ``defaults_share``.
    The area between this curve and the diagonal, over the same area for a perfect
    model, is :func:`gini`.
    """
    y_arr, p_arr = _outcomes(y, p)
    order = np.argsort(-p_arr, kind="stable")
    p_sorted, y_sorted = p_arr[order], y_arr[order]
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    rows = np.arange(1, len(y_arr) + 1)[last_of_tie]
    caught = np.cumsum(y_sorted)[last_of_tie]
    return pd.DataFrame(
        {
            "population_share": np.r_[0.0, rows / len(y_arr)],
            "defaults_share": np.r_[0.0, caught / y_arr.sum()],
        }
    )


def gains_table(
    y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray, bins: int = 10
) -> pd.DataFrame:
    """The gains (decile) table: equal-count bins from the riskiest applicants down.

    Bin 1 holds the ``1/bins`` highest probabilities. Rows are ranked by probability,
    ties broken by input order, and cut into ``bins`` groups whose sizes differ by at
    most one (``numpy.array_split``), so every bin exists even when probabilities tie.

    Columns: ``bin``, ``min_probability``, ``max_probability``, ``count``,
    ``defaults``, ``default_rate`` (observed), ``mean_predicted`` (calibration by bin:
    compare with ``default_rate``), ``cum_population_share``, ``cum_defaults_share``
    (share of all defaults captured by refusing bins 1..k), ``cum_non_defaults_share``,
    ``ks`` (cum_defaults_share − cum_non_defaults_share; its maximum approaches the KS
    statistic as bins grow finer), ``lift`` (the bin's default rate over the overall
    rate) and ``cum_lift`` (the same for bins 1..k together).
    """
    y_arr, p_arr = _outcomes(y, p)
    if not 1 <= bins <= len(y_arr):
        raise ValueError(
            f"bins must be between 1 and the number of rows ({len(y_arr)}), not {bins}"
        )
    order = np.argsort(-p_arr, kind="stable")
    groups = np.array_split(order, bins)
    count = np.array([len(g) for g in groups], dtype=float)
    defaults = np.array([y_arr[g].sum() for g in groups], dtype=float)
    total_defaults, total = y_arr.sum(), len(y_arr)
    rate = total_defaults / total
    cum_count, cum_defaults = np.cumsum(count), np.cumsum(defaults)
    table = pd.DataFrame(
        {
            "bin": np.arange(1, bins + 1),
            "min_probability": [p_arr[g].min() for g in groups],
            "max_probability": [p_arr[g].max() for g in groups],
            "count": count.astype(int),
            "defaults": defaults.astype(int),
            "default_rate": defaults / count,
            "mean_predicted": [p_arr[g].mean() for g in groups],
            "cum_population_share": cum_count / total,
            "cum_defaults_share": cum_defaults / total_defaults,
            "cum_non_defaults_share": (cum_count - cum_defaults) / (total - total_defaults),
        }
    )
    table["ks"] = table["cum_defaults_share"] - table["cum_non_defaults_share"]
    table["lift"] = table["default_rate"] / rate
    table["cum_lift"] = (cum_defaults / cum_count) / rate
    return table


def _as_series(values: Sequence | np.ndarray | pd.Series) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    return pd.Series(np.asarray(values) if isinstance(values, np.ndarray) else list(values))


def _floats(values: Sequence | np.ndarray | pd.Series) -> np.ndarray:
    """Numbers as a float64 array, every kind of missing value (None, NaN, NA) as NaN.

    Binning is done on plain arrays: pandas' per-call overhead (masking a Series and its
    index) was most of a PSI, paid for each of the 670 inputs of a full-model monitor.
    """
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(values, dtype=float).to_numpy(dtype=np.float64, na_value=np.nan)


def _known(values: np.ndarray) -> np.ndarray:
    """The non-missing values of a float64 array."""
    return values[~np.isnan(values)]


def _is_numeric(values: pd.Series) -> bool:
    """Numbers are binned by value; booleans and strings are categories."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def quantile_edges(
    reference: Sequence[float] | np.ndarray | pd.Series, bins: int = 10
) -> np.ndarray:
    """Inner bin edges at the reference's quantiles 1/bins … (bins−1)/bins, ties merged.

    Each edge is an observed value (the empirical quantile).

    The outer bins are open (−inf, first] and (last, +inf), so a current value outside
    the reference's range still falls in a bin. A constant reference gives one edge,
    its value: the bins are "at most it" and "above it", so a shift upward shows.
    Missing values are ignored here (they get their own bin).
    """
    return _quantile_edges(_known(_floats(reference)), bins)


def _quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """:func:`quantile_edges` of float64 ``values`` holding no missing value."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    if values.size == 0 or bins == 1:
        return np.array([], dtype=float)
    # The empirical quantile (an observed value), not an interpolated one: halfway
    # between the 0s and 1s of a flag is an edge no value can sit on.
    levels = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.unique(np.quantile(values, levels, method="inverted_cdf"))


def psi_table(
    reference: Sequence | np.ndarray | pd.Series,
    current: Sequence | np.ndarray | pd.Series,
    *,
    bins: int | Sequence[float] = 10,
    epsilon: float = PSI_EPSILON,
) -> pd.DataFrame:
    """Per-bin population stability: counts, shares and each bin's PSI term.

    Numeric values: ``bins`` is a number of reference-quantile bins
    (:func:`quantile_edges`) or explicit inner edges (a bin is ``(lower, upper]``; the
    outer bins reach ±inf). Non-numeric values (categories): one bin per reference
    category, in sorted order, plus ``"other"`` for categories the reference never
    showed. Both kinds end with the ``"missing"`` bin (NaN/None).

    Columns: ``bin`` (label), ``lower``, ``upper`` (NaN for categorical and missing
    bins), ``reference_count``, ``current_count``, ``reference_share``,
    ``current_share``, ``psi`` (the bin's term; the column sums to :func:`psi`).
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, not {epsilon}")
    ref, cur = _as_series(reference), _as_series(current)
    if ref.empty or cur.empty:
        raise ValueError("reference and current must both hold at least one value")
    if _is_numeric(ref):
        if not (_is_numeric(cur) or cur.isna().all()):
            raise ValueError(f"reference is numeric but current is {cur.dtype}")
        table = _numeric_bins(_floats(ref), _floats(cur), bins)
    else:
        if not isinstance(bins, int | np.integer):
            raise ValueError("explicit bin edges need numeric values; these are categories")
        table = _category_bins(ref, cur)
    ref_share = table["reference_count"].to_numpy() / len(ref)
    cur_share = table["current_count"].to_numpy() / len(cur)
    table["reference_share"] = ref_share
    table["current_share"] = cur_share
    floor_ref, floor_cur = np.maximum(ref_share, epsilon), np.maximum(cur_share, epsilon)
    table["psi"] = (floor_cur - floor_ref) * np.log(floor_cur / floor_ref)
    return table


def _numeric_bins(ref: np.ndarray, cur: np.ndarray, bins: int | Sequence[float]) -> pd.DataFrame:
    """Counts per ``(lower, upper]`` bin and of missing values (NaN), for float64 data."""
    ref_known, cur_known = _known(ref), _known(cur)
    if isinstance(bins, int | np.integer):
        inner = _quantile_edges(ref_known, int(bins))
    else:
        inner = np.asarray(bins, dtype=float)
        inner = inner[np.isfinite(inner)]
        if np.any(np.diff(inner) <= 0):
            raise ValueError(f"bin edges must be strictly increasing, got {list(bins)}")
    lower = np.r_[-np.inf, inner]
    upper = np.r_[inner, np.inf]

    def counts(known: np.ndarray) -> np.ndarray:
        # A value equal to an edge belongs to the bin that edge closes: the values at most
        # each edge, differenced. One comparison pass per edge is ~10x faster than
        # searchsorted over unsorted values (which branches on each of them).
        at_most = [np.count_nonzero(known <= edge) for edge in inner]
        return np.diff(np.asarray([0, *at_most, known.size], dtype=np.int64))

    labels = [
        f"({lo:.6g}, {hi:.6g}]" if np.isfinite(hi) else f"({lo:.6g}, inf)"
        for lo, hi in zip(lower, upper, strict=True)
    ]
    return pd.DataFrame(
        {
            "bin": [*labels, MISSING_BIN],
            "lower": np.r_[lower, np.nan],
            "upper": np.r_[upper, np.nan],
            "reference_count": np.r_[counts(ref_known), ref.size - ref_known.size],
            "current_count": np.r_[counts(cur_known), cur.size - cur_known.size],
        }
    )


def _category_bins(ref: pd.Series, cur: pd.Series) -> pd.DataFrame:
    """Counts per reference category, of unseen categories and of missing values."""
    categories = sorted(str(v) for v in ref.dropna().unique())
    ref_text, cur_text = ref.dropna().astype(str), cur.dropna().astype(str)
    ref_counts = ref_text.value_counts().reindex(categories, fill_value=0).to_numpy()
    cur_counts = cur_text.value_counts().reindex(categories, fill_value=0).to_numpy()
    unseen = int((~cur_text.isin(categories)).sum())
    return pd.DataFrame(
        {
            "bin": [*categories, OTHER_BIN, MISSING_BIN],
            "lower": np.nan,
            "upper": np.nan,
            "reference_count": np.r_[ref_counts, 0, ref.isna().sum()],
            "current_count": np.r_[cur_counts, unseen, cur.isna().sum()],
        }
    )


def psi(
    reference: Sequence | np.ndarray | pd.Series,
    current: Sequence | np.ndarray | pd.Series,
    *,
    bins: int | Sequence[float] = 10,
    epsilon: float = PSI_EPSILON,
) -> float:
    """Population stability index of ``current`` against ``reference`` (see :func:`psi_table`)."""
    return float(psi_table(reference, current, bins=bins, epsilon=epsilon)["psi"].sum())
