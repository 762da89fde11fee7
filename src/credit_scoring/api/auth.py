"""API keys: who may score applicants and who may read the stored clients.

Two scopes: ``score`` (a new applicant: POST /score, the legacy predictions from
typed-in fields) and ``read`` (the stored clients: lookups, live scores and
explanations of stored clients, comparisons, models). ``/health``, ``/openapi.json``,
``/docs`` and the legacy liveness route are public.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the
legacy routes also read it from a query parameter (``serve.api.auth.legacy_query_param``)
because the prototype's front end can only build URLs. Keys are known by their
SHA-256 digest only (in the config), or given in plain through an environment
variable that never reaches a file. A plain hash is enough: keys are random
tokens of 256 bits (``python -m credit_scoring.api.auth``), not passwords, so
there is nothing to brute-force a salt or a slow hash against. Every candidate
digest is compared in constant time (``hmac.compare_digest``), and the key itself
is never logged: only its name.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from flask import Flask, g, request

from credit_scoring.errors import CreditScoringError

Scope = Literal["public", "read", "score"]
SCOPES: tuple[str, ...] = ("read", "score")

#: The OpenAPI security schemes (both carry the same key).
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
    "api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


class KeyConfigError(CreditScoringError):
    """A configured key is malformed (bad digest, unknown scope)."""


@dataclass(frozen=True)
class ApiKey:
    """One accepted key: a name for logs and limits, its SHA-256 digest, its scopes."""

    name: str
    sha256: bytes
    scopes: frozenset[str]


def digest(key: str) -> bytes:
    """The SHA-256 digest of a key, as stored."""
    return hashlib.sha256(key.encode()).digest()


def _scopes(raw: Any, where: str) -> frozenset[str]:
    scopes = frozenset([raw] if isinstance(raw, str) else raw or ())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        raise KeyConfigError(
            f"{where}: scopes must be some of {list(SCOPES)}, got {sorted(scopes)}"
        )
    return scopes


def parse_hashed_keys(entries: Mapping[str, Mapping[str, Any]]) -> tuple[ApiKey, ...]:
    """``serve.api.auth.keys``: ``{name: {sha256: <64 hex digits>, scopes: [read, score]}}``."""
    keys = []
    for name, entry in entries.items():
        where = f"serve.api.auth.keys.{name}"
        try:
            raw = bytes.fromhex(str(entry["sha256"]))
        except (KeyError, ValueError):
            raise KeyConfigError(f"{where}.sha256 must be 64 hexadecimal digits") from None
        if len(raw) != 32:
            raise KeyConfigError(f"{where}.sha256 must be 64 hexadecimal digits")
        keys.append(ApiKey(str(name), raw, _scopes(entry.get("scopes"), where)))
    return tuple(keys)


def parse_env_keys(text: str, *, source: str) -> tuple[ApiKey, ...]:
    """Plain keys from the environment: ``name:scope[+scope]:key`` separated by commas."""
    keys = []
    for i, item in enumerate(filter(None, (part.strip() for part in text.split(",")))):
        parts = item.split(":", 2)
        if len(parts) != 3 or not parts[2]:
            raise KeyConfigError(f"${source} entry {i + 1}: expected name:scope[+scope]:key")
        name, scopes, key = parts
        keys.append(ApiKey(name, digest(key), _scopes(scopes.split("+"), f"${source} {name}")))
    return tuple(keys)


class Denied(CreditScoringError):
    """A request without a valid key (401) or whose key lacks the scope (403)."""

    def __init__(self, status: int, reason: str, message: str, field: str) -> None:
        self.status = status
        self.reason = reason
        self.field = field
        super().__init__(message)


def requires(scope: Scope) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view with the scope it needs (``public`` for none).

    The mark is an attribute of the function, which ``functools.wraps`` carries to the
    view flask-openapi3 registers; ``install`` refuses an app with an unmarked route.
    """

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        func.required_scope = scope  # type: ignore[attr-defined]
        return func

    return mark


def security(scope: Scope) -> list[dict[str, list[str]]] | None:
    """The OpenAPI ``security`` of a route needing ``scope`` (None: public)."""
    return None if scope == "public" else [{"bearer": []}, {"api_key": []}]


def _presented() -> tuple[str | None, str]:
    """The key the request carries and where it was found (for the error's ``field``)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip(), "Authorization"
    if request.headers.get("X-API-Key"):
        return request.headers["X-API-Key"].strip(), "X-API-Key"
    return None, "Authorization"


def install(app: Flask, keys: tuple[ApiKey, ...], legacy_param: str) -> None:
    """Check every request's key against the scope its route requires.

    With no keys configured access control is off (the settings allow that on
    loopback only) and ``g.api_key`` stays None. ``g.rate_key`` names the caller
    for the rate limiter: the key's name, or the client address without keys.
    """
    for endpoint, view in app.view_functions.items():
        if endpoint != "static" and getattr(view, "required_scope", None) is None:
            raise KeyConfigError(f"route {endpoint!r} declares no scope (auth.requires)")

    def lookup(presented: str) -> ApiKey | None:
        wanted = digest(presented)
        found = None
        for key in keys:  # no early exit: every comparison is made, in constant time
            if hmac.compare_digest(wanted, key.sha256):
                found = key
        return found

    @app.before_request
    def authenticate() -> None:
        view = app.view_functions.get(request.endpoint or "")
        scope = getattr(view, "required_scope", "public")
        g.required_scope = scope
        g.api_key = None
        g.rate_key = request.remote_addr or "unknown"
        if not keys or scope == "public":
            return
        presented, where = _presented()
        if presented is None and legacy_param and request.blueprint == "legacy":
            presented, where = request.args.get(legacy_param) or None, legacy_param
        if not presented:
            raise Denied(
                401,
                "missing_api_key",
                "send an API key: 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                where,
            )
        key = lookup(presented)
        if key is None:
            raise Denied(401, "invalid_api_key", "the API key is not valid", where)
        if scope not in key.scopes:
            raise Denied(
                403,
                "insufficient_scope",
                f"the API key {key.name!r} may not {scope} (its scopes: {sorted(key.scopes)})",
                where,
            )
        g.api_key = key
        g.rate_key = f"key:{key.name}"


def main(argv: list[str] | None = None) -> None:
    """Print a new random key and the config entry that accepts it (its digest only)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("name", help="who holds the key, e.g. front-office")
    parser.add_argument("--scopes", default="read", help="read, score or read+score")
    args = parser.parse_args(argv)
    scopes = sorted(_scopes(args.scopes.split("+"), "--scopes"))
    key = secrets.token_urlsafe(32)
    print(f"key (give it to {args.name}; it is shown once): {key}")
    print("entry for conf/serve (serve.api.auth.keys):")
    print(f"  {args.name}: {{sha256: {digest(key).hex()}, scopes: [{', '.join(scopes)}]}}")


if __name__ == "__main__":
    main()
