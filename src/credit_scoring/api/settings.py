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
from credit_scoring.config import ServeConfig, validate_group
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
    def from_config(cls, cfg: ServeConfig | Mapping[str, Any]) -> ApiSettings:
        """Build from the ``serve`` group: typed, or a mapping checked against its schema.

        The mapping is what workers receive as JSON; it is validated by the one
        declared schema (``credit_scoring.config.ServeConfig``), so a bad value names
        its ``serve.`` key here too. Only the keys from the environment and the
        loopback rule are decided here: they are not config values.
        """
        serve = cfg if isinstance(cfg, ServeConfig) else validate_group(ServeConfig, cfg, "serve")
        api, auth, client = serve.api, serve.api.auth, serve.client
        servers = {
            name: ModelServerSettings(name=name, **server.model_dump())
            for name, server in serve.model_servers.items()
        }
        keys = parse_hashed_keys({k: v.model_dump() for k, v in (auth.keys or {}).items()})
        env_var = auth.keys_env
        if env_var and os.environ.get(env_var):
            keys += parse_env_keys(os.environ[env_var], source=env_var)
        if not keys and not is_loopback(api.host):
            raise InsecureSettings(
                f"serve.api.host={api.host} would serve the clients' personal data without "
                f"access control: set API keys (serve.api.auth.keys or "
                f"${env_var or 'the keys variable'}) or bind the API to 127.0.0.1"
            )
        for name, server in servers.items():
            if not is_loopback(server.host):
                raise InsecureSettings(
                    f"serve.model_servers.{name}.host={server.host}: the model servers have no "
                    "access control and must stay on loopback (the API is the way in)"
                )
        limits = api.rate_limits
        return cls(
            database_url=serve.database_url,
            model_servers=servers,
            connect_timeout=client.connect_timeout,
            read_timeout=client.read_timeout,
            pool_size=client.pool_size,
            max_content_length=api.max_content_length,
            max_top=api.max_top,
            db_recheck_seconds=api.db_recheck_seconds,
            host=api.host,
            keys=keys,
            legacy_key_param=auth.legacy_query_param or "",
            rate_limits={
                scope: limit
                for scope, limit in limits.model_dump(exclude={"storage_uri"}).items()
                if limit
            },
            rate_limit_storage=limits.storage_uri,
            validate_responses=api.validate_responses,
        )
