"""The served model's input and output contract, declared once for every caller.

Everything that talks to a model (training's input example, the registry gate, the
monotonicity check, publish, batch scoring, the API's requests, the model server)
goes through this module; nothing else casts, renames or reshapes a model's input.

Input (the dataset's own names and units):

* light model: the 10 ``LIGHT_FIELDS``;
* full model: every raw application column of ``application_train`` except
  ``SK_ID_CURR`` and ``TARGET`` (120 fields), plus the client's history aggregates
  (the 550 ``BURO_*``, ``PREV_*``, ``POS_*``, ``INSTAL_*``, ``CC_*`` features of
  ``features_795``) in either of two forms:

  - as columns of the same names, which is what the features stage writes and what a
    batch brings (``data/features/test.parquet`` scores as is);
  - as one ``HISTORY`` column holding a JSON object ``{"BURO_DAYS_CREDIT_MIN": -1200,
    ...}`` per row (or a dict, in process): the compact form of one record over HTTP,
    where MLflow's per-column enforcement would cost ~45 ms for 670 columns. Build it
    with :func:`history_json`. An absent key, a null, an empty string or an absent
    column mean "no such history" (NaN). Giving both forms at once is an error.

  At rest (the clients database) a history is neither: it is the float64 vector of
  :func:`history_values`, packed by :func:`pack_history` (~750 bytes a client, where
  the JSON object takes ~17 KB) and read back as the JSON object by
  :func:`stored_history`, bit for bit the values that were packed.

The 4 ``MANDATORY_FIELDS`` amounts are required (the column must be present; a null
value is scored as missing), every other field is optional and may be absent or null.
Extra columns (``SK_ID_CURR``, ``TARGET``, anything else) are ignored.

Kinds are checked here, not by MLflow: numbers may come as any numeric dtype (int64
from ``pd.read_csv``, float64 with NaN, nullable ``Int64``/``Float64``, pyarrow,
booleans, numeric strings, objects holding ints, floats and ``None``); categories as
strings of the schema's vocabulary (``object``, ``str``, ``string``, pyarrow), with
missing values as NaN/None/NA, an all-empty column read as float64 included. A
non-numeric number, a category outside the vocabulary or a malformed ``HISTORY``
raises :class:`~credit_scoring.errors.SchemaError` naming the column and the row.

Why the signature declares the application fields as MLflow ``AnyType``: MLflow's
enforcement (``mlflow.models.utils._enforce_mlflow_datatype``) refuses int64 for a
``double`` column ("Can not safely convert int64 to float64"), float64 (a NaN, a JSON
null) and nullable ``Int64`` with NA for a ``long`` column, and an all-empty float64
column for a ``string`` one. No MLflow data type accepts what ``pd.read_csv`` hands
over, so the signature names every field (the MLflow UI lists them, ``required`` as
declared) with type "any", and the one conversion below, inside the model, does the
checking. The history aggregate columns are ``double`` (the features stage writes
float64): there are 550 of them, and ``AnyType`` is enforced element by element in
Python (~2 µs a cell) where ``double`` costs one dtype comparison per column.

Output, one row per input row, in input order: :data:`DECISION_OUTPUTS`, then
:data:`SCORECARD_OUTPUTS` (models trained with a scorecard), plus
:data:`EXPLANATION_OUTPUTS` when the ``explain`` param is true. :func:`decision_frame`
is the one place that computes them from a probability.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from mlflow.types.schema import AnyType

from credit_scoring.data.schema import MANDATORY_FIELDS, TABLES, features_795
from credit_scoring.errors import SchemaError

#: The optional column carrying a client's history aggregates as one JSON object (full model).
HISTORY_COLUMN = "HISTORY"

#: The stored input kind of ``HISTORY``: a history packed by :func:`pack_history`.
HISTORY_KIND = "history"

#: How :func:`pack_history` writes a vector, recorded with what it writes so that a
#: reader can refuse a packing it does not know.
HISTORY_PACKING = "float64le-zstd3"

#: zstd from pyarrow, a dependency already (numcodecs/blosc are not installed). Level
#: 3 (zstd's own default; pyarrow's is 1): 8% smaller than 1, at about the same speed.
_HISTORY_CODEC = pa.Codec("zstd", compression_level=3)

_HISTORY_PREFIXES = (
    "BURO_",
    "ACTIVE_",
    "CLOSED_",
    "PREV_",
    "APPROVED_",
    "REFUSED_",
    "POS_",
    "INSTAL_",
    "CC_",
)
#: The 550 history aggregates of the 795 features (everything not built from the application).
HISTORY_FEATURES: tuple[str, ...] = tuple(
    f for f in features_795() if f.startswith(_HISTORY_PREFIXES)
)

_APPLICATION = TABLES["application_train"]
#: Columns of the application files that are no model input.
IDENTIFIERS: tuple[str, ...] = ("SK_ID_CURR", "TARGET")
#: Raw application fields a model can take, in schema order, with their kind (int/float/str).
APPLICATION_FIELDS: dict[str, str] = {
    c.name: c.kind for c in _APPLICATION.columns if c.name not in IDENTIFIERS
}
#: Fields whose column must be present in every input.
REQUIRED_FIELDS: tuple[str, ...] = MANDATORY_FIELDS

#: The decision values.
GRANTED, REFUSED = "granted", "refused"


@dataclass(frozen=True)
class OutputColumn:
    """One column of the model's answer: name, MLflow type, whether always present, meaning."""

    name: str
    type: str
    description: str
    required: bool = True


#: What every prediction holds, in order.
DECISION_OUTPUTS: tuple[OutputColumn, ...] = (
    OutputColumn("probability", "double", "P(default), calibrated"),
    OutputColumn("score", "double", "round((1 - probability) * 100, 1): 100 is the safest"),
    OutputColumn("decision", "string", f"{GRANTED!r} if probability < threshold, else {REFUSED!r}"),
    OutputColumn("threshold", "double", "the business threshold the decision used"),
    OutputColumn("model_name", "string", "registered model name, credit-scoring-NAME"),
    OutputColumn("model_version", "string", "the training run id"),
)
#: Added when the ``explain`` param is true.
EXPLANATION_OUTPUTS: tuple[OutputColumn, ...] = (
    OutputColumn("base_value", "double", "SHAP base value (raw log-odds)", required=False),
    OutputColumn(
        "contributions",
        "string",
        'JSON list of {"feature", "value", "contribution"}, largest |SHAP| first',
        required=False,
    ),
)
#: Scorecard outputs (credit_scoring.scorecard): points and grade on every answer of a
#: model trained with a scorecard; reasons unless the ``reasons`` param is false.
SCORECARD_OUTPUTS: tuple[OutputColumn, ...] = (
    OutputColumn(
        "points",
        "double",
        "scorecard points: offset + factor * ln((1 - p) / p), anchor and PDO in conf/scorecard",
        required=False,
    ),
    OutputColumn(
        "grade", "string", "risk grade (A best) from the configured cut-offs", required=False
    ),
    OutputColumn(
        "reasons",
        "string",
        'JSON list of up to N {"code", "text", "contribution"}: the principal reasons, '
        "only risk-raising ones for a refusal",
        required=False,
    ),
)
#: Names of :data:`DECISION_OUTPUTS`.
OUTPUT_COLUMNS: tuple[str, ...] = tuple(c.name for c in DECISION_OUTPUTS)

#: Prediction params: SHAP explanations on request, and how many contributions to return;
#: reason codes (on by default for a single call; batch callers may turn them off).
PARAMS = ParamSchema(
    [
        ParamSpec("explain", "boolean", False),
        ParamSpec("top", "long", 10),
        ParamSpec("reasons", "boolean", True),
    ]
)


def input_fields(features: Sequence[str]) -> tuple[str, ...]:
    """The record fields of a model on encoded ``features``: what one applicant's request holds.

    A feature set made only of raw application fields (the light model) takes exactly
    those fields; any other set takes every application field, plus ``HISTORY`` when it
    uses history aggregates.
    """
    if all(f in APPLICATION_FIELDS for f in features):
        return tuple(features)
    history = any(f in _HISTORY_SET for f in features)
    return (*APPLICATION_FIELDS, *((HISTORY_COLUMN,) if history else ()))


def takes_history(fields: Sequence[str]) -> bool:
    """Whether a model on record ``fields`` reads history aggregates."""
    return HISTORY_COLUMN in fields


def declared_kind(name: str) -> str:
    """The kind (int/float/str, or :data:`HISTORY_KIND`) of input ``name``, stored in a database."""
    if name == HISTORY_COLUMN:
        return HISTORY_KIND
    if name in _HISTORY_SET:
        return "float"
    return APPLICATION_FIELDS[name]


def model_signature(fields: Sequence[str]) -> ModelSignature:
    """The MLflow signature of a model on record ``fields`` (see the module docstring)."""
    inputs = [
        ColSpec(AnyType(), f, required=f in REQUIRED_FIELDS) for f in fields if f != HISTORY_COLUMN
    ]
    if takes_history(fields):
        inputs.append(ColSpec(AnyType(), HISTORY_COLUMN, required=False))
        inputs += [ColSpec("double", f, required=False) for f in HISTORY_FEATURES]
    columns = DECISION_OUTPUTS + SCORECARD_OUTPUTS + EXPLANATION_OUTPUTS
    outputs = Schema([ColSpec(c.type, c.name, required=c.required) for c in columns])
    return ModelSignature(inputs=Schema(inputs), outputs=outputs, params=PARAMS)


@dataclass(frozen=True)
class ModelInput:
    """A caller's frame conformed to the contract: what the model's pipeline reads.

    ``application`` holds the model's application fields present in the input (absent
    optional ones are left out: the encoder reads an absent field as missing), numbers
    as float64 and categories as objects with NaN for missing. ``history`` is the
    ``(rows, len(HISTORY_FEATURES))`` float64 matrix of history aggregates, or ``None``
    when the model takes none or the input carries none.
    """

    application: pd.DataFrame
    history: np.ndarray | None


def conform(frame: pd.DataFrame, fields: Sequence[str]) -> ModelInput:
    """The one conversion of any caller's frame into the input of a model on ``fields``.

    Raises :class:`SchemaError` naming the column (and the row's index label) for a
    missing required field, a non-numeric number, a category outside the schema's
    vocabulary or a malformed history.
    """
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"expected a pandas DataFrame of raw fields, got {type(frame).__name__}")
    source = _Columns(frame)
    for name in REQUIRED_FIELDS:
        if name in fields and name not in source:
            raise SchemaError("required field missing", column=name)
    used = [f for f in fields if f != HISTORY_COLUMN and f in source]
    numbers = [f for f in used if APPLICATION_FIELDS[f] != "str"]
    categories = [f for f in used if APPLICATION_FIELDS[f] == "str"]
    values = source.numbers(numbers)
    labels = source.objects(categories)
    _check_vocabularies(labels, categories, frame.index)
    if source.small:
        # One object block: the encoder reads a small frame as one object matrix anyway,
        # and one block is the cheapest frame pandas builds.
        block = np.concatenate([values.astype(object), labels], axis=1)
        application = pd.DataFrame(
            block, index=frame.index, columns=[*numbers, *categories], dtype=object
        )
    else:
        application = pd.DataFrame(values, index=frame.index, columns=numbers)
        if categories:
            text = pd.DataFrame(labels, index=frame.index, columns=categories, dtype=object)
            application = pd.concat([application, text], axis=1)
    history = _history(source) if takes_history(fields) else None
    return ModelInput(application, history)


def history_json(frame: pd.DataFrame) -> pd.Series:
    """The ``HISTORY`` column for ``frame``'s history aggregate columns (NaN keys left out).

    For storing or sending one record at a time; a batch keeps the aggregate columns.
    """
    present = [f for f in HISTORY_FEATURES if f in frame.columns]
    values = frame[present].to_numpy(dtype=np.float64, na_value=np.nan)
    rows = (_history_object(row, present) for row in values)
    return pd.Series(list(rows), index=frame.index, name=HISTORY_COLUMN, dtype=object)


def _history_object(values: np.ndarray, features: Sequence[str]) -> str:
    """One ``HISTORY`` JSON object: ``values`` named by ``features``, NaN left out.

    ``json.dumps`` writes the shortest text that parses back to the same float64.
    """
    named = zip(features, values.tolist(), strict=True)
    return json.dumps({k: v for k, v in named if not math.isnan(v)})


def history_values(frame: pd.DataFrame) -> np.ndarray:
    """The ``(rows, len(HISTORY_FEATURES))`` float64 history aggregates of ``frame`` (NaN: none).

    Read from the aggregate columns or the ``HISTORY`` column, as a model reads them
    (the same checks and errors); a frame with neither has no history.
    """
    values = _history(_Columns(frame))
    if values is None:
        return np.full((len(frame), len(HISTORY_FEATURES)), np.nan)
    return values


def pack_history(values: np.ndarray, threads: int = 1) -> list[bytes]:
    """Each row of a float64 matrix as one zstd-compressed blob of its values, losslessly.

    The values go as they are, little-endian float64 (:data:`HISTORY_PACKING`). On the
    full-scale synthetic data (550 aggregates, a third NaN, three quarters of the rest
    whole numbers) that is ~750 bytes a client of the 4,400 raw: a byte shuffle before
    zstd made it ~950, a NaN bitmap or whole numbers stored as integers saved under 5%.
    ``threads`` > 1 compresses slices of the rows side by side (zstd releases the GIL);
    the blobs are the same.
    """
    matrix = np.ascontiguousarray(values, dtype="<f8")
    if threads <= 1 or len(matrix) < 2 * threads:
        return [_HISTORY_CODEC.compress(row, asbytes=True) for row in matrix]
    slices = np.array_split(matrix, threads)
    with ThreadPoolExecutor(threads, thread_name_prefix="pack") as pool:
        packed = pool.map(pack_history, slices)
    return [blob for part in packed for blob in part]


def unpack_history(blob: bytes, size: int) -> np.ndarray:
    """The ``size`` float64 values :func:`pack_history` packed into ``blob``, bit for bit."""
    raw = _HISTORY_CODEC.decompress(blob, decompressed_size=8 * size, asbytes=True)
    return np.frombuffer(raw, dtype="<f8")


def stored_history(blob: bytes, features: Sequence[str]) -> str:
    """The ``HISTORY`` JSON object of a packed vector whose values are ``features``, in order.

    ``features`` is the order the writer recorded: the reader assumes none of its own.
    """
    return _history_object(unpack_history(blob, len(features)), features)


def decision_frame(
    probability: np.ndarray,
    *,
    threshold: float,
    model_name: str,
    model_version: str,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """The :data:`DECISION_OUTPUTS` columns for probabilities of default ``probability``."""
    p = np.asarray(probability, dtype=np.float64)
    return pd.DataFrame(
        {
            "probability": p,
            "score": np.round((1.0 - p) * 100.0, 1),
            "decision": np.where(p < threshold, GRANTED, REFUSED),
            "threshold": float(threshold),
            "model_name": model_name,
            "model_version": model_version,
        },
        index=index,
    )


_HISTORY_SET = frozenset(HISTORY_FEATURES)
_HISTORY_POSITION = {name: j for j, name in enumerate(HISTORY_FEATURES)}


@cache
def _vocabulary(name: str) -> frozenset[str]:
    return frozenset(_APPLICATION.column(name).vocabulary or ())


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


#: Up to this many rows, a frame is read with one ``to_numpy`` call rather than column by
#: column: pandas' per-column overhead (tens of µs for each of ~120 fields) would be
#: most of a one-row call. The encoder draws the same line (``_ROWWISE_MAX_ROWS``).
_SMALL_FRAME_ROWS = 256


class _Columns:
    """Reads a caller's columns by name as float64 or object matrices.

    Missing values of any flavour (None, NaN, pd.NA, NaT) come out as NaN. A small frame
    is converted once to an object matrix; a large one is read column block by block.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        if frame.columns.has_duplicates:
            duplicated = frame.columns[frame.columns.duplicated()][0]
            raise SchemaError("column given more than once", column=str(duplicated))
        self.frame = frame
        self.position = {label: i for i, label in enumerate(frame.columns.tolist())}
        self.small = len(frame) <= _SMALL_FRAME_ROWS
        self.matrix = frame.to_numpy(dtype=object, na_value=np.nan) if self.small else None

    def __contains__(self, name: object) -> bool:
        return name in self.position

    def objects(self, names: Sequence[str]) -> np.ndarray:
        """Columns ``names`` as an object matrix."""
        if self.matrix is not None:
            return self.matrix[:, [self.position[n] for n in names]]
        if not names:
            return np.empty((len(self.frame), 0), dtype=object)
        return self.frame[list(names)].to_numpy(dtype=object, na_value=np.nan)

    def numbers(self, names: Sequence[str]) -> np.ndarray:
        """Columns ``names`` as a float64 matrix; a non-numeric value raises ``SchemaError``."""
        try:
            if self.matrix is not None:
                return self.matrix[:, [self.position[n] for n in names]].astype(np.float64)
            if not names:
                return np.empty((len(self.frame), 0), dtype=np.float64)
            return self.frame[list(names)].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            pass
        # Find the culprit: the first value that is present but no number.
        for name in names:
            column = self.frame[name]
            converted = pd.to_numeric(column, errors="coerce")
            bad = np.flatnonzero(converted.isna().to_numpy() & column.notna().to_numpy())
            if bad.size:
                value = column.iloc[bad[0]]
                raise SchemaError(
                    f"expected a number, got {value!r}", column=name, key=self.frame.index[bad[0]]
                )
        converted = self.frame[list(names)].apply(pd.to_numeric)
        return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_vocabularies(labels: np.ndarray, names: Sequence[str], index: pd.Index) -> None:
    """Raise ``SchemaError`` at the first value of ``labels`` outside its field's vocabulary."""
    for j, name in enumerate(names):
        column = labels[:, j]
        vocabulary = _vocabulary(name)
        try:
            distinct = set(column.tolist())
            unknown = [v for v in distinct if v not in vocabulary and not _is_missing(v)]
        except TypeError:  # an unhashable value (a list, a dict)
            unknown = [next(v for v in column if not isinstance(v, str | float))]
        if unknown:
            row = next(i for i, v in enumerate(column) if v is unknown[0] or v == unknown[0])
            raise SchemaError(
                f"unknown category {unknown[0]!r}; expected one of {sorted(vocabulary)}",
                column=name,
                key=index[row],
            )


def _history(source: _Columns) -> np.ndarray | None:
    """The history aggregates of every row, from aggregate columns or from ``HISTORY``."""
    columns = [f for f in HISTORY_FEATURES if f in source]
    records = source.frame[HISTORY_COLUMN] if HISTORY_COLUMN in source else None
    if columns:
        if records is not None and records.notna().any():
            raise SchemaError(
                "history given twice: as aggregate columns and as HISTORY; send one of them",
                column=HISTORY_COLUMN,
            )
        if len(columns) == len(HISTORY_FEATURES):
            return source.numbers(columns)
        history = np.full((len(source.frame), len(HISTORY_FEATURES)), np.nan)
        history[:, [_HISTORY_POSITION[c] for c in columns]] = source.numbers(columns)
        return history
    if records is None:
        return None
    return _parse_history(records)


def _parse_history(records: pd.Series) -> np.ndarray:
    """The ``HISTORY`` column (JSON objects, dicts or missing) as a float64 matrix."""
    history = np.full((len(records), len(HISTORY_FEATURES)), np.nan)
    for i, record in enumerate(records.to_numpy(dtype=object, na_value=None)):
        if record is None or record == "":
            continue
        key = records.index[i]
        if isinstance(record, str):
            try:
                record = json.loads(record)
            except json.JSONDecodeError as exc:
                raise SchemaError(
                    f"not a JSON object: {exc}", column=HISTORY_COLUMN, key=key
                ) from None
        if not isinstance(record, Mapping):
            raise SchemaError(
                f"expected a JSON object of history aggregates, got {type(record).__name__}",
                column=HISTORY_COLUMN,
                key=key,
            )
        for name, value in record.items():
            j = _HISTORY_POSITION.get(name)
            if j is None:
                raise SchemaError(
                    f"unknown history feature {name!r} (see features_795.txt)",
                    column=HISTORY_COLUMN,
                    key=key,
                )
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SchemaError(
                    f"history feature {name!r}: expected a number, got {value!r}",
                    column=HISTORY_COLUMN,
                    key=key,
                )
            history[i, j] = value
    return history
