"""The clients database's layout, declared once for the writer (publish) and the reader (API).

SQLAlchemy Core types only, so the same declarations create the tables on SQLite
(the default) and PostgreSQL. Four decisions shape it:

- A model's stored inputs are the record fields of its request (the signature's
  columns but the 550 history aggregates, which travel inside ``HISTORY``), in one
  table per model, ``inputs_<model>``, with positional column names ``c0..cN``;
  the real names, their order and kinds (taken from the model's signature at
  publish time) are rows of ``model_inputs``.
  Positional columns let the API rebuild a model request for a stored client
  without knowing the model's schema in advance, keep every identifier short
  (PostgreSQL truncates names beyond 63 characters) and cost next to nothing for
  a null: the ~120 application fields take ~0.7 KB a client as native columns.
- The full model's ``HISTORY`` field is one binary column (kind ``history``): the
  client's 550 aggregates as float64 in an order recorded in ``meta``
  (``history_features``), packed as ``meta.history_packing`` says
  (``credit_scoring.contracts.model_io.pack_history``, ~750 bytes). Stored as the
  JSON object a request carries, it took ~17 KB a client, 6.5 GB at the real
  scale; packed, the database is ~620 MB there, and the values come back bit for
  bit, so a stored client's live score equals the precomputed one.
- Population statistics are precomputed (``distributions``, ``quantiles``): the API
  never reads a whole column to draw a histogram.
- Publishing loads tables under a per-publish suffix and swaps them in one short
  transaction (see ``credit_scoring.publish``); ``meta.publish_id`` tells readers
  which generation they see, so in-process caches know when to reload.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from credit_scoring.contracts.model_io import HISTORY_KIND
from credit_scoring.data.schema import TABLES

#: Model names served, in the order the API reports them.
MODEL_NAMES: tuple[str, ...] = ("full", "light")

#: The two populations statistics are computed for.
POPULATIONS: tuple[str, ...] = ("all", "repaid")

#: Per-model columns of ``clients`` holding the champion's precomputed answer.
PREDICTION_FIELDS: tuple[str, ...] = ("probability", "score", "decision", "model_version")

_APPLICATION = TABLES["application_train"]


def input_column_name(position: int) -> str:
    """The positional name of a model input column in ``inputs_<model>``."""
    return f"c{position}"


#: Keys of ``meta`` describing the stored histories: the names of a packed vector's
#: values in order (a JSON list) and the packing.
HISTORY_FEATURES_KEY = "history_features"
HISTORY_PACKING_KEY = "history_packing"


def _sql_type(kind: str) -> TypeEngine:
    # Integers are stored as BigInteger, floats as Float; categorical raw values as text;
    # a packed history as bytes.
    return {
        "int": BigInteger(),
        "float": Float(),
        "str": Text(),
        "bool": Integer(),
        HISTORY_KIND: LargeBinary(),
    }[kind]


def application_kind(field: str) -> str:
    """The declared kind (int/float/str) of an application column."""
    return _APPLICATION.column(field).kind


def define_tables(
    metadata: MetaData,
    *,
    client_fields: Sequence[str],
    input_kinds: dict[str, Sequence[str]],
    suffix: str = "",
) -> dict[str, Table]:
    """Declare every table on ``metadata`` and return them by logical name.

    ``client_fields`` are the application columns shown by ``/clients/{id}``;
    ``input_kinds`` maps each model to the kinds of its input columns, in the
    signature's order. ``suffix`` names a staging generation (``""`` = live tables).
    """

    def name(logical: str) -> str:
        return f"{logical}{suffix}"

    clients_columns: list[Column] = [
        Column("SK_ID_CURR", BigInteger, primary_key=True, autoincrement=False),
        Column("split", String(8), nullable=False),
        Column("TARGET", Integer, nullable=True),
    ]
    clients_columns += [Column(f, _sql_type(application_kind(f))) for f in client_fields]
    for model in MODEL_NAMES:
        clients_columns += [
            Column(f"{model}_probability", Float),
            Column(f"{model}_score", Float),
            Column(f"{model}_decision", String(16)),
            Column(f"{model}_model_version", String(64)),
        ]
    clients = Table(name("clients"), metadata, *clients_columns)
    tables: dict[str, Table] = {"clients": clients}
    if "AMT_INCOME_TOTAL" in client_fields:
        # Position queries range over incomes; the index name carries the suffix
        # because PostgreSQL index names are schema-wide.
        Index(f"ix_{name('clients')}_income", clients.c.AMT_INCOME_TOTAL)

    tables["meta"] = Table(
        name("meta"),
        metadata,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    tables["models"] = Table(
        name("models"),
        metadata,
        Column("name", String(16), primary_key=True),
        Column("registered_name", String(128), nullable=False),
        Column("version", String(32), nullable=False),
        Column("run_id", String(64), nullable=False),
        Column("test_auc", Float),
        Column("threshold", Float),
        Column("trained_at", String(40)),
        Column("model_uri", Text, nullable=False),
    )
    tables["model_inputs"] = Table(
        name("model_inputs"),
        metadata,
        Column("model", String(16), primary_key=True),
        Column("position", Integer, primary_key=True, autoincrement=False),
        Column("column_name", Text, nullable=False),
        Column("kind", String(8), nullable=False),
        Column("required", Integer, nullable=False),
    )
    for model, kinds in input_kinds.items():
        tables[f"inputs_{model}"] = Table(
            name(f"inputs_{model}"),
            metadata,
            Column("SK_ID_CURR", BigInteger, primary_key=True, autoincrement=False),
            *(Column(input_column_name(i), _sql_type(k)) for i, k in enumerate(kinds)),
        )
    tables["distributions"] = Table(
        name("distributions"),
        metadata,
        Column("feature", String(64), primary_key=True),
        Column("population", String(16), primary_key=True),
        Column("bins", Integer, primary_key=True, autoincrement=False),
        Column("edges", JSON, nullable=False),
        Column("counts", JSON, nullable=False),
        Column("below", BigInteger, nullable=False),
        Column("above", BigInteger, nullable=False),
        Column("missing", BigInteger, nullable=False),
    )
    tables["quantiles"] = Table(
        name("quantiles"),
        metadata,
        Column("feature", String(64), primary_key=True),
        Column("population", String(16), primary_key=True),
        Column("q", Float, primary_key=True),
        Column("value", Float, nullable=False),
    )
    return tables
