"""The ``features`` DVC stage, run by the real ``dvc repro`` in a scratch repository.

The scratch repository holds only what the stage declares (dvc.yaml, conf/, its
script, the package directories it depends on, and the real heads as data/raw), so
a dependency or params file missing from dvc.yaml makes the run fail here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from credit_scoring.data.schema import features_795
from tests.conftest import REAL_HEADS, REPO_ROOT


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_dvc_repro_features(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for part in ("conf", "src/credit_scoring/data", "src/credit_scoring/features"):
        shutil.copytree(REPO_ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "pipelines").mkdir()
    shutil.copy(REPO_ROOT / "pipelines" / "features.py", repo / "pipelines")
    stage = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]["features"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"features": stage}}))
    shutil.copytree(REAL_HEADS, repo / "data" / "raw")
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        assert _run(command, repo).returncode == 0

    first = _run(["dvc", "repro", "features"], repo)
    assert first.returncode == 0, first.stdout + first.stderr
    matrix = pd.read_parquet(repo / "data" / "features" / "features_795.parquet")
    assert list(matrix.columns) == ["SK_ID_CURR", "TARGET", *features_795()]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["features"]
    assert "conf/features/default.yaml" in lock["params"]

    again = _run(["dvc", "repro", "features"], repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "didn't change, skipping" in again.stdout

    # A params change reruns the stage.
    default = repo / "conf" / "features" / "default.yaml"
    default.write_text(default.read_text().replace("chunk_rows: 50000", "chunk_rows: 64"))
    status = _run(["dvc", "status", "features"], repo)
    assert "modified" in status.stdout and "default.yaml" in status.stdout, status.stdout
