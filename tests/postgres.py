"""A throw-away PostgreSQL server for the tests: Debian's binaries, a temporary cluster.

``make test`` installs Debian's ``postgresql`` when absent (``make system-deps``). The
server runs from a temporary directory on a free loopback port with its unix socket
in that directory, so it never meets the machine's own clusters. PostgreSQL refuses
to run as root: as root, initdb and pg_ctl run as the ``postgres`` user the package
creates, and the directory belongs to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

#: The database role the tests connect as (trust authentication on loopback only).
ROLE = "credit"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: run `make system-deps` (as root)")
    return Path(found[-1]).parent


@dataclass(frozen=True)
class PostgresServer:
    """A running temporary server: where it listens and how to make databases on it."""

    port: int
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of a database on this server, through psycopg."""
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=ROLE, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a temporary cluster; stop and delete it afterwards."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="credit-scoring-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"]
    port = free_port()

    def run(*args: str) -> None:
        result = subprocess.run(
            [*as_user, *args], capture_output=True, text=True, timeout=120, cwd=root
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    run(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        ROLE,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-sync",
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = str(bin_dir / "pg_ctl")
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield PostgresServer(port, root)
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
