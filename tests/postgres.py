"""A throwaway PostgreSQL server for the test session, so storage and REST tests also run on Postgres.

The session starts its own server from the binaries of Debian's `postgresql` package: a new cluster in a temp
dir, trust auth, listening on 127.0.0.1 at a free port only, durability off for speed; it is stopped and
deleted at the end of the session. initdb refuses to run as root, so as root the server runs as the
`postgres` system user. Missing binaries fail the tests rather than skip them: Postgres support is a
requirement, and a skip would hide that it went untested.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from chatapp import db
from chatapp.config import get_settings
from tests.e2e.appserver import free_port

BACKENDS = ["sqlite", "postgresql"]
SERVER_USER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str) -> str:
        """A new, empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _server_program(name: str) -> str:
    # Debian keeps initdb and pg_ctl out of PATH, under /usr/lib/postgresql/<major>/bin.
    debian = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    newest = max(debian, key=lambda path: int(Path(path).parts[-3].split(".")[0]), default=None)
    found = shutil.which(name) or newest
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found: install Debian's postgresql package (`make postgres`)."
        )
    return found


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], log: Path | None = None) -> None:
    done = subprocess.run(_as_server_user(command), capture_output=True, text=True)
    if done.returncode != 0:
        server_log = log.read_text() if log is not None and log.exists() else ""
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}{server_log}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        with running_postgres() as server:
            yield server
    except RuntimeError as error:  # a missing or broken server fails the tests rather than skips them
        pytest.fail(str(error), pytrace=False)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Starts a new cluster for the block (also used by benchmarks); yields the server."""
    initdb, pg_ctl = _server_program("initdb"), _server_program("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="chatapp-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
    data, log = root / "data", root / "server.log"
    server = PostgresServer(port=free_port())
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={root}"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _run([initdb, "-D", str(data), "-U", SERVER_USER, "--auth=trust", "--encoding=UTF8", "--no-sync"])
    _run([pg_ctl, "-D", str(data), "-l", str(log), "-w", "-o", options, "start"], log)
    try:
        yield server
    finally:
        _run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], log)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_database(postgres_server) -> Iterator[str]:
    """One database with the app's tables, shared by the session's tests and emptied before each."""
    url = postgres_server.create_database("chatapp")
    db.create_tables(url)
    yield url
    db.engine(url).dispose()


@pytest.fixture
def postgres_db_url(postgres_database, monkeypatch) -> Iterator[str]:
    """Like conftest's `db_url`, on Postgres: empty tables, and settings that point at them."""
    with db.engine(postgres_database).begin() as connection:
        connection.exec_driver_sql("TRUNCATE tool_call, event, message, conversation, category")
    monkeypatch.setenv("CHATAPP_DB_URL", postgres_database)
    get_settings.cache_clear()
    yield postgres_database
    get_settings.cache_clear()


@pytest.fixture(params=BACKENDS)
def any_db_url(request) -> str:
    """Runs a test once on SQLite and once on Postgres."""
    return request.getfixturevalue("db_url" if request.param == "sqlite" else "postgres_db_url")


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path) -> str:
    """A database with no tables yet, once on SQLite and once on Postgres."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_server").create_database("empty")
