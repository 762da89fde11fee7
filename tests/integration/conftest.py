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
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

#: Small enough for CI, large enough that both models learn something.
PIPELINE_CLIENTS = int(os.environ.get("CREDIT_SCORING_TEST_CLIENTS", "4000"))


@dataclass(frozen=True)
class PipelineRepo:
    """A clone after `make data` (default size) and `make pipeline N_CLIENTS=...`."""

    root: Path
    env: dict[str, str]
    #: `git diff HEAD -- dvc.lock` right after `make data` at the default size: empty
    #: when the generate stage wrote the bytes (and read the code and params) the
    #: committed lock records. Against HEAD: DVC stages the lock it rewrites (autostage).
    default_data_diff: str

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a command in the clone with the project's environment; fail with its output."""
        result = subprocess.run(
            args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} failed (exit {result.returncode}):\n"
                + (result.stdout + result.stderr)[-6000:]
            )
        return result

    @contextmanager
    def restored(self) -> Iterator[None]:
        """Leave the clone's workspace as it was: config, lock file, every stage's outputs.

        The clone is shared by every end-to-end test; one that edits a config file or
        reruns a stage (``dvc exp run``, ``mlflow run``) would otherwise hand the next
        test another pipeline state, and the tests would pass in one order only. The
        files git sees (tracked or not, ignored ones aside: the small ``cache: false``
        outputs included) come back from a snapshot tree, the DVC outputs from the
        cache, and the registry's aliases point where they pointed, so the champions
        are again the models the restored database was published with (the store
        keeps the new runs and versions: tests count from "before").
        """
        snapshot = self._worktree_snapshot()
        aliases = self._registry_aliases()
        try:
            yield
        finally:
            self.run("git", "checkout", snapshot, "--", ".")
            self.run("git", "reset", "--quiet")  # the index as it was: nothing staged
            self.run("dvc", "checkout", "--force", "--quiet")
            self._restore_aliases(aliases)

    def _client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _registry_aliases(self) -> dict[str, dict[str, str]]:
        """Each registered model's aliases and the versions they name."""
        return {
            model.name: dict(model.aliases) for model in self._client().search_registered_models()
        }

    def _restore_aliases(self, aliases: dict[str, dict[str, str]]) -> None:
        client = self._client()
        for model in client.search_registered_models():
            before = aliases.get(model.name, {})
            for alias in set(model.aliases) - set(before):
                client.delete_registered_model_alias(model.name, alias)
            for alias, version in before.items():
                client.set_registered_model_alias(model.name, alias, version)

    def _worktree_snapshot(self) -> str:
        """A git tree of every file not ignored, as it is now, made in a scratch index."""
        with tempfile.TemporaryDirectory() as scratch:
            env = {**self.env, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
            for command in (["git", "read-tree", "HEAD"], ["git", "add", "--all"]):
                subprocess.run(command, cwd=self.root, env=env, check=True, capture_output=True)
            tree = subprocess.run(
                ["git", "write-tree"], cwd=self.root, env=env, check=True, capture_output=True
            )
        return tree.stdout.decode().strip()

    @property
    def tracking_uri(self) -> str:
        """The clone's own MLflow store."""
        return f"sqlite:///{self.root / 'mlflow.db'}"


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineRepo]:
    """A fresh clone of HEAD in which `make pipeline N_CLIENTS=...` succeeded."""
    clone = tmp_path_factory.mktemp("clone") / "credit-scoring"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # NO_INSTALL: the clone must not reinstall the package into this (shared) environment.
    run = PipelineRepo(clone, env, "").run
    run("make", "data", f"VENV={venv}", "NO_INSTALL=1")
    repo = PipelineRepo(clone, env, run("git", "diff", "HEAD", "--", "dvc.lock").stdout)
    repo.run(
        "make",
        "pipeline",
        f"VENV={venv}",
        "NO_INSTALL=1",
        f"N_CLIENTS={PIPELINE_CLIENTS}",
        timeout=1800,
    )
    yield repo
    shutil.rmtree(clone, ignore_errors=True)


@contextmanager
def serving_stack(
    repo: PipelineRepo, log_dir: Path, overrides: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The supervised stack serving the clone's champions and database on free loopback ports.

    Every program of ``serve.programs`` runs (the dashboard included, on a free port);
    ``overrides`` are further Hydra overrides. Yields the API's URL, the clients table,
    the running stack, the ports, the clone's root and the resolved ``serve`` config;
    stops everything on exit.
    """
    from credit_scoring.api.launcher import ServingStack
    from credit_scoring.publish import read_clients
    from tests.integration.serving import serve_config, stack_overrides

    root = repo.root
    features = root / "data/features"
    clients = read_clients(features / "train.parquet", features / "test.parquet")
    placed, ports = stack_overrides(root, log_dir)
    config = serve_config([*placed, *(overrides or [])])
    running = ServingStack(config, repo.tracking_uri)
    running.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{ports['api']}",
            "clients": clients,
            "stack": running,
            "ports": ports,
            "root": root,
            "config": config,
        }
    finally:
        running.stop()
