"""The configuration's declared types: what ships validates, a typo stops a stage at start."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from credit_scoring.config import ConfigError, ProjectConfig, compose_config
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["model=full"],
        ["data=kaggle"],
        ["data=full"],
        ["features.engine=spark"],
        ["hparams_search=optuna"],
    ],
)
def test_every_shipped_combination_validates(overrides: list[str]) -> None:
    _, conf = compose_config(overrides, REPO_ROOT / "conf")
    assert isinstance(conf, ProjectConfig)
    assert conf.publish.batch_size >= 1 and conf.paths.features == "data/features"


def test_values_come_typed_as_the_stages_read_them() -> None:
    _, conf = compose_config(["publish.batch_size=123", "data.n_clients=777"], REPO_ROOT / "conf")
    assert conf.publish.batch_size == 123 and conf.data.n_clients == 777
    assert conf.monitoring.bands.read(0.2) == "watch"  # the domain class itself
    assert conf.serve.programs["full"].command[-1] == "60"  # ports and timeouts as words
    with pytest.raises(Exception, match="frozen"):
        conf.publish.batch_size = 1  # type: ignore[misc]


def test_api_keys_in_the_documented_form_validate() -> None:
    """``serve.api.auth.keys.NAME: {sha256, scopes}`` (README) passes; a stray field does not."""
    keys = ["+serve.api.auth.keys.desk.sha256=" + "ab" * 32]
    _, conf = compose_config([*keys, "+serve.api.auth.keys.desk.scopes=[read]"], REPO_ROOT / "conf")
    assert conf.serve.api.auth.keys["desk"].scopes == ("read",)
    with pytest.raises(ConfigError, match=r"serve\.api\.auth\.keys\.desk\.scope: unknown key"):
        compose_config([*keys, "+serve.api.auth.keys.desk.scope=[read]"], REPO_ROOT / "conf")


def test_a_misspelt_or_mistyped_key_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        compose_config(
            ["+publish.batchsize=1", "publish.bins=[10,x]", "train.calibration=platt"],
            REPO_ROOT / "conf",
        )
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid configuration:"
    assert any(line.strip().startswith("publish.batchsize: unknown key") for line in lines)
    assert any(line.strip().startswith("publish.bins[1]: ") for line in lines)
    assert any(line.strip().startswith("train.calibration: ") for line in lines)
    assert len(lines) == 4  # one line per problem, nothing else


def test_a_typo_in_a_config_file_stops_the_stage_at_start(tmp_path: Path) -> None:
    """A stage script on a project whose conf/ has a misspelt key: exit 2, the key named.

    The misspelt optional key used to be read as its default (``strict: false``) in silence.
    """
    shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf")
    (tmp_path / "pipelines").mkdir()
    shutil.copy(REPO_ROOT / "pipelines" / "ingest.py", tmp_path / "pipelines")
    data = tmp_path / "conf" / "data" / "synthetic.yaml"
    data.write_text(data.read_text().replace("strict: false", "stritc: true"))
    done = subprocess.run(
        [sys.executable, "pipelines/ingest.py", "paths.raw=missing"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "data.stritc: unknown key" in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


def test_threads_can_compose_at_once() -> None:
    """Hydra's global state is one per process: concurrent callers must not collide."""
    from concurrent.futures import ThreadPoolExecutor

    from credit_scoring.config import compose_config

    with ThreadPoolExecutor(max_workers=4) as pool:
        ports = list(
            pool.map(
                lambda p: compose_config([f"serve.api.port={p}"])[1].serve.api.port,
                range(9000, 9012),
            )
        )
    assert ports == list(range(9000, 9012))
