"""The end-to-end fixture: a fresh clone of the repository that ran `make pipeline`.

Cloning (rather than running in the working tree) proves that what is committed
is enough: no file left by hand, no state from an earlier run. The clone reuses
this checkout's virtual environment (``VENV=...``) so the test measures the
pipeline, not a package install. Every integration test that needs trained,
registered and published models shares this one run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: Small enough for CI, large enough that both models learn something.
PIPELINE_CLIENTS = int(os.environ.get("CREDIT_SCORING_TEST_CLIENTS", "4000"))


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh clone of HEAD in which `make pipeline N_CLIENTS=...` succeeded."""
    clone = tmp_path_factory.mktemp("clone") / "credit-scoring"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["make", "pipeline", f"VENV={venv}", f"N_CLIENTS={PIPELINE_CLIENTS}"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        log = clone.parent / "make_pipeline.log"
        log.write_text(result.stdout + result.stderr)
        pytest.fail(
            f"make pipeline failed (exit {result.returncode}); last output:\n"
            + (result.stdout + result.stderr)[-6000:]
        )
    yield clone
    shutil.rmtree(clone, ignore_errors=True)
