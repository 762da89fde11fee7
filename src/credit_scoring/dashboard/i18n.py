"""Every word the dashboard shows, in each language, from one catalog (``labels.yaml``).

A label is looked up by key; a key missing in the chosen language is a bug the
unit tests catch (every key has every language), so the page never mixes
languages silently. Numbers are formatted the way each language writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

#: The catalog file inside the package.
CATALOG = "labels.yaml"


@cache
def catalog() -> dict[str, Any]:
    """The parsed catalog: ``languages`` (code -> name), ``labels`` and ``features``."""
    text = resources.files("credit_scoring.dashboard").joinpath(CATALOG).read_text("utf-8")
    return yaml.safe_load(text)


@dataclass(frozen=True)
class Labels:
    """The labels of one language: ``labels("key", n=3)`` formats the catalog's text."""

    language: str

    def __call__(self, key: str, **values: Any) -> str:
        text = catalog()["labels"][key][self.language]
        return text.format(**values) if values else text

    def feature(self, name: str) -> str:
        """A model feature in plain words when the catalog knows it, else its own name."""
        known: Mapping[str, Mapping[str, str]] = catalog()["features"]
        return known[name][self.language] if name in known else name

    def number(self, value: float | None, digits: int = 0) -> str:
        """``value`` with the thousands separator and decimal mark of the language."""
        if value is None:
            return "—"
        text = f"{value:,.{digits}f}"
        if self.language == "fr":
            # French: narrow no-break space between thousands, comma as the decimal mark.
            text = text.replace(",", "\u202f").replace(".", ",")
        return text

    def percent(self, value: float | None, digits: int = 1) -> str:
        """``value`` (already in %) followed by the percent sign, spaced as the language does."""
        if value is None:
            return "—"
        space = "\u202f" if self.language == "fr" else ""
        return f"{self.number(value, digits)}{space}%"


def languages() -> dict[str, str]:
    """Language code -> the language's own name, in the catalog's order."""
    return dict(catalog()["languages"])
