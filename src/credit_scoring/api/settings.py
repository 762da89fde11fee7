"""The API's settings, built from the ``serve`` config group (conf/serve/default.yaml).

A frozen dataclass rather than the raw config: the app factory validates once at
start-up, and gunicorn workers receive the same values as JSON through one
environment variable (``CREDIT_SCORING_API_CONFIG``). API keys come from the
config (sha256 digests only) and from an environment variable (plain keys, which
never reach a file); an API bound beyond loopback without keys refuses to start.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from credit_scoring.api.auth import ApiKey, parse_env_keys, parse_hashed_keys
from credit_scoring.errors import CreditScoringError


class InsecureSettings(CreditScoringError):
    """The configuration would serve the clients' personal data to anyone."""


def is_loopback(host: str) -> bool:
    """``host`` reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    host: str = "127.0.0.1"
    #: Accepted API keys; empty = access control off (loopback only).
    keys: tuple[ApiKey, ...] = ()
    #: The query parameter the legacy routes also read a key from (the prototype's front
    #: end cannot send headers); empty = headers only there too.
    legacy_key_param: str = ""
    #: Flask-Limiter limits per key (or per client address while keys are off), by scope.
    rate_limits: Mapping[str, str] = field(default_factory=dict)
    rate_limit_storage: str = "memory://"
    #: Check every answer against its declared model (tests: a drift is a 500 there).
    validate_responses: bool = False

    @property
    def auth_enabled(self) -> bool:
        """Whether requests need a key."""
        return bool(self.keys)

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
        api = cfg["api"]
        auth = api.get("auth") or {}
        keys = parse_hashed_keys(auth.get("keys") or {})
        env_var = auth.get("keys_env")
        if env_var and os.environ.get(env_var):
            keys += parse_env_keys(os.environ[env_var], source=env_var)
        host = str(api.get("host", "127.0.0.1"))
        if not keys and not is_loopback(host):
            raise InsecureSettings(
                f"serve.api.host={host} would serve the clients' personal data without access "
                f"control: set API keys (serve.api.auth.keys or ${env_var or 'the keys variable'})"
                " or bind the API to 127.0.0.1"
            )
        for name, server in servers.items():
            if not is_loopback(server.host):
                raise InsecureSettings(
                    f"serve.model_servers.{name}.host={server.host}: the model servers have no "
                    "access control and must stay on loopback (the API is the way in)"
                )
        limits = api.get("rate_limits") or {}
        return cls(
            database_url=str(cfg["database_url"]),
            model_servers=servers,
            connect_timeout=float(client["connect_timeout"]),
            read_timeout=float(client["read_timeout"]),
            pool_size=int(client["pool_size"]),
            max_content_length=int(cfg["api"]["max_content_length"]),
            max_top=int(cfg["api"]["max_top"]),
            db_recheck_seconds=float(cfg["api"]["db_recheck_seconds"]),
            host=host,
            keys=keys,
            legacy_key_param=str(auth.get("legacy_query_param") or ""),
            rate_limits={k: str(v) for k, v in limits.items() if k != "storage_uri"},
            rate_limit_storage=str(limits.get("storage_uri", "memory://")),
            validate_responses=bool(api.get("validate_responses", False)),
        )
