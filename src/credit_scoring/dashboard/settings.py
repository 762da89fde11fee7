"""The dashboard's settings: the ``serve.dashboard`` config group (conf/serve/default.yaml).

The serving launcher hands them to the Streamlit process as JSON in one
environment variable, as it does for the API's gunicorn workers. Run by hand
(``streamlit run src/credit_scoring/dashboard/app.py`` from the repository), the
dashboard composes ``conf/`` itself, so the same file decides either way.
The API key is never in a config file: the config names the environment
variable that holds it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit_scoring.config import DashboardConfig, validate_group

#: The environment variable through which the launcher passes ``serve.dashboard`` as JSON.
CONFIG_ENV = "CREDIT_SCORING_DASHBOARD_CONFIG"


@dataclass(frozen=True)
class DashboardSettings:
    """Everything the app needs: where the API is, how to call it, what to draw."""

    api_url: str
    timeout: float
    api_key: str | None
    api_key_env: str | None
    language: str
    languages: tuple[str, ...]
    explain_top: int
    histogram_bins: int
    what_if_points: int
    what_if_range: tuple[float, float]

    @classmethod
    def from_config(
        cls, cfg: DashboardConfig | Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> DashboardSettings:
        """Build from ``serve.dashboard`` (typed, or a mapping checked against its schema).

        The launcher's JSON is validated by the one declared schema
        (``credit_scoring.config.DashboardConfig``); only the key, from ``environ``, is
        not a config value.
        """
        environ = os.environ if environ is None else environ
        if not isinstance(cfg, DashboardConfig):
            cfg = validate_group(DashboardConfig, cfg, "serve.dashboard")
        return cls(
            api_url=cfg.api_url,
            timeout=cfg.timeout,
            api_key=(environ.get(cfg.api_key_env) or None) if cfg.api_key_env else None,
            api_key_env=cfg.api_key_env,
            language=cfg.language,
            languages=cfg.languages,
            explain_top=cfg.explain_top,
            histogram_bins=cfg.histogram_bins,
            what_if_points=cfg.what_if_points,
            what_if_range=cfg.what_if_range,
        )


def compose_config(conf_dir: Path) -> dict[str, Any]:
    """``serve.dashboard`` from the Hydra config in ``conf_dir``, checked and resolved."""
    from credit_scoring import config

    return config.compose_config(conf_dir=conf_dir)[1].serve.dashboard.model_dump(mode="json")


def load_settings(environ: Mapping[str, str] | None = None) -> DashboardSettings:
    """The launcher's JSON when set, else ``conf/`` of the current directory."""
    environ = os.environ if environ is None else environ
    raw = environ.get(CONFIG_ENV)
    if raw:
        return DashboardSettings.from_config(json.loads(raw), environ)
    return DashboardSettings.from_config(compose_config(Path.cwd() / "conf"), environ)
