"""`dvc repro` from scratch: wall time of each stage, in a fresh clone, next to train@full's.

The clone of HEAD (committed code and config) reproduces every stage of dvc.yaml
on its own, in pipeline order (``dvc repro --single-item STAGE``, the data set's
size set first with ``dvc exp run generate -S`` when one is given), with a fresh
local MLflow store, and each stage's time is printed next to train@full's: the
ratio is the figure that holds across machines. The issue's target: every stage
other than training together under a third of train@full. The clone reuses this
interpreter's environment (``NO_INSTALL=1``), so installing packages is not part
of the figures.

    python -m benchmarks.bench_pipeline                  # default size (50,000 applicants)
    python -m benchmarks.bench_pipeline --clients 4000   # the size the tests use
    python -m benchmarks.bench_pipeline --full           # the real scale: 307,511 + 48,744
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The real Kaggle training set's size (the test set follows the real ratio).
FULL_CLIENTS = 307_511
#: The stage every other one is measured against, and the training stages.
REFERENCE = "train@full"
TRAINING = frozenset({"train@full", "train@light"})


def _timed(command: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds ``command`` took; its output is shown only if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return seconds


def _stages(clone: Path, env: dict[str, str]) -> list[str]:
    """dvc.yaml's stages in pipeline order, foreach items expanded (``dvc stage list``)."""
    listed = subprocess.run(
        ["dvc", "stage", "list", "--name-only"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def main(argv: Sequence[str] | None = None) -> None:
    """Clone, reproduce stage by stage, print the table with each stage against train@full."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--clients", type=int, default=None, help="default: conf/data/synthetic")
    size.add_argument("--full", action="store_true", help=f"{FULL_CLIENTS:,} train applicants")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="reproduce in DIR (a new directory) and keep it: its data, models and MLflow "
        "store can then be reused to rerun single stages",
    )
    args = parser.parse_args(argv)
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists")
    clients = FULL_CLIENTS if args.full else args.clients

    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        clone = args.keep.resolve() if args.keep else Path(scratch) / "credit-scoring"
        subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
        # The venv's editable install points at this working tree: the stages must
        # import the clone's committed package instead.
        env["PYTHONPATH"] = str(clone / "src")
        rows: dict[str, float] = {}
        for stage in _stages(clone, env):
            if stage == "generate" and clients:
                param = f"conf/data/synthetic.yaml:n_clients={clients}"
                command = ["dvc", "exp", "run", "generate", "-S", param]
            else:
                command = ["dvc", "repro", "--single-item", stage]
            rows[stage] = _timed(command, clone, env)
            print(f"  {stage:<14} {rows[stage]:8.1f} s", file=sys.stderr, flush=True)
        status = subprocess.run(
            ["dvc", "status", "--quiet"], cwd=clone, env=env, capture_output=True, text=True
        )
        # What the timed training learnt: a faster pipeline must not be a worse model.
        metrics = {
            model: json.loads((clone / f"models/{model}/metrics.json").read_text())
            for model in ("full", "light")
        }
        if args.keep is None:
            shutil.rmtree(clone, ignore_errors=True)

    label = f"{clients:,} applicants" if clients else "the default size"
    reference = rows[REFERENCE]
    print(f"dvc repro from scratch at {label}, stage by stage (fresh clone of HEAD)")
    print(f"  {'stage':<26} {'seconds':>8}  {'/ ' + REFERENCE:>13}")
    for name, seconds in rows.items():
        print(f"  {name:<26} {seconds:8.1f}  {seconds / reference:12.2f}x")
    others = sum(v for k, v in rows.items() if k not in TRAINING)
    print(f"  {'all but training':<26} {others:8.1f}  {others / reference:12.2f}x  (< 0.33x)")
    print(f"  {'all stages':<26} {sum(rows.values()):8.1f}")
    print(f"pipeline up to date afterwards: {'yes' if status.returncode == 0 else 'NO'}")
    for model, m in metrics.items():
        oracle = f"{m['oracle_auc']:.4f}" if m.get("oracle_auc") is not None else "unknown"
        print(
            f"  {model}: CV AUC {m['cv_auc_mean']:.4f} ± {m['cv_auc_std']:.4f}, "
            f"test AUC {m['test_auc']:.4f}, oracle {oracle}, {m['refit_trees']} trees"
        )


if __name__ == "__main__":
    main()
