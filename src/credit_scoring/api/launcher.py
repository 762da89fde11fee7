"""Start the serving stack: two ``mlflow models serve`` processes, the API under gunicorn,
then the dashboard (when the config has a ``dashboard`` section).

Each child runs in its own process group so that stopping it reaches its workers
too (uvicorn and gunicorn fork them), and so that Ctrl-C in the terminal reaches
only the supervisor, which then stops the API first (no request left without a
model server) and the model servers after it: SIGTERM, a grace period, SIGKILL.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from credit_scoring.api.app import CONFIG_ENV
from credit_scoring.api.settings import ApiSettings
from credit_scoring.dashboard import server as dashboard
from credit_scoring.errors import CreditScoringError

log = logging.getLogger(__name__)


class ServingStartupError(CreditScoringError):
    """A server exited or did not answer its health route in time."""


def _bin(name: str) -> str:
    """An executable of this environment (the venv the supervisor runs in)."""
    return str(Path(sys.executable).with_name(name))


@dataclass
class ServingStack:
    """The three servers of ``make serve``, described by the ``serve`` config group."""

    config: Mapping[str, Any]
    tracking_uri: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def commands(self) -> dict[str, list[str]]:
        """The command line of each server, in start order."""
        settings = ApiSettings.from_config(self.config)
        commands = {
            name: [
                _bin("mlflow"),
                "models",
                "serve",
                "-m",
                server.model_uri,
                "--env-manager",
                "local",
                "-h",
                server.host,
                "-p",
                str(server.port),
                "-w",
                str(server.workers),
                "-t",
                str(server.request_timeout),
            ]
            for name, server in settings.model_servers.items()
        }
        api = self.config["api"]
        commands["api"] = [
            _bin("gunicorn"),
            "--bind",
            f"{api['host']}:{api['port']}",
            "--workers",
            str(api["workers"]),
            "--threads",
            str(api["threads"]),
            "--worker-class",
            "gthread",
            "--timeout",
            str(api["timeout"]),
            "--graceful-timeout",
            str(api["graceful_timeout"]),
            "credit_scoring.api.app:app_from_env()",
        ]
        if "dashboard" in self.config:
            commands["dashboard"] = dashboard.command(self.config["dashboard"])
        return commands

    def _health_url(self, name: str) -> str:
        if name == "dashboard":
            return dashboard.health_url(self.config["dashboard"])
        if name == "api":
            return f"http://{self.config['api']['host']}:{self.config['api']['port']}/openapi.json"
        server = self.config["model_servers"][name]
        return f"http://{server['host']}:{server['port']}/ping"

    def _wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + float(self.config["startup_timeout"])
        url = self._health_url(name)
        while time.monotonic() < deadline:
            code = self.processes[name].poll()
            if code is not None:
                raise ServingStartupError(f"{name} server exited with code {code} while starting")
            try:
                if requests.get(url, timeout=1.0).status_code == 200:
                    log.info("%s ready at %s", name, url.rsplit("/", 1)[0])
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise ServingStartupError(f"{name} server did not answer {url} within the startup timeout")

    def start(self) -> None:
        """Start the model servers (in parallel), wait for /ping, then start the API."""
        env = {**os.environ, "MLFLOW_TRACKING_URI": self.tracking_uri}
        # mlflow execs `uvicorn` by name: this environment's bin must come first on PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env[CONFIG_ENV] = json.dumps(dict(self.config))
        # `mlflow models serve` runs uvicorn, which reads its options from UVICORN_* variables.
        env["UVICORN_ACCESS_LOG"] = "true" if self.config["access_log"] else "false"
        if "dashboard" in self.config:
            env.update(dashboard.environment(self.config["dashboard"]))
        commands = self.commands()
        try:
            for name, command in commands.items():
                if name == "api":
                    for model in self.processes:
                        self._wait_ready(model)
                log.info("starting %s: %s", name, " ".join(command))
                self.processes[name] = subprocess.Popen(command, env=env, start_new_session=True)
            for name in ("api", "dashboard"):
                if name in self.processes:
                    self._wait_ready(name)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the API, then the model servers: SIGTERM, grace period, SIGKILL."""
        grace = float(self.config["stop_timeout"])
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %.0f s: killing it", name, grace)
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            log.info("%s stopped (exit code %s)", name, process.returncode)

    def wait(self) -> str:
        """Block until a server exits on its own; return its name."""
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    return name
            time.sleep(0.5)


def serve_forever(config: Mapping[str, Any], tracking_uri: str) -> int:
    """Run the stack in the foreground until SIGINT/SIGTERM or a server dies; 0 on a clean stop."""

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    stack = ServingStack(config, tracking_uri)
    try:
        stack.start()
        if "dashboard" in config:
            log.info("loan officer's dashboard: %s", dashboard.url(config["dashboard"]))
        log.info("serving; Ctrl-C stops everything")
        died = stack.wait()
        log.error("%s server exited; stopping the others", died)
        return 1
    except KeyboardInterrupt:
        log.info("stopping")
        return 0
    finally:
        stack.stop()
