"""How the dashboard is started as a server: the command line, its environment, its health URL.

Declared here, once, so whatever supervises the serving processes starts the
dashboard the same way. Streamlit reads the options it is given on the command
line; the app reads its own settings from ``CONFIG_ENV``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from credit_scoring.dashboard.settings import CONFIG_ENV

#: The Streamlit script.
APP = Path(__file__).with_name("app.py")


def command(cfg: Mapping[str, Any]) -> list[str]:
    """``streamlit run`` for the ``serve.dashboard`` config: headless, no telemetry, no reload.

    ``cfg["streamlit"]`` adds Streamlit's own options (``theme.primaryColor``...).
    """
    streamlit = str(Path(sys.executable).with_name("streamlit"))
    fixed = {
        "server.address": cfg["host"],
        "server.port": cfg["port"],
        "server.headless": "true",
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": "false",
        "global.developmentMode": "false",
    }
    options = {**fixed, **dict(cfg.get("streamlit") or {})}
    line = [streamlit, "run", str(APP)]
    for name, value in options.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        line += [f"--{name}", text]
    return line


def environment(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The variables the dashboard process needs on top of the supervisor's own."""
    return {CONFIG_ENV: json.dumps(dict(cfg))}


def url(cfg: Mapping[str, Any]) -> str:
    """Where a person opens the dashboard."""
    return f"http://{cfg['host']}:{cfg['port']}"


def health_url(cfg: Mapping[str, Any]) -> str:
    """Streamlit's own health route: 200 ``ok`` once the server accepts sessions."""
    return url(cfg) + "/_stcore/health"


def _die_with_parent() -> None:
    """Ask the kernel for SIGKILL (not the supervisor's SIGTERM) when the supervisor dies.

    Streamlit caught the parent-death SIGTERM of a SIGKILLed supervisor and kept
    serving, holding its port (seen with Streamlit 1.67); a normal stop is still
    supervisord's SIGTERM, which Streamlit honours. The setting survives the exec.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the supervisor died before the request took effect
        raise SystemExit("the supervisor is gone")


def main() -> None:
    """Run the dashboard as a supervised program: ``python -m credit_scoring.dashboard.server``.

    The supervisor hands every program the composed ``serve`` config as JSON in
    ``CREDIT_SCORING_API_CONFIG``; this reads its ``dashboard`` section and replaces
    itself with Streamlit (``exec``), so the supervisor's signals reach Streamlit directly.
    """
    from credit_scoring.api.app import CONFIG_ENV as SERVE_CONFIG_ENV

    cfg = json.loads(os.environ[SERVE_CONFIG_ENV])["dashboard"]
    _die_with_parent()
    line = command(cfg)
    os.execve(line[0], line, {**os.environ, **environment(cfg)})


if __name__ == "__main__":
    main()
