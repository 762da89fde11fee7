"""The application encoder: raw applicant fields in, the model's numeric features out.

One object turns the dataset's own fields (``CODE_GENDER="F"``, ``DAYS_EMPLOYED=365243``,
``NAME_INCOME_TYPE="Working"`` ...) into the encoded features of the "LightGBM with
simple features" recipe: raw numbers, binary codes, one-hot columns and five ratios.
History aggregates (``BURO_*``, ``PREV_*`` ...) are computed elsewhere and only passed
through. The same fitted object builds the training matrix and sits first in the served
model's pipeline, so the batch and online paths cannot drift apart.

Decisions:

- Vocabularies come from :mod:`credit_scoring.data.schema`, never from the data, so the
  output columns are the same whatever categories a file or request happens to hold.
  ``fit`` learns nothing; it only compiles the requested feature list into index maps.
- An unseen category (a string outside the vocabulary) encodes like a missing value:
  all zeros for its one-hot family, NaN for a binary code. It is counted and reported
  once per call (:attr:`Encoded.unseen`, one log warning), never once per row.
- Output is float64. It holds every raw amount, day count and identifier exactly
  (float32 would round incomes above 2**24 = 16.8 million), matches the float64 history
  aggregates and the ``double`` columns of the served model's signature; LightGBM bins
  features anyway, so float32 would only save memory.
- Ratios keep the recipe's float semantics, like the history aggregates do: x/0 is
  ±inf and 0/0 is NaN (the real files never hold a zero denominator).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from credit_scoring.data.schema import (
    DAYS_SENTINEL,
    SENTINEL_COLUMNS,
    TABLES,
    feature_name,
    features_795,
)
from credit_scoring.errors import SchemaError

log = logging.getLogger(__name__)

#: Categorical fields the recipe codes as one number instead of one-hot columns. A
#: vocabulary value absent from its map (CODE_GENDER "XNA", "not available") codes as NaN.
BINARY_CODES: dict[str, dict[str, float]] = {
    "CODE_GENDER": {"M": 0.0, "F": 1.0},
    "FLAG_OWN_CAR": {"N": 0.0, "Y": 1.0},
    "FLAG_OWN_REALTY": {"N": 0.0, "Y": 1.0},
}

#: The recipe's ratio features: name -> (numerator, denominator), computed after the
#: DAYS_EMPLOYED sentinel became NaN (a pensioner has no employment-to-age ratio).
RATIOS: dict[str, tuple[str, str]] = {
    "DAYS_EMPLOYED_PERC": ("DAYS_EMPLOYED", "DAYS_BIRTH"),
    "INCOME_CREDIT_PERC": ("AMT_INCOME_TOTAL", "AMT_CREDIT"),
    "INCOME_PER_PERSON": ("AMT_INCOME_TOTAL", "CNT_FAM_MEMBERS"),
    "ANNUITY_INCOME_PERC": ("AMT_ANNUITY", "AMT_INCOME_TOTAL"),
    "PAYMENT_RATE": ("AMT_ANNUITY", "AMT_CREDIT"),
}

#: Up to this many rows, input values are fetched with one ``DataFrame.to_numpy`` call
#: instead of column by column. For a single row, pandas' per-column overhead (~10 µs
#: for each of ~130 columns) would dwarf the encoding; the object matrix costs ~5 µs a
#: row, so beyond a few hundred rows the column-wise path wins. Both paths feed the same
#: encoding code and give identical results.
_ROWWISE_MAX_ROWS = 256

_IDENTIFIERS = ("SK_ID_CURR", "TARGET")

FeatureKind = Literal["number", "binary", "onehot", "ratio"]


@dataclass(frozen=True)
class ApplicationFeature:
    """How one application-level feature is computed: its kind and the raw fields it reads.

    ``sources`` is the raw field (a ratio: numerator then denominator); ``value`` is
    the category a one-hot column flags.
    """

    kind: FeatureKind
    sources: tuple[str, ...]
    value: str | None = None


@cache
def application_features() -> dict[str, ApplicationFeature]:
    """The recipe's application-level features, in the model's order, by encoded name.

    Order: numbers and binary codes in file order, then one-hot columns (file order,
    vocabulary order), then the ratios; names as the recipe forms them.
    """
    columns = [c for c in TABLES["application_train"].columns if c.name not in _IDENTIFIERS]
    derived: dict[str, ApplicationFeature] = {}
    for col in columns:
        if col.kind != "str":
            derived[col.name] = ApplicationFeature("number", (col.name,))
        elif col.name in BINARY_CODES:
            derived[col.name] = ApplicationFeature("binary", (col.name,))
    for col in columns:
        if col.kind == "str" and col.name not in BINARY_CODES:
            for value in col.vocabulary or ():
                name = feature_name(f"{col.name}_{value}")
                derived[name] = ApplicationFeature("onehot", (col.name,), value)
    for name, operands in RATIOS.items():
        derived[name] = ApplicationFeature("ratio", operands)
    return derived


@dataclass(frozen=True)
class Encoded:
    """The result of one encoding call: the matrix and what it could not encode.

    ``unseen`` maps a categorical field to the counts of its values outside the
    schema's vocabulary (encoded as unknown); it is empty when everything was known.
    """

    values: np.ndarray
    unseen: dict[str, Counter[str]] = field(default_factory=dict)

    def unseen_counts(self) -> dict[str, int]:
        """Rows with an unseen category, per field."""
        return {column: sum(counts.values()) for column, counts in self.unseen.items()}


def describe_unseen(unseen: Mapping[str, Counter[str]], examples: int = 3) -> str:
    """One line naming each field, its count of unseen values and the commonest ones."""
    parts = []
    for column, counts in unseen.items():
        shown = ", ".join(repr(value) for value, _ in counts.most_common(examples))
        parts.append(f"{column}: {sum(counts.values())} rows (e.g. {shown})")
    return "; ".join(parts)


@dataclass(frozen=True)
class _Plan:
    """A feature list compiled into index maps, so that encoding is a few numpy operations.

    Numbers (raw numeric fields, passed-through aggregates) are written straight into
    their output columns; ratio operands are gathered into a small float matrix first.
    A categorical value becomes a global code: field ``f`` owns codes ``offset_f`` to
    ``offset_f + len(vocabulary_f)``, the last one meaning "missing or unseen"; tables
    indexed by code say which output column a code sets to 1 and which value it takes
    in a binary column.
    """

    plain_inputs: tuple[str, ...]  # input column of each plain_out column
    plain_out: np.ndarray
    operand_inputs: tuple[str, ...]  # input columns of the ratios
    ratio_out: np.ndarray  # output column <- operand ratio_num / operand ratio_den
    ratio_num: np.ndarray
    ratio_den: np.ndarray
    sentinel_out: np.ndarray  # output columns whose DAYS sentinel means "not applicable"
    sentinel_operands: np.ndarray  # the same, among the operands
    categorical_inputs: tuple[str, ...]
    lookups: tuple[dict[str, int], ...]  # per field: raw value -> global code
    unknown_codes: tuple[int, ...]  # per field: its "missing or unseen" code
    is_unknown: np.ndarray  # per code
    onehot_columns: np.ndarray  # every requested one-hot column, zeroed before the ones
    onehot_target: np.ndarray  # per code: the output column it sets to 1, or -1
    binary_out: np.ndarray  # output column <- binary_value[code of field binary_field]
    binary_field: np.ndarray
    binary_value: np.ndarray  # per code


def _compile(features: tuple[str, ...]) -> _Plan:
    """The plan producing ``features`` (already checked to be model features), in order."""
    derived = application_features()
    operands: dict[str, int] = {}

    def operand(column: str) -> int:
        return operands.setdefault(column, len(operands))

    plain: list[tuple[int, str]] = []
    ratios: list[tuple[int, int, int]] = []
    categorical: dict[str, list[tuple[int, ApplicationFeature]]] = {}
    for out, name in enumerate(features):
        # Not an application feature: a history aggregate, passed through like a number.
        spec = derived.get(name, ApplicationFeature("number", (name,)))
        if spec.kind == "number":
            plain.append((out, spec.sources[0]))
        elif spec.kind == "ratio":
            numerator, denominator = spec.sources
            ratios.append((out, operand(numerator), operand(denominator)))
        else:
            categorical.setdefault(spec.sources[0], []).append((out, spec))

    lookups, unknown_codes = [], []
    is_unknown: list[bool] = []
    onehot_columns: list[int] = []
    onehot_target: list[int] = []
    binary_out, binary_field = [], []
    binary_value: list[float] = []
    for field_index, (column, members) in enumerate(categorical.items()):
        vocabulary = TABLES["application_train"].column(column).vocabulary or ()
        offset = len(is_unknown)
        lookups.append({value: offset + code for code, value in enumerate(vocabulary)})
        unknown_codes.append(offset + len(vocabulary))
        is_unknown += [False] * len(vocabulary) + [True]
        target = dict.fromkeys([*vocabulary, None], -1)
        values = dict.fromkeys([*vocabulary, None], np.nan)
        for out, spec in members:
            if spec.kind == "binary":
                binary_out.append(out)
                binary_field.append(field_index)
                values.update(BINARY_CODES[column])
            else:
                onehot_columns.append(out)
                target[spec.value] = out
        onehot_target += target.values()
        binary_value += values.values()

    def indices(values: Sequence[int]) -> np.ndarray:
        return np.asarray(values, dtype=np.intp)

    sentinel_columns = SENTINEL_COLUMNS["application"]
    return _Plan(
        plain_inputs=tuple(c for _, c in plain),
        plain_out=indices([o for o, _ in plain]),
        operand_inputs=tuple(operands),
        ratio_out=indices([o for o, _, _ in ratios]),
        ratio_num=indices([n for _, n, _ in ratios]),
        ratio_den=indices([d for _, _, d in ratios]),
        sentinel_out=indices([o for o, c in plain if c in sentinel_columns]),
        sentinel_operands=indices([i for c, i in operands.items() if c in sentinel_columns]),
        categorical_inputs=tuple(categorical),
        lookups=tuple(lookups),
        unknown_codes=tuple(unknown_codes),
        is_unknown=np.asarray(is_unknown, dtype=bool),
        onehot_columns=indices(onehot_columns),
        onehot_target=indices(onehot_target),
        binary_out=indices(binary_out),
        binary_field=indices(binary_field),
        binary_value=np.asarray(binary_value, dtype=np.float64),
    )


class ApplicationEncoder(TransformerMixin, BaseEstimator):
    """Encode raw application fields (and pass history aggregates through) into features.

    Parameters
    ----------
    features:
        The encoded feature names to produce, in output order; any subset of
        :func:`~credit_scoring.data.schema.features_795` (default: all 795). Application
        features are computed from the raw fields they need; the others (history
        aggregates) are copied from the input column of the same name.

    The input is a pandas DataFrame in the dataset's own names, types and units. Any
    subset of fields may be present: an absent field counts as missing, an extra one is
    ignored, ``None``/``NaN``/``pd.NA`` are missing values, strings may be ``object`` or
    pandas ``str``/``string`` dtype. The output is a float64 array (a DataFrame after
    ``set_output(transform="pandas")``) with exactly ``features`` as columns, in
    column-major order: each feature is contiguous, which is how pandas stores a frame
    and how LightGBM and Parquet read columns, so neither copies it.
    """

    def __init__(self, features: Sequence[str] | None = None) -> None:
        self.features = features

    def fit(self, X: Any = None, y: Any = None) -> ApplicationEncoder:
        """Compile the feature list into index maps; nothing is learned from ``X``.

        Raises ``ValueError`` for a duplicated name or a name that is not a model feature.
        """
        features = tuple(features_795() if self.features is None else self.features)
        duplicated = sorted(f for f, count in Counter(features).items() if count > 1)
        if duplicated:
            raise ValueError(f"features listed more than once: {duplicated}")
        known = set(features_795())
        unknown = [f for f in features if f not in known]
        if unknown:
            raise ValueError(f"not model features (see features_795.txt): {unknown[:10]}")
        self.features_ = features
        self.plan_ = _compile(features)
        return self

    def encode(self, X: pd.DataFrame) -> Encoded:
        """Encode ``X``; return the float64 matrix together with the unseen categories."""
        plan: _Plan | None = getattr(self, "plan_", None)
        if plan is None:  # check_is_fitted costs more than the rest of a one-row call
            raise NotFittedError("ApplicationEncoder is not fitted: call fit() first")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                "ApplicationEncoder needs a pandas DataFrame with the dataset's column names, "
                f"got {type(X).__name__}"
            )
        n = len(X)
        source = _Source(X)
        out = np.empty((n, len(self.features_)), dtype=np.float64, order="F")
        source.numbers(plan.plain_inputs, out, plan.plain_out)
        _blank_sentinel(out, plan.sentinel_out)
        if plan.ratio_out.size:
            operands = np.empty((n, len(plan.operand_inputs)), dtype=np.float64, order="F")
            source.numbers(plan.operand_inputs, operands, np.arange(len(plan.operand_inputs)))
            _blank_sentinel(operands, plan.sentinel_operands)
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                ratios = operands[:, plan.ratio_num] / operands[:, plan.ratio_den]
            out[:, plan.ratio_out] = ratios
        if not plan.categorical_inputs:
            return Encoded(out)

        categories = source.categories(plan.categorical_inputs)
        codes = np.empty(categories.shape, dtype=np.intp, order="F")
        for j, (lookup, unknown) in enumerate(zip(plan.lookups, plan.unknown_codes, strict=True)):
            codes[:, j] = _codes(categories[:, j], lookup, unknown)
        out[:, plan.onehot_columns] = 0.0
        target = plan.onehot_target[codes]
        rows, fields = np.nonzero(target >= 0)
        out[rows, target[rows, fields]] = 1.0
        out[:, plan.binary_out] = plan.binary_value[codes[:, plan.binary_field]]
        return Encoded(out, _unseen(categories, plan.is_unknown[codes], plan.categorical_inputs))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The encoded matrix, ``len(X)`` rows by ``len(features)`` float64 columns.

        Unseen categories are logged as one warning per call with counts and examples.
        """
        encoded = self.encode(X)
        if encoded.unseen:
            log.warning("unseen categories encoded as unknown: %s", describe_unseen(encoded.unseen))
        return encoded.values

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output column names: ``features`` in order."""
        check_is_fitted(self, "features_")
        return np.asarray(self.features_, dtype=object)

    def __sklearn_tags__(self) -> Tags:
        """Declare the inputs accepted (strings, categories, NaN) and the float64 output."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class _Source:
    """Reads columns of an input frame as float or object arrays, by name.

    Missing values of any flavour come out as NaN, absent columns as all-NaN. Small
    frames are read with one ``to_numpy`` call (see ``_ROWWISE_MAX_ROWS``), larger ones
    column by column straight into the destination, without an intermediate copy.
    """

    def __init__(self, X: pd.DataFrame) -> None:
        self.X = X
        self.position = {label: i for i, label in reversed(list(enumerate(X.columns.tolist())))}
        self.matrix: np.ndarray | None = None
        n = len(X)
        if n <= _ROWWISE_MAX_ROWS:
            # copy=True: pandas 3.1 otherwise hands a single-block frame back as a
            # read-only view and fails to write the NaNs. The trailing all-NaN column
            # is where absent fields point (position -1).
            values = X.to_numpy(dtype=object, na_value=np.nan, copy=True)
            self.matrix = np.concatenate([values, np.full((n, 1), np.nan, object)], axis=1)

    def numbers(self, names: Sequence[str], dest: np.ndarray, columns: np.ndarray) -> None:
        """Write the columns ``names`` as float64 into ``dest[:, columns]``."""
        if self.matrix is not None:
            wanted = [self.position.get(c, -1) for c in names]
            dest[:, columns] = _as_float(self.matrix[:, wanted], names, self.X.index)
            return
        for name, column in zip(names, columns, strict=True):
            if name not in self.position:
                dest[:, column] = np.nan
                continue
            series = self.X.iloc[:, self.position[name]]
            if pd.api.types.is_numeric_dtype(series.dtype):
                dest[:, column] = series.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                raw = series.to_numpy(dtype=object, na_value=np.nan)[:, None]
                dest[:, column] = _as_float(raw, (name,), self.X.index)[:, 0]

    def categories(self, names: Sequence[str]) -> np.ndarray:
        """The columns ``names`` as one object matrix."""
        if self.matrix is not None:
            return self.matrix[:, [self.position.get(c, -1) for c in names]]
        values = np.full((len(self.X), len(names)), np.nan, dtype=object, order="F")
        for j, name in enumerate(names):
            if name in self.position:
                series = self.X.iloc[:, self.position[name]]
                values[:, j] = series.to_numpy(dtype=object, na_value=np.nan)
        return values


def _blank_sentinel(values: np.ndarray, columns: np.ndarray) -> None:
    """Turn the DAYS sentinel into NaN in ``values[:, columns]``, in place."""
    for column in columns:
        view = values[:, column]
        view[view == DAYS_SENTINEL] = np.nan


def _codes(values: np.ndarray, lookup: dict[str, int], unknown: int) -> np.ndarray:
    """The global code of each value (``unknown`` when missing or outside the vocabulary)."""
    get = lookup.get
    if len(values) <= _ROWWISE_MAX_ROWS:
        return np.fromiter((get(v, unknown) for v in values), np.intp, len(values))
    # Look each distinct value up once: a column holds a few dozen distinct strings but
    # hundreds of thousands of rows. factorize codes missing values -1, the table's last slot.
    labels, uniques = pd.factorize(values)
    table = np.fromiter((get(v, unknown) for v in uniques), np.intp, len(uniques))
    return np.append(table, unknown)[labels]


def _as_float(values: np.ndarray, columns: Sequence[str], index: pd.Index) -> np.ndarray:
    """``values`` (object matrix, one column per name in ``columns``) as float64.

    Numbers, booleans and numeric strings convert; anything else is a ``SchemaError``
    naming the field and the row's index label.
    """
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError):
        for j, column in enumerate(columns):
            for i, value in enumerate(values[:, j]):
                try:
                    float(value)
                except (TypeError, ValueError):
                    raise SchemaError(
                        f"expected a number, got {value!r}", column=column, key=index[i]
                    ) from None
        raise


def _unseen(
    categories: np.ndarray, unknown: np.ndarray, columns: tuple[str, ...]
) -> dict[str, Counter[str]]:
    """Counts of the present values that fell on a field's "missing or unseen" code."""
    if not unknown.any():
        return {}
    rows, fields = np.nonzero(unknown)
    values = categories[rows, fields]
    present = ~pd.isna(values)
    unseen: dict[str, Counter[str]] = {}
    for j, value in zip(fields[present], values[present], strict=True):
        unseen.setdefault(columns[j], Counter())[str(value)] += 1
    return unseen
