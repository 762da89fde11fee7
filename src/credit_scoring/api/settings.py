"""The API's settings, built from the ``serve`` config group (conf/serve/default.yaml).

A frozen dataclass rather than the raw config: the app factory validates once at
start-up, and gunicorn workers receive the same values as JSON through one
environment variable (``CREDIT_SCORING_API_CONFIG``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelServerSettings:
    """Where one model server listens and how it is started."""

    name: str
    model_uri: str
    host: str
    port: int
    workers: int
    request_timeout: int

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the server."""
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ApiSettings:
    """Everything ``create_app`` needs."""

    database_url: str
    model_servers: Mapping[str, ModelServerSettings]
    connect_timeout: float
    read_timeout: float
    pool_size: int
    max_content_length: int
    max_top: int
    db_recheck_seconds: float

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ApiSettings:
        """Build from the ``serve`` group (a DictConfig converted to a dict, or a plain dict)."""
        servers = {
            name: ModelServerSettings(
                name=name,
                model_uri=str(s["model_uri"]),
                host=str(s["host"]),
                port=int(s["port"]),
                workers=int(s["workers"]),
                request_timeout=int(s["request_timeout"]),
            )
            for name, s in cfg["model_servers"].items()
        }
        client = cfg["client"]
        return cls(
            database_url=str(cfg["database_url"]),
            model_servers=servers,
            connect_timeout=float(client["connect_timeout"]),
            read_timeout=float(client["read_timeout"]),
            pool_size=int(client["pool_size"]),
            max_content_length=int(cfg["api"]["max_content_length"]),
            max_top=int(cfg["api"]["max_top"]),
            db_recheck_seconds=float(cfg["api"]["db_recheck_seconds"]),
        )
