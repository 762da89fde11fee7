"""The ``ingest`` and ``features`` DVC stages, run by the real ``dvc repro`` in a scratch repo.

The scratch repository holds only what the stages declare (dvc.yaml, conf/, their
scripts, the package files they depend on, and the real heads as data/raw), so a
dependency or params file missing from dvc.yaml makes the run fail here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from credit_scoring.data.schema import TABLES, features_795
from tests.conftest import REAL_HEADS, REPO_ROOT


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


STAGES = ("ingest", "features")


def _digests(directory: Path) -> dict[str, str]:
    """md5 of every output file but the summary (which holds the timings)."""
    return {
        p.name: hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.name != "summary.json"
    }


@pytest.mark.slow
def test_dvc_repro_ingest_then_features(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "conf", repo / "conf")
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    for stage in STAGES:
        for dep in stages[stage]["deps"]:
            source, target = REPO_ROOT / dep, repo / dep
            if dep.startswith("data/"):
                continue
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target)
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {s: stages[s] for s in STAGES}}))
    shutil.copytree(REAL_HEADS, repo / "data" / "raw")
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        assert _run(command, repo).returncode == 0

    first = _run(["dvc", "repro", "features"], repo)
    assert first.returncode == 0, first.stdout + first.stderr
    ingested = sorted(p.name for p in (repo / "data" / "ingested").iterdir())
    assert ingested == sorted([*(f"{t}.parquet" for t in TABLES), "validation.json"])
    matrix = pd.read_parquet(repo / "data" / "features" / "features_795.parquet")
    assert list(matrix.columns) == ["SK_ID_CURR", "TARGET", *features_795()]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert "conf/features/default.yaml" in lock["features"]["params"]
    assert lock["ingest"]["params"]["conf/data/synthetic.yaml"] == {"strict": False}

    again = _run(["dvc", "repro", "features"], repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "didn't change, skipping" in again.stdout

    # Rebuilt with two parallel queries, and with one: the same bytes every time.
    built = _digests(repo / "data" / "features")
    for threads in ("2", "1"):
        default = repo / "conf" / "features" / "default.yaml"
        text = default.read_text()
        default.write_text(
            "\n".join(
                f"  threads: {threads}" if line.startswith("  threads:") else line
                for line in text.splitlines()
            )
            + "\n"
        )
        rerun = _run(["dvc", "repro", "features"], repo)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "Running stage 'features'" in rerun.stdout
        assert _digests(repo / "data" / "features") == built

    # A params change reruns the stage.
    default = repo / "conf" / "features" / "default.yaml"
    default.write_text(re.sub(r"chunk_rows: \d+", "chunk_rows: 64", default.read_text()))
    status = _run(["dvc", "status", "features"], repo)
    assert "modified" in status.stdout and "default.yaml" in status.stdout, status.stdout
