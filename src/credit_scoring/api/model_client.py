"""HTTP client of the two ``mlflow models serve`` processes (full and light).

One pooled ``requests.Session`` per API process: keep-alive connections avoid a
TCP handshake per score, which matters when the whole answer budget is ~15 ms.
Every failure to get an answer (refused, timeout, 5xx) becomes
``ModelServerUnavailable`` naming the server; a 4xx from the server means the
request we built is wrong and is reported as such, not as an outage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from credit_scoring.api.settings import ApiSettings
from credit_scoring.errors import CreditScoringError, ModelServerUnavailable


class ModelRequestRejected(CreditScoringError):
    """The model server refused our input (HTTP 4xx): the request, not the server, is wrong."""

    def __init__(self, name: str, status: int, detail: str) -> None:
        self.name = name
        self.status = status
        self.detail = detail
        super().__init__(f"model server {name!r} rejected the input ({status}): {detail}")


class ModelServers:
    """Calls ``/invocations`` and ``/ping`` on the configured model servers."""

    def __init__(self, settings: ApiSettings) -> None:
        self._servers = settings.model_servers
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=len(self._servers), pool_maxsize=settings.pool_size)
        self._session.mount("http://", adapter)

    @property
    def names(self) -> tuple[str, ...]:
        """The configured model names."""
        return tuple(self._servers)

    def ping(self, name: str) -> None:
        """Raise ``ModelServerUnavailable`` unless the server answers ``/ping`` with 200."""
        url = f"{self._servers[name].base_url}/ping"
        try:
            response = self._session.get(url, timeout=self._timeout)
        except requests.RequestException as exc:
            raise ModelServerUnavailable(name, type(exc).__name__) from exc
        if response.status_code != 200:
            raise ModelServerUnavailable(name, f"/ping answered {response.status_code}")

    def predict(
        self,
        name: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        params: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One prediction record per row, as the pyfunc contract defines them.

        ``dataframe_split`` is the most compact payload MLflow accepts (column names
        once, not per row). ``contributions`` and ``reasons`` (JSON strings in the
        contract) are decoded.
        """
        body: dict[str, Any] = {"dataframe_split": {"columns": list(columns), "data": rows}}
        if params:
            body["params"] = dict(params)
        url = f"{self._servers[name].base_url}/invocations"
        try:
            response = self._session.post(url, json=body, timeout=self._timeout)
        except requests.RequestException as exc:
            raise ModelServerUnavailable(name, type(exc).__name__) from exc
        if response.status_code >= 500:
            raise ModelServerUnavailable(name, f"/invocations answered {response.status_code}")
        if response.status_code != 200:
            raise ModelRequestRejected(name, response.status_code, response.text[:500])
        predictions = response.json()["predictions"]
        for record in predictions:
            for key in ("contributions", "reasons"):
                if isinstance(record.get(key), str):
                    record[key] = json.loads(record[key])
        return predictions
