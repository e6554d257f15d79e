"""Rows written the way an older schema holds them, for the tests of a migration: plain SQL naming only the
columns that every revision has had since the first, so a column added later never breaks the test of an
earlier migration (the app's own models always write every column they know)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from chatapp import db


def _insert(url: str, table: str, **values: object) -> str:
    values = {"id": str(uuid.uuid4()), **values}
    names = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    with db.engine(url).begin() as connection:
        connection.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)
    return str(values["id"])


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored naive, in UTC, as the app does


def conversation(url: str, owner: str, title: str) -> str:
    return _insert(url, "conversation", owner=owner, title=title, created_at=_now(), updated_at=_now())


def message(
    url: str, conversation_id: str, content: str, role: str = "user", status: str = "complete"
) -> str:
    with db.engine(url).connect() as connection:
        position = connection.execute(
            sa.text("SELECT COUNT(*) FROM message WHERE conversation_id = :id"), {"id": conversation_id}
        ).scalar_one()
    return _insert(
        url,
        "message",
        conversation_id=conversation_id,
        position=position,
        role=role,
        content=content,
        status=status,
        error="",
        created_at=_now(),
        updated_at=_now(),
        model="",
        provider="",
        token_source="estimated",
    )


def file_under(url: str, owner: str, conversation_id: str, category: str) -> str:
    """A new category of `owner`, with the conversation filed under it."""
    category_id = _insert(url, "category", owner=owner, name=category)
    with db.engine(url).begin() as connection:
        connection.execute(
            sa.text("UPDATE conversation SET category_id = :category WHERE id = :id"),
            {"category": category_id, "id": conversation_id},
        )
    return category_id
