"""`credit-scoring validate DIR`, run as a user runs it: a separate process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HEADS = Path(__file__).resolve().parents[1] / "fixtures" / "real_heads"


def validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credit_scoring.cli", "validate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_real_heads_pass() -> None:
    result = validate(HEADS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert ": 0 errors, " in result.stdout.splitlines()[0]
    assert "WARNING" in result.stdout  # orphan keys of the sampled files


def test_corrupted_dir_fails_listing_the_errors(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(HEADS, raw)
    train = raw / "application_train.csv"
    lines = train.read_text().splitlines()
    lines[4] = lines[4].replace(",0,", ",2,", 1)  # line 5: TARGET (the second field) = 2
    train.write_text("\n".join(lines) + "\n")
    pos = raw / "POS_CASH_balance.csv"
    lines = pos.read_text().splitlines()
    lines[9] = f'"{lines[9]}"'  # line 10 becomes one quoted field
    pos.write_text("\n".join(lines) + "\n")
    (raw / "bureau.csv").unlink()

    result = validate(raw)

    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR   {train}, line 5, column TARGET: must be 0 or 1: 1 row, e.g. 2 on line 5",
        f"ERROR   {pos}, line 10: malformed records (expected 8 fields): 1 row, "
        "e.g. line 10: 1 field (is the whole record quoted?)",
    ]
    assert f"WARNING {raw / 'bureau.csv'}: optional file is missing" in result.stdout


def test_strict_makes_warnings_fatal() -> None:
    result = validate(HEADS, "--strict")

    assert result.returncode == 1
    assert "strict: warnings count as errors" in result.stdout
    assert "ERROR" in result.stdout and "WARNING" not in result.stdout
