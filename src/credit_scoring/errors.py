"""Typed errors that carry enough context to become a message for a person at the edge.

Library code raises these; the CLI prints them (exit code 2) and the API turns
them into 4xx/503 JSON. Nothing deep inside formats user-facing output itself.
"""

from __future__ import annotations


class CreditScoringError(Exception):
    """Base class of every error this product raises on purpose."""


class SchemaError(CreditScoringError):
    """Input data does not match the declared schema.

    ``file``, ``line`` (1-based, the header is line 1), ``column`` and ``key`` locate
    the problem as precisely as it is known; any of them may be ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        key: object | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column {self.column}")
        if self.key is not None:
            where.append(f"key {self.key}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ModelServerUnavailable(CreditScoringError):
    """A model server did not answer in time; ``name`` says which one."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        self.detail = detail
        super().__init__(f"model server {name!r} unavailable: {detail}")
