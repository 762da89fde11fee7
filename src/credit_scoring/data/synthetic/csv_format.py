"""Exact Home Credit CSV text, fast: what ``pandas.to_csv`` would write, built with Arrow.

The real files were written by pandas: integers as integers, floats as Python's
``repr`` (``202500.0``, ``0.018801``, ``1e-05``), missing values as empty fields,
and text quoted only when it holds a comma or a quote (``csv.QUOTE_MINIMAL``).
``to_csv`` formats floats one Python call at a time, which would dominate the run
at the real scale; Arrow's float-to-string cast yields the same shortest
round-trip digits in C++, and the two places where its spelling differs from
``repr`` are patched below.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credit_scoring.data.schema import TableSchema

# Python's repr switches to exponent notation below 1e-4 and from 1e16 on; Arrow
# switches below 1e-6 and, for long mantissas, from about 1e11 on. Values outside
# [1e-4, 1e10) are therefore spelled by repr itself; they are rare in these
# tables (tiny rates, never amounts), so the Python loop costs nothing.
_REPR_LOW, _REPR_HIGH = 1e-4, 1e10


def quote_minimal(value: str) -> str:
    """A field as ``csv.QUOTE_MINIMAL`` writes it (quotes doubled inside quotes)."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def format_floats(values: np.ndarray) -> pa.Array:
    """Python ``repr`` of each float, null where NaN."""
    values = np.asarray(values, dtype=np.float64) + 0.0  # -0.0 becomes 0.0, as pandas prints it
    text = pc.cast(pa.array(values, from_pandas=True), pa.string())
    magnitude = np.abs(values)
    odd = ((magnitude < _REPR_LOW) & (magnitude > 0)) | (magnitude >= _REPR_HIGH)
    # Arrow writes integral floats as "202500"; repr writes "202500.0". Below 1e10
    # Arrow spells every integral value without a dot or an exponent (and the rest
    # are spelled by repr below), so numpy finds them, not a regex over the text.
    integral = values == np.trunc(values)  # False for NaN, which stays null
    text = pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
    if odd.any():
        text = pc.replace_with_mask(text, pa.array(odd), pa.array(map(repr, values[odd].tolist())))
    return text


def format_categories(codes: np.ndarray, vocabulary: tuple[str, ...]) -> pa.Array:
    """Vocabulary strings for the codes (``-1`` = missing), quoted where needed."""
    codes = np.asarray(codes, dtype=np.int64)
    words = pa.array([quote_minimal(v) for v in vocabulary], pa.string())
    return pc.take(words, pa.array(codes, mask=codes < 0))


def header(schema: TableSchema) -> bytes:
    """The header line of a table's file."""
    return (",".join(schema.column_names) + "\n").encode()


def format_rows(schema: TableSchema, columns: Mapping[str, np.ndarray]) -> tuple[memoryview, int]:
    """The CSV lines of ``columns`` in the table's column order, and their number.

    ``columns`` maps every column name to a numpy array: ``int`` columns as
    integers, ``float`` columns as float64 with NaN for missing, ``str`` columns as
    codes into the column's schema vocabulary with -1 for missing. Arrow's kernels
    release the GIL, so tables are formatted on worker threads side by side.
    """
    fields = []
    for col in schema.columns:
        values = columns[col.name]
        if col.kind == "int":
            fields.append(pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string()))
        elif col.kind == "float":
            fields.append(format_floats(values))
        else:
            assert col.vocabulary is not None  # the schema declares one for every str column
            fields.append(format_categories(values, col.vocabulary))
    n_rows = len(fields[0])
    if n_rows == 0:
        return memoryview(b""), 0
    rows = pc.binary_join_element_wise(*fields, ",", null_handling="replace", null_replacement="")
    lines = pc.binary_join_element_wise(rows, "", "\n")
    # A fresh Arrow string array stores its rows back to back: its data buffer is the text.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, stop = offsets[lines.offset], offsets[lines.offset + n_rows]
    return memoryview(lines.buffers()[2])[start:stop], n_rows
