"""The real files' first rows as test data, raw or with their keys linked.

The heads are the first 199 rows of each real file, so their side tables belong to
other clients than the 199 head applicants: as they are, every history feature is
missing. ``linked_heads`` re-keys the side tables onto the head applicants (and
bureau_balance onto the head bureau credits) so that real values, quirks included,
flow through every aggregation. Side rows go to the first third of the applicants
(about three real clients' histories each, so variances exist); the other two
thirds keep no history at all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from credit_scoring.data.schema import TABLES

_REPO_ROOT = Path(__file__).resolve().parents[2]


def real_heads_dir() -> Path:
    """The heads fixture of the repository, else the shared reference copy beside the checkout."""
    for candidate in (
        _REPO_ROOT / "tests" / "fixtures" / "real_heads",
        _REPO_ROOT.parent / "shared" / "reference" / "real_sample_heads",
    ):
        if (candidate / "application_train.csv").exists():
            return candidate
    raise FileNotFoundError(f"no real heads under {_REPO_ROOT}/tests/fixtures or ../shared")


def _rekey(values: pd.Series, targets: pd.Series) -> pd.Series:
    """Map the distinct ``values`` in sorted order onto the distinct ``targets``, cycling."""
    sources = sorted(values.unique())
    destinations = list(targets.drop_duplicates())
    mapping = {s: destinations[i % len(destinations)] for i, s in enumerate(sources)}
    return values.map(mapping)


def linked_heads(out_dir: Path) -> Path:
    """Write the real heads to ``out_dir`` with side-table keys pointing at head applicants."""
    src = real_heads_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    applicants = pd.read_csv(src / "application_train.csv", usecols=["SK_ID_CURR"])["SK_ID_CURR"]
    bureau_ids = pd.read_csv(src / "bureau.csv", usecols=["SK_ID_BUREAU"])["SK_ID_BUREAU"]
    for table, schema in TABLES.items():
        if table.startswith("application_"):
            shutil.copy(src / schema.file_name, out_dir / schema.file_name)
            continue
        dtypes = {c.name: "str" for c in schema.categorical}
        df = pd.read_csv(src / schema.file_name, dtype=dtypes)
        if "SK_ID_CURR" in df.columns:
            df["SK_ID_CURR"] = _rekey(df["SK_ID_CURR"], applicants[: len(applicants) // 3])
        if table == "bureau_balance":
            df["SK_ID_BUREAU"] = _rekey(df["SK_ID_BUREAU"], bureau_ids)
        df.to_csv(out_dir / schema.file_name, index=False)
    return out_dir
