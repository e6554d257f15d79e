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

from .domain import (
    Conversation,
    Message,
    MessageStatus,
    Metrics,
    Role,
    SearchHit,
    StatusEvent,
    ToolStatus,
    ToolStep,
)

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
    estimated_prompt_tokens: int | None = None
    estimated_completion_tokens: int | None = None
    encoding: str = Field(default="", max_length=64)
    cost_usd: float | None = None
    price: str = Field(default="", sa_type=sa.Text)
    ttft_ms: float | None = None
    duration_ms: float | None = None
    tokens_per_s: float | None = None
    itl_p50_ms: float | None = None
    itl_p95_ms: float | None = None
    context_tokens: int | None = None
    context_window: int | None = None


class ToolCallRow(SQLModel, table=True):
    __tablename__ = "tool_call"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    message_id: str = Field(foreign_key="message.id", index=True, max_length=36)
    call_id: str = Field(max_length=128)
    name: str = Field(max_length=128)
    arguments: str = Field(default="", sa_type=sa.Text)
    status: str = Field(default="running", max_length=16)
    result: str = Field(default="", sa_type=sa.Text)
    duration_ms: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class EventRow(SQLModel, table=True):
    """The seed's `backend_status`, kept: reopening a conversation shows what the backend did."""

    __tablename__ = "event"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=36)
    message_id: str = Field(max_length=36)
    kind: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow)
    detail: str = Field(default="", sa_type=sa.Text)


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


def _conversation(
    row: ConversationRow, message_count: int = 0, tokens: int = 0, cost: float = 0.0, unknown: int = 0
) -> Conversation:
    return Conversation(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=message_count,
        total_tokens=tokens,
        total_cost_usd=cost,
        cost_unknown=unknown > 0,
    )


def _step(row: ToolCallRow) -> ToolStep:
    return ToolStep(
        id=row.id,
        message_id=row.message_id,
        call_id=row.call_id,
        name=row.name,
        arguments=row.arguments,
        status=row.status,  # type: ignore[arg-type]
        result=row.result,
        duration_ms=row.duration_ms,
    )


def _message(row: MessageRow, steps: tuple[ToolStep, ...] = ()) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        role=row.role,  # type: ignore[arg-type]
        content=row.content,
        status=row.status,  # type: ignore[arg-type]
        created_at=row.created_at,
        updated_at=row.updated_at,
        error=row.error,
        steps=steps,
        metrics=Metrics(
            model=row.model,
            provider=row.provider,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            token_source=row.token_source,  # type: ignore[arg-type]
            estimated_prompt_tokens=row.estimated_prompt_tokens,
            estimated_completion_tokens=row.estimated_completion_tokens,
            encoding=row.encoding,
            cost_usd=row.cost_usd,
            price=row.price,
            ttft_ms=row.ttft_ms,
            duration_ms=row.duration_ms,
            tokens_per_s=row.tokens_per_s,
            itl_p50_ms=row.itl_p50_ms,
            itl_p95_ms=row.itl_p95_ms,
            context_tokens=row.context_tokens,
            context_window=row.context_window,
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
    message_ids = select(MessageRow.id).where(MessageRow.conversation_id == row.id)
    session.exec(sa.delete(ToolCallRow).where(col(ToolCallRow.message_id).in_(message_ids)))  # type: ignore[call-overload]
    session.exec(sa.delete(EventRow).where(EventRow.conversation_id == row.id))  # type: ignore[call-overload]
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
    answered = sa.and_(col(MessageRow.role) == "assistant", col(MessageRow.provider) != "")
    counts = (
        select(
            MessageRow.conversation_id,
            func.count().label("n"),
            func.sum(
                func.coalesce(MessageRow.prompt_tokens, 0) + func.coalesce(MessageRow.completion_tokens, 0)
            ).label("tokens"),
            func.sum(MessageRow.cost_usd).label("cost"),
            func.sum(sa.case((sa.and_(answered, col(MessageRow.cost_usd).is_(None)), 1), else_=0)).label(
                "unknown"
            ),
        )
        .group_by(col(MessageRow.conversation_id))
        .subquery()
    )
    query = (
        select(
            ConversationRow,
            func.coalesce(counts.c.n, 0),
            func.coalesce(counts.c.tokens, 0),
            func.coalesce(counts.c.cost, 0.0),
            func.coalesce(counts.c.unknown, 0),
        )
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
    return [_conversation(*row) for row in page], next_cursor


# --- messages ----------------------------------------------------------------------------------


def list_messages(session: Session, *, conversation_id: str) -> list[Message]:
    rows = session.exec(
        select(MessageRow)
        .where(MessageRow.conversation_id == conversation_id)
        .order_by(col(MessageRow.position))
    ).all()
    steps: dict[str, list[ToolStep]] = {}
    calls = session.exec(
        select(ToolCallRow)
        .join(MessageRow, col(ToolCallRow.message_id) == MessageRow.id)
        .where(MessageRow.conversation_id == conversation_id)
        .order_by(col(ToolCallRow.created_at))
    ).all()
    for call in calls:
        steps.setdefault(call.message_id, []).append(_step(call))
    return [_message(row, tuple(steps.get(row.id, ()))) for row in rows]


def get_message(session: Session, *, owner: str, message_id: str) -> Message | None:
    """One message of this owner's, with its tool steps (for the monitor's details view)."""
    if not is_id(message_id):
        return None
    row = session.get(MessageRow, message_id)
    if row is None or _owned(session, owner, row.conversation_id) is None:
        return None
    calls = session.exec(
        select(ToolCallRow).where(ToolCallRow.message_id == row.id).order_by(col(ToolCallRow.created_at))
    ).all()
    return _message(row, tuple(_step(call) for call in calls))


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
    for name in Metrics.__dataclass_fields__:
        setattr(row, name, getattr(metrics, name))


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


def save_partial_answer(session: Session, *, message_id: str, content: str) -> None:
    """Saves the text so far of an answer still streaming. A save that lands after the final one (a thread
    can't be cancelled) changes nothing, since by then the answer is no longer streaming."""
    session.exec(
        sa.update(MessageRow)  # type: ignore[call-overload]
        .where(col(MessageRow.id) == message_id, col(MessageRow.status) == "streaming")
        .values(content=content, updated_at=utcnow())
    )
    session.commit()


def mark_unfinished_as_interrupted(session: Session) -> int:
    """After a crash or restart, an answer still marked as streaming will never finish."""
    result = session.exec(
        sa.update(MessageRow).where(MessageRow.status == "streaming").values(status="interrupted")  # type: ignore[call-overload]
    )
    session.commit()
    return result.rowcount or 0


# --- search ------------------------------------------------------------------------------------

SNIPPET_CHARS = 160


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _snippet(text: str, word: str) -> str:
    at = max(text.lower().find(word.lower()), 0)
    start = max(at - SNIPPET_CHARS // 3, 0)
    piece = " ".join(text[start : start + SNIPPET_CHARS].split())
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(text) else "")


def search_messages(session: Session, *, owner: str, query: str, limit: int = 5) -> list[SearchHit]:
    """Conversations of this owner whose title or a message contains every word, most recent first."""
    words = query.split()[:8]
    if not words:
        return []
    matches = [
        sa.or_(
            col(MessageRow.content).ilike(_like(w), escape="\\"),
            col(ConversationRow.title).ilike(_like(w), escape="\\"),
        )
        for w in words
    ]
    rows = session.exec(
        select(ConversationRow, MessageRow)
        .join(MessageRow, col(MessageRow.conversation_id) == ConversationRow.id)
        .where(ConversationRow.owner == owner, *matches)
        .order_by(col(MessageRow.created_at).desc())
        .limit(limit * 20)
    ).all()
    hits: dict[str, SearchHit] = {}
    for conversation, message in rows:
        if conversation.id not in hits and len(hits) < limit:
            hits[conversation.id] = SearchHit(
                conversation.id, conversation.title, _snippet(message.content, words[0])
            )
    return list(hits.values())


# --- tool steps and events -----------------------------------------------------------------------


def add_tool_step(session: Session, *, message_id: str, call_id: str, name: str, arguments: str) -> ToolStep:
    row = ToolCallRow(message_id=message_id, call_id=call_id, name=name, arguments=arguments)
    session.add(row)
    session.commit()
    return _step(row)


def finish_tool_step(
    session: Session, *, step_id: str, status: ToolStatus, result: str, duration_ms: float
) -> ToolStep | None:
    row = session.get(ToolCallRow, step_id)
    if row is None:
        return None
    row.status, row.result, row.duration_ms = status, result, duration_ms
    session.add(row)
    session.commit()
    return _step(row)


def add_event(session: Session, *, conversation_id: str, event: StatusEvent) -> None:
    session.add(
        EventRow(
            conversation_id=conversation_id,
            message_id=event.message_id,
            kind=event.kind,
            at=event.at,
            detail=event.detail,
        )
    )
    session.commit()


def list_events(session: Session, *, conversation_id: str, limit: int = 200) -> list[StatusEvent]:
    """The conversation's latest events, oldest first."""
    rows = session.exec(
        select(EventRow)
        .where(EventRow.conversation_id == conversation_id)
        .order_by(col(EventRow.at).desc())
        .limit(limit)
    ).all()
    return [
        StatusEvent(kind=row.kind, at=row.at, message_id=row.message_id, detail=row.detail)  # type: ignore[arg-type]
        for row in reversed(rows)
    ]
