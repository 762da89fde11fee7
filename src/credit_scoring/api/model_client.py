"""HTTP client of the two ``mlflow models serve`` processes (full and light).

One urllib3 connection pool per model server and API process: keep-alive
connections avoid a TCP handshake per score. urllib3 rather than ``requests``
(which sits on it): per call, ``requests`` re-reads the proxy settings of the
environment and rebuilds the request, about 40% of the API's own CPU per score
in a py-spy profile; the model servers are on loopback, where none of that applies.
Every failure to get an answer (refused, timeout, 5xx) becomes
``ModelServerUnavailable`` naming the server; a 4xx from the server means the
request we built is wrong and is reported as such, not as an outage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import urllib3

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
        timeout = urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout)
        self._pools = {
            name: urllib3.HTTPConnectionPool(
                server.host,
                server.port,
                maxsize=settings.pool_size,
                block=False,
                timeout=timeout,
                retries=False,
            )
            for name, server in self._servers.items()
        }

    @property
    def names(self) -> tuple[str, ...]:
        """The configured model names."""
        return tuple(self._servers)

    def _call(self, name: str, method: str, path: str, body: bytes | None = None) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            return self._pools[name].request(method, path, body=body, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ModelServerUnavailable(name, type(exc).__name__) from exc

    def ping(self, name: str) -> None:
        """Raise ``ModelServerUnavailable`` unless the server answers ``/ping`` with 200."""
        response = self._call(name, "GET", "/ping")
        if response.status != 200:
            raise ModelServerUnavailable(name, f"/ping answered {response.status}")

    def predict(
        self,
        name: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        params: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One prediction record per row, as the pyfunc contract defines them.

        Sent in MLflow's columnar ``inputs`` format: of the JSON formats its scoring
        server accepts, the one it turns into a frame at the least cost (its handler
        adds ~40% to the predict time with ``inputs``, ~65% with ``dataframe_split``;
        see README, Benchmarks). ``contributions`` and
        ``reasons`` (JSON strings in the contract) are decoded.
        """
        inputs = {column: [row[i] for row in rows] for i, column in enumerate(columns)}
        body: dict[str, Any] = {"inputs": inputs}
        if params:
            body["params"] = dict(params)
        response = self._call(name, "POST", "/invocations", json.dumps(body).encode())
        if response.status >= 500:
            raise ModelServerUnavailable(name, f"/invocations answered {response.status}")
        if response.status != 200:
            detail = response.data[:500].decode(errors="replace")
            raise ModelRequestRejected(name, response.status, detail)
        predictions = json.loads(response.data)["predictions"]
        for record in predictions:
            for key in ("contributions", "reasons"):
                if isinstance(record.get(key), str):
                    record[key] = json.loads(record[key])
        return predictions
