"""`dvc repro` from scratch: wall time of each stage, in a fresh clone, next to `make data`.

The clone of HEAD (committed code and config, the default data size unless
``--clients``) gets its data from `make data`, then every stage is reproduced on
its own in pipeline order (``dvc repro --single-item STAGE``) and timed, with a
fresh local MLflow store. The clone reuses this interpreter's environment
(``NO_INSTALL=1``), so installing packages is not part of the figures.

    python -m benchmarks.bench_pipeline                  # default size
    python -m benchmarks.bench_pipeline --clients 4000   # the size the tests use
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: dvc.yaml's stages in the order `dvc repro` runs them.
STAGES = ("features", "select", "train@full", "train@light", "register", "publish")


def _timed(command: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds ``command`` took; its output is shown only if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    """Clone, make the data, reproduce stage by stage, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=None, help="default: conf/data/synthetic")
    args = parser.parse_args(argv)

    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    make = ["make", f"VENV={venv}", "NO_INSTALL=1"]
    if args.clients:
        make.append(f"N_CLIENTS={args.clients}")
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        clone = Path(scratch) / "credit-scoring"
        subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
        rows = {"make data (generate, dvc commit)": _timed([*make, "data"], clone, env)}
        for stage in STAGES:
            rows[f"dvc repro -s {stage}"] = _timed(["dvc", "repro", "-s", stage], clone, env)
        status = subprocess.run(
            ["dvc", "status", "--quiet"], cwd=clone, env=env, capture_output=True, text=True
        )
        shutil.rmtree(clone, ignore_errors=True)

    size = f"{args.clients:,} applicants" if args.clients else "the default size"
    print(f"dvc repro from scratch at {size}, stage by stage (fresh clone of HEAD)")
    for name, seconds in rows.items():
        print(f"  {name:<36} {seconds:7.1f} s")
    stages = sum(v for k, v in rows.items() if k.startswith("dvc repro"))
    print(f"  {'all stages (dvc repro)':<36} {stages:7.1f} s")
    print(f"pipeline up to date afterwards: {'yes' if status.returncode == 0 else 'NO'}")


if __name__ == "__main__":
    main()
