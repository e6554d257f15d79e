"""Connections: one engine per database URL, SQLite tuned for a chat, sessions, work off the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from .search import create_search_index

T = TypeVar("T")


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    # WAL lets the REST API read while a turn writes; the busy timeout waits out short write locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL syncs at checkpoints, not at every commit: a commit survives the app crashing, and
    # only a power cut can lose the last ones. FULL made each commit wait for the disk.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@functools.cache
def engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        created = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(created, "connect", _on_sqlite_connect)
        return created
    return sa.create_engine(url, pool_pre_ping=True)


def create_tables(url: str) -> None:
    """For tests and throwaway databases; the app's own database is built by migrations."""
    with engine(url).begin() as connection:
        SQLModel.metadata.create_all(connection)
        create_search_index(connection)


@contextmanager
def session_for(url: str) -> Iterator[Session]:
    with Session(engine(url), expire_on_commit=False) as session:
        yield session


async def run(url: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Runs one storage call, `fn(session, **kwargs)`, in a worker thread, so the event loop keeps serving."""

    def call() -> T:
        with session_for(url) as session:
            return fn(session, **kwargs)

    return await asyncio.to_thread(call)
