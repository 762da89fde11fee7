"""Run the serving programs under supervisord, configured from the ``serve`` group at start.

``make serve`` composes the Hydra config, writes a ``supervisord.conf`` for the
``serve.programs`` it lists (both ``mlflow models serve`` processes and the API under
gunicorn by default) and replaces itself with supervisord in the foreground. What the
product relies on, and where it comes from:

- a crashed program is started again by supervisord while the others keep serving
  (``autorestart``; failed starts back off 1, 2, 3 ... s, ``serve.supervisor``);
- each program is its own process group and is stopped as a group
  (``stopasgroup``/``killasgroup``), so uvicorn's and gunicorn's workers go with it;
  all programs are one supervisord group, so a stop signals them at once and ends
  within ``serve.stop_timeout`` (SIGTERM, then SIGKILL);
- a program never outlives supervisord, even a SIGKILLed one: each command runs
  through util-linux's ``setpriv --pdeathsig`` (``PR_SET_PDEATHSIG``), so the kernel
  signals it when supervisord dies. ``mlflow models serve`` sets the same on the
  uvicorn it starts, and uvicorn and gunicorn masters stop their workers on SIGTERM
  (gunicorn workers also exit on their own within a second when their master is gone).

:class:`ServingStack` is the same stack for tests and benchmarks: it starts
supervisord as a child, waits until every program answers its ``ready_url``, and
stops it. :func:`procfile` writes the same commands for platforms that run a Procfile.
"""

from __future__ import annotations

import configparser
import io
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import requests

from credit_scoring.api.app import CONFIG_ENV
from credit_scoring.errors import CreditScoringError

log = logging.getLogger(__name__)

#: The one supervisord group every program belongs to (``supervisorctl status serving:``).
GROUP = "serving"


class ServingStartupError(CreditScoringError):
    """supervisord or a program exited, or a program did not answer in time."""


@dataclass(frozen=True)
class Program:
    """One entry of ``serve.programs``: what to run and how to tell it serves."""

    name: str
    command: tuple[str, ...]
    ready_url: str | None
    priority: int
    environment: Mapping[str, str]


def programs(config: Mapping[str, Any]) -> dict[str, Program]:
    """The configured programs in start order (priority, then name)."""
    found = [
        Program(
            name=name,
            command=tuple(str(arg) for arg in entry["command"]),
            ready_url=entry.get("ready_url"),
            priority=int(entry.get("priority", 100)),
            environment={k: str(v) for k, v in (entry.get("environment") or {}).items()},
        )
        for name, entry in config["programs"].items()
    ]
    return {p.name: p for p in sorted(found, key=lambda p: (p.priority, p.name))}


def _bin_dir() -> Path:
    """This environment's executables (the venv the launcher runs in)."""
    return Path(sys.executable).parent


def environment(config: Mapping[str, Any], tracking_uri: str) -> dict[str, str]:
    """The environment every program starts with (supervisord passes its own on)."""
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # Commands name executables (`mlflow`, `gunicorn`; mlflow itself execs `uvicorn`):
    # this environment's must come first on PATH.
    env["PATH"] = os.pathsep.join([str(_bin_dir()), env.get("PATH", "")])
    env[CONFIG_ENV] = json.dumps(dict(config))
    # `mlflow models serve` runs uvicorn, which reads its options from UVICORN_* variables.
    env["UVICORN_ACCESS_LOG"] = "true" if config["access_log"] else "false"
    return env


def guarded_command(config: Mapping[str, Any], program: Program) -> list[str]:
    """The program's command behind ``setpriv --pdeathsig``: it dies with its parent."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ServingStartupError("setpriv (util-linux) not found: it keeps servers from outliving")
    sig = str(config["supervisor"]["parent_death_signal"])
    return [setpriv, "--pdeathsig", sig, "--", *program.command]


def _escape(value: str) -> str:
    """supervisord expands ``%(name)s`` in every value: a literal ``%`` is written ``%%``."""
    return value.replace("%", "%%")


def _env_value(value: str) -> str:
    """A value of supervisord's ``environment=KEY="value",...`` (parsed with shlex)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def supervisord_conf(config: Mapping[str, Any], run_dir: Path, cwd: Path) -> str:
    """The supervisord.conf text for the configured programs."""
    sup = config["supervisor"]
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    socket = run_dir / "supervisor.sock"
    parser["supervisord"] = {
        "nodaemon": "true",
        "logfile": str(run_dir / "supervisord.log"),
        "logfile_maxbytes": "10MB",
        "pidfile": str(run_dir / "supervisord.pid"),
        "childlogdir": str(run_dir),
        "directory": str(cwd),
    }
    parser["unix_http_server"] = {"file": str(socket), "chmod": "0700"}
    parser["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    parser["supervisorctl"] = {"serverurl": f"unix://{socket}"}
    log_dir = sup.get("log_dir")
    configured = programs(config)
    for program in configured.values():
        section: dict[str, str] = {
            "command": _escape(shlex.join(guarded_command(config, program))),
            "directory": str(cwd),
            "priority": str(program.priority),
            "autostart": "true",
            "autorestart": "true",
            "startsecs": str(int(sup["start_seconds"])),
            "startretries": str(int(sup["start_retries"])),
            "stopsignal": "TERM",
            "stopwaitsecs": str(int(config["stop_timeout"])),
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": f"{log_dir}/{program.name}.log" if log_dir else "/dev/stdout",
            "stdout_logfile_maxbytes": "50MB" if log_dir else "0",
        }
        if program.environment:
            section["environment"] = _escape(
                ",".join(f"{k}={_env_value(v)}" for k, v in program.environment.items())
            )
        parser[f"program:{program.name}"] = section
    parser[f"group:{GROUP}"] = {"programs": ",".join(configured)}
    out = io.StringIO()
    out.write(
        "; Generated from the `serve` config group at start; edit conf/serve, not this file.\n"
    )
    parser.write(out)
    return out.getvalue()


def write_supervisord_conf(config: Mapping[str, Any], cwd: Path | None = None) -> Path:
    """Write supervisord.conf into ``serve.supervisor.run_dir``; return its path."""
    run_dir = Path(config["supervisor"]["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_dir = config["supervisor"].get("log_dir")
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    path = run_dir / "supervisord.conf"
    path.write_text(supervisord_conf(config, run_dir, (cwd or Path.cwd()).resolve()))
    return path


def procfile(config: Mapping[str, Any]) -> str:
    """A Procfile with one line per program: each starts it alone, as supervisord would."""
    lines = [f"{name}: python pipelines/serve.py serve.program={name}" for name in programs(config)]
    return "\n".join(lines) + "\n"


def _supervisord() -> list[str]:
    return [str(_bin_dir() / "supervisord"), "--nodaemon", "--configuration"]


def serve_forever(config: Mapping[str, Any], tracking_uri: str) -> NoReturn:
    """Replace this process with supervisord in the foreground (Ctrl-C stops every program)."""
    conf = write_supervisord_conf(config)
    log.info("supervisord with %s; `supervisorctl -c %s status` shows the programs", conf, conf)
    os.execve(_supervisord()[0], [*_supervisord(), str(conf)], environment(config, tracking_uri))


def exec_program(config: Mapping[str, Any], tracking_uri: str, name: str) -> NoReturn:
    """Replace this process with one program, as supervisord starts it (a Procfile line)."""
    configured = programs(config)
    if name not in configured:
        raise ServingStartupError(f"no program {name!r} in serve.programs: {sorted(configured)}")
    program = configured[name]
    command = guarded_command(config, program)
    env = {**environment(config, tracking_uri), **program.environment}
    os.execve(command[0], command, env)


@dataclass(frozen=True)
class ProcessInfo:
    """A program as supervisord reports it: state name and pid (also its process group)."""

    name: str
    state: str
    pid: int


@dataclass
class ServingStack:
    """The programs of ``make serve`` under a supervisord child, for tests and benchmarks."""

    config: Mapping[str, Any]
    tracking_uri: str
    supervisord: subprocess.Popen | None = None
    conf: Path | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        """supervisord's own output (state changes, restarts, programs on the terminal)."""
        return Path(self.config["supervisor"]["run_dir"]) / "supervisord.out"

    def rpc(self) -> Any:
        """supervisord's XML-RPC interface over its unix socket."""
        from supervisor.xmlrpc import SupervisorTransport

        socket = Path(self.config["supervisor"]["run_dir"]) / "supervisor.sock"
        transport = SupervisorTransport(None, None, f"unix://{socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    @property
    def processes(self) -> dict[str, ProcessInfo]:
        """Every program's current state and pid (0 while not running)."""
        return {
            info["name"]: ProcessInfo(info["name"], info["statename"], int(info["pid"]))
            for info in self.rpc().getAllProcessInfo()
        }

    def ready(self, name: str) -> bool:
        """Whether the program answers its ``ready_url`` with 200 now."""
        url = programs(self.config)[name].ready_url
        if url is None:
            return self.processes[name].state == "RUNNING"
        try:
            return requests.get(url, timeout=1.0).status_code == 200
        except requests.RequestException:
            return False

    def start(self) -> None:
        """Start supervisord with every program; return once each answers its ``ready_url``."""
        self.conf = write_supervisord_conf(self.config)
        self._log = self.log_path.open("ab")
        self.supervisord = subprocess.Popen(
            [*_supervisord(), str(self.conf)],
            env=environment(self.config, self.tracking_uri),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for pytest reaches it only through stop()
        )
        try:
            self.wait_ready(float(self.config["startup_timeout"]))
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float) -> None:
        """Block until every program answers its ``ready_url``; raise naming the late ones."""
        deadline = time.monotonic() + timeout
        pending = list(programs(self.config))
        while pending:
            if self.supervisord is not None and self.supervisord.poll() is not None:
                code = self.supervisord.returncode
                raise ServingStartupError(f"supervisord exited ({code}); see {self.log_path}")
            pending = [name for name in pending if not self.ready(name)]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise ServingStartupError(
                    f"{', '.join(pending)} not ready within {timeout:.0f} s; see {self.log_path}"
                )
            time.sleep(0.25)
        log.info("serving: %s", ", ".join(programs(self.config)))

    def stop(self) -> None:
        """SIGTERM supervisord (it stops every program within the grace), SIGKILL if it hangs."""
        if self.supervisord is not None and self.supervisord.poll() is None:
            self.supervisord.send_signal(signal.SIGTERM)
            try:
                self.supervisord.wait(timeout=float(self.config["stop_timeout"]) + 10)
            except subprocess.TimeoutExpired:
                log.warning("supervisord did not stop in time: killing it")
                self.supervisord.kill()
                self.supervisord.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
