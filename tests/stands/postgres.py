"""A PostgreSQL server for the tests: the machine's own, or a throwaway cluster.

``PINBACK_TEST_PG_URL`` names one to use; else a server answering on 127.0.0.1:5432 that
trusts local connections is reused; otherwise one is started from the server binaries in
a temporary folder. Each caller gets its own database, dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def trusted(url: str) -> bool:
    """Whether ``url`` lets us in: Debian's own cluster asks for a password over TCP."""
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error:
        return False
    return True


LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields an admin URL: ``PINBACK_TEST_PG_URL`` when set (a role with a password, say),
    else the machine's server on 127.0.0.1:5432 when it lets ``postgres`` in without one,
    else a throwaway cluster started from the server binaries."""
    given = os.environ.get("PINBACK_TEST_PG_URL")
    if given:
        yield given
        return
    if answers("127.0.0.1", 5432) and trusted(LOCAL):
        yield LOCAL
        return
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError(
            "no PostgreSQL server lets us in on 127.0.0.1:5432 (set PINBACK_TEST_PG_URL) "
            "and no server binaries are installed"
        )
    folder = Path(tempfile.mkdtemp(prefix="pinback-pg-"))
    shutil.chown(folder, "postgres") if os.geteuid() == 0 else None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = folder / "data"
    subprocess.run(
        [
            *as_postgres,
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "-N",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    subprocess.run(
        [
            *as_postgres,
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "-t",
            "30",
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    name = f"pinback_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
