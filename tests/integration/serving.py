"""Helpers of the tests that run the serving stack: its config, ports, bounded waits."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from omegaconf import OmegaConf

from credit_scoring.config import compose_config
from tests.conftest import REPO_ROOT, free_port


def serve_config(overrides: list[str]) -> dict[str, Any]:
    """The composed ``serve`` group of conf/ with overrides, resolved as `make serve` does."""
    cfg, _ = compose_config(overrides, REPO_ROOT / "conf")
    return OmegaConf.to_container(cfg.serve, resolve=True)


def stack_overrides(
    root: Path, log_dir: Path, database_url: str | None = None
) -> tuple[list[str], dict[str, int]]:
    """Overrides serving a pipeline clone's database (or another) on free ports; the ports."""
    ports = {name: free_port() for name in ("full", "light", "api", "dashboard")}
    database_url = database_url or f"sqlite:///{root / 'data/serving/clients.db'}"
    return [
        f"serve.database_url={database_url}",
        f"serve.model_servers.full.port={ports['full']}",
        f"serve.model_servers.light.port={ports['light']}",
        f"serve.api.port={ports['api']}",
        f"serve.dashboard.port={ports['dashboard']}",
        "serve.api.db_recheck_seconds=0",
        "serve.api.graceful_timeout=3",
        "serve.stop_timeout=10",
        "serve.startup_timeout=150",
        "serve.client.connect_timeout=0.2",
        "serve.client.read_timeout=5",
        f"serve.supervisor.log_dir={log_dir}",
        f"serve.supervisor.run_dir={log_dir}",  # the socket and config beside the logs
    ], ports


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.1)


def port_free(port: int) -> bool:
    """Nothing listens on the loopback port (a bind would succeed)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def status(url: str, method: str = "GET", **kwargs: Any) -> int | None:
    """The HTTP status of one call on a new connection, or None when nothing answers."""
    try:
        return requests.request(method, url, timeout=10, **kwargs).status_code
    except requests.RequestException:
        return None


def _stat(pid: str) -> list[str] | None:
    try:
        return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def pids_in_group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields and int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def children(pid: int) -> list[int]:
    """Live direct children of a process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found
