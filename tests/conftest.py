"""Session-wide fixtures and paths shared by unit and integration tests."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_HEADS = REPO_ROOT / "tests" / "fixtures" / "real_heads"


def free_port() -> int:
    """A loopback port nobody listens on now (bound, then released for a server to take)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout under test."""
    return REPO_ROOT
