"""The dashboard's only way to the data: the API over HTTP.

Every failure becomes one typed error the page can put into words: the API not
answering at all (``ApiUnreachable``), a part behind it down (``ServiceDown``: a
503 that names the model server, or the database), or a refusal of what was
asked (``ApiRefused``: an unknown client, a field out of range). The page never
sees a ``requests`` exception or a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from credit_scoring.dashboard.settings import DashboardSettings
from credit_scoring.errors import CreditScoringError


class ApiError(CreditScoringError):
    """Base class of what can go wrong between the dashboard and the API."""


class ApiUnreachable(ApiError):
    """The API did not answer (refused, timed out, or not HTTP)."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"the API at {url} does not answer ({detail})")


class ServiceDown(ApiError):
    """The API answered 503: ``server`` names the model server, ``None`` for the database."""

    def __init__(self, server: str | None, message: str) -> None:
        self.server = server
        self.message = message
        super().__init__(message)


class ApiRefused(ApiError):
    """The API refused the request (4xx, or 5xx other than 503); ``field`` names the input."""

    def __init__(self, status: int, field: str | None, reason: str, message: str) -> None:
        self.status = status
        self.field = field
        self.reason = reason
        self.message = message
        super().__init__(message)


class ApiKeyRejected(ApiRefused):
    """401/403: the key is missing, unknown or lacks the scope; ``key_env`` is where it is read."""

    def __init__(self, status: int, message: str, key_env: str | None) -> None:
        super().__init__(status, "Authorization", "unauthorized", message)
        self.key_env = key_env


class ApiClient:
    """A pooled session on the API, with the optional key sent on every call."""

    def __init__(self, settings: DashboardSettings) -> None:
        self.base_url = settings.api_url.rstrip("/")
        self._timeout = settings.timeout
        self._key_env = settings.api_key_env
        self._session = requests.Session()
        if settings.api_key:
            # Both spellings the API accepts; an API without keys ignores them.
            self._session.headers["X-API-Key"] = settings.api_key
            self._session.headers["Authorization"] = f"Bearer {settings.api_key}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (),
    ) -> tuple[int, Any]:
        """Status and decoded body; raise the typed errors above for anything not allowed."""
        url = self.base_url + path
        try:
            response = self._session.request(
                method, url, params=params, json=json, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise ApiUnreachable(self.base_url, type(exc).__name__) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code in allow:
            return response.status_code, body
        if body is None:
            # Not the API talking (a proxy's error page, another program on the port).
            raise ApiUnreachable(self.base_url, f"HTTP {response.status_code} without a JSON body")
        if response.status_code == 200:
            return response.status_code, body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = str(error.get("message") or f"HTTP {response.status_code}")
        if response.status_code == 503:
            raise ServiceDown(error.get("server"), message)
        if response.status_code in (401, 403):
            raise ApiKeyRejected(response.status_code, message, self._key_env)
        raise ApiRefused(
            response.status_code, error.get("field"), str(error.get("reason", "")), message
        )

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` with query ``params``; the decoded JSON of a 200."""
        return self._call("GET", path, params=params or None)[1]

    def health(self) -> dict[str, Any]:
        """``/health``'s body, whether it says ok (200) or unavailable (503)."""
        return self._call("GET", "/health", allow=(503,))[1]

    def optional(self, path: str) -> dict[str, Any] | None:
        """A route that may not exist on this API version: its body, or None on 404."""
        status, body = self._call("GET", path, allow=(404,))
        return None if status == 404 else body

    def client(self, client_id: int) -> dict[str, Any]:
        """``/clients/{id}``: the stored fields and the precomputed scores."""
        return self.get(f"/clients/{client_id}")

    def explain(self, client_id: int, model: str, top: int) -> dict[str, Any]:
        """``/clients/{id}/explain``: the live score with its SHAP contributions."""
        return self.get(f"/clients/{client_id}/explain", model=model, top=top)

    def compare_models(self, client_id: int) -> dict[str, Any]:
        """``/compare/models``: full and light side by side."""
        return self.get("/compare/models", client_id=client_id)

    def position(self, client_id: int) -> dict[str, Any]:
        """``/clients/{id}/position``: income percentile and repaid peers."""
        return self.get(f"/clients/{client_id}/position")

    def distribution(self, feature: str, population: str, bins: int) -> dict[str, Any]:
        """``/compare/distribution``: a precomputed histogram."""
        return self.get("/compare/distribution", feature=feature, population=population, bins=bins)

    def score(self, applicant: Mapping[str, Any], models: list[str]) -> dict[str, Any]:
        """``POST /score`` for a new applicant."""
        return self._call("POST", "/score", json={**applicant, "models": models})[1]

    def models(self) -> dict[str, Any]:
        """``/models``: the champions' versions, AUC, thresholds, training dates."""
        return self.get("/models")
