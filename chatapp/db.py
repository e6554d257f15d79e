"""Storage: sqlmodel tables and the only code that touches a database session.

Design: a conversation and each of its messages are rows (never a JSON blob), so a message can be saved
again and again while it streams, and scripts can read history through REST. Every function takes the
session from its caller and returns plain domain values, so nothing outside this module sees sqlmodel.
Times are UTC. Ids are random UUIDs; `owner` is the random key a browser keeps in its
local storage, and every query is scoped by it.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, func, select

from .domain import Conversation, Message, MessageStatus, Metrics, Role

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class ConversationRow(SQLModel, table=True):
    __tablename__ = "conversation"
    __table_args__ = (sa.Index("ix_conversation_owner_updated", "owner", "updated_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    owner: str = Field(max_length=64)
    title: str = Field(default="New chat", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class MessageRow(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "position"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=36)
    position: int
    role: str = Field(max_length=16)
    content: str = Field(default="", sa_type=sa.Text)
    status: str = Field(default="complete", max_length=16)
    error: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    model: str = Field(default="", max_length=200)
    provider: str = Field(default="", max_length=32)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    token_source: str = Field(default="estimated", max_length=16)
    cost_usd: float | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    tokens_per_s: float | None = None


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    # WAL lets the REST API read while a turn writes; the busy timeout waits out short write locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
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
    SQLModel.metadata.create_all(engine(url))


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


# --- conversions -------------------------------------------------------------------------------


def _conversation(row: ConversationRow, message_count: int = 0) -> Conversation:
    return Conversation(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=message_count,
    )


def _message(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        role=row.role,  # type: ignore[arg-type]
        content=row.content,
        status=row.status,  # type: ignore[arg-type]
        created_at=row.created_at,
        updated_at=row.updated_at,
        error=row.error,
        metrics=Metrics(
            model=row.model,
            provider=row.provider,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            token_source=row.token_source,  # type: ignore[arg-type]
            cost_usd=row.cost_usd,
            ttft_ms=row.ttft_ms,
            duration_ms=row.duration_ms,
            tokens_per_s=row.tokens_per_s,
        ),
    )


# --- conversations -----------------------------------------------------------------------------


def create_conversation(session: Session, *, owner: str, title: str) -> Conversation:
    row = ConversationRow(owner=owner, title=title)
    session.add(row)
    session.commit()
    return _conversation(row)


def is_id(value: str) -> bool:
    """Ids are UUIDs; anything else (a typo, a path, a NUL byte) never reaches a query."""
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False


def _owned(session: Session, owner: str, conversation_id: str) -> ConversationRow | None:
    if not is_id(conversation_id):
        return None
    row = session.get(ConversationRow, conversation_id)
    return row if row is not None and row.owner == owner else None


def get_conversation(session: Session, *, owner: str, conversation_id: str) -> Conversation | None:
    row = _owned(session, owner, conversation_id)
    if row is None:
        return None
    count = session.exec(
        select(func.count()).select_from(MessageRow).where(MessageRow.conversation_id == row.id)
    ).one()
    return _conversation(row, count)


def rename_conversation(session: Session, *, owner: str, conversation_id: str, title: str) -> bool:
    row = _owned(session, owner, conversation_id)
    if row is None:
        return False
    row.title = title
    session.add(row)
    session.commit()
    return True


def delete_conversation(session: Session, *, owner: str, conversation_id: str) -> bool:
    row = _owned(session, owner, conversation_id)
    if row is None:
        return False
    session.exec(sa.delete(MessageRow).where(MessageRow.conversation_id == row.id))  # type: ignore[call-overload]
    session.delete(row)
    session.commit()
    return True


def _encode_cursor(row: ConversationRow) -> str:
    raw = f"{row.updated_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError on anything that is not a cursor this module made."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        stamp, conversation_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None or not is_id(conversation_id):
            raise ValueError("invalid cursor")
        return moment.astimezone(UTC), conversation_id
    except (UnicodeDecodeError, ValueError, OverflowError) as error:  # binascii.Error is a ValueError
        raise ValueError("invalid cursor") from error


def list_conversations(
    session: Session, *, owner: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[Conversation], str | None]:
    """Newest first (by last activity); returns one page and the cursor of the next, if any."""
    counts = (
        select(MessageRow.conversation_id, func.count().label("n"))
        .group_by(col(MessageRow.conversation_id))
        .subquery()
    )
    query = (
        select(ConversationRow, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.conversation_id == ConversationRow.id)
        .where(ConversationRow.owner == owner)
        .order_by(col(ConversationRow.updated_at).desc(), col(ConversationRow.id).desc())
        .limit(limit + 1)
    )
    if cursor:
        stamp, last_id = decode_cursor(cursor)
        query = query.where(
            sa.or_(
                col(ConversationRow.updated_at) < stamp,
                sa.and_(col(ConversationRow.updated_at) == stamp, col(ConversationRow.id) < last_id),
            )
        )
    rows = session.exec(query).all()
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1][0]) if len(rows) > limit else None
    return [_conversation(row, count) for row, count in page], next_cursor


def touch_conversation(session: Session, conversation_id: str) -> None:
    row = session.get(ConversationRow, conversation_id)
    if row is not None:
        row.updated_at = utcnow()
        session.add(row)
        session.commit()


# --- messages ----------------------------------------------------------------------------------


def list_messages(session: Session, *, conversation_id: str) -> list[Message]:
    rows = session.exec(
        select(MessageRow)
        .where(MessageRow.conversation_id == conversation_id)
        .order_by(col(MessageRow.position))
    ).all()
    return [_message(row) for row in rows]


def add_message(
    session: Session,
    *,
    conversation_id: str,
    role: Role,
    content: str,
    status: MessageStatus = "complete",
    metrics: Metrics | None = None,
) -> Message:
    position = session.exec(
        select(func.coalesce(func.max(MessageRow.position), -1)).where(
            MessageRow.conversation_id == conversation_id
        )
    ).one()
    row = MessageRow(
        conversation_id=conversation_id, position=position + 1, role=role, content=content, status=status
    )
    _apply_metrics(row, metrics or Metrics())
    session.add(row)
    conversation = session.get(ConversationRow, conversation_id)
    if conversation is not None:
        conversation.updated_at = row.created_at
        session.add(conversation)
    session.commit()
    return _message(row)


def _apply_metrics(row: MessageRow, metrics: Metrics) -> None:
    row.model = metrics.model
    row.provider = metrics.provider
    row.prompt_tokens = metrics.prompt_tokens
    row.completion_tokens = metrics.completion_tokens
    row.token_source = metrics.token_source
    row.cost_usd = metrics.cost_usd
    row.ttft_ms = metrics.ttft_ms
    row.duration_ms = metrics.duration_ms
    row.tokens_per_s = metrics.tokens_per_s


def save_answer(
    session: Session,
    *,
    message_id: str,
    content: str,
    status: MessageStatus,
    metrics: Metrics | None = None,
    error: str = "",
) -> Message | None:
    """Saves the answer so far; called while it streams and once more when it ends."""
    row = session.get(MessageRow, message_id)
    if row is None:
        return None
    row.content = content
    row.status = status
    row.error = error
    row.updated_at = utcnow()
    if metrics is not None:
        _apply_metrics(row, metrics)
    session.add(row)
    session.commit()
    return _message(row)


def mark_unfinished_as_interrupted(session: Session) -> int:
    """After a crash or restart, an answer still marked as streaming will never finish."""
    result = session.exec(
        sa.update(MessageRow).where(MessageRow.status == "streaming").values(status="interrupted")  # type: ignore[call-overload]
    )
    session.commit()
    return result.rowcount or 0
