"""The thin HTTP API over the clients database and the model servers (``create_app``)."""

from credit_scoring.api.app import create_app

__all__ = ["create_app"]
