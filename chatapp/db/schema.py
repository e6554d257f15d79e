"""The tables, and how their rows become domain values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..domain import (
    ChatOptions,
    Conversation,
    Message,
    Metrics,
    ToolStep,
)
from ..domain.limits import (
    MAX_CATEGORY_CHARS,
    MAX_LABEL_CHARS,
    MAX_MODEL_CHARS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_TOOL_NAME_CHARS,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class CategoryRow(SQLModel, table=True):
    """A user's own label for conversations (Work, Travel, ...); names are unique per owner."""

    __tablename__ = "category"
    __table_args__ = (sa.UniqueConstraint("owner", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    owner: str = Field(max_length=MAX_LABEL_CHARS)
    name: str = Field(max_length=MAX_CATEGORY_CHARS)


class ConversationRow(SQLModel, table=True):
    __tablename__ = "conversation"
    __table_args__ = (
        sa.Index("ix_conversation_owner_updated", "owner", "updated_at"),
        sa.Index("ix_conversation_owner_pinned_updated", "owner", "pinned", "updated_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    owner: str = Field(max_length=MAX_LABEL_CHARS)
    title: str = Field(default="New chat", max_length=MAX_TITLE_CHARS)
    pinned: bool = Field(default=False)
    category_id: str | None = Field(
        default=None, foreign_key="category.id", ondelete="SET NULL", index=True, max_length=36
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Its settings (domain.ChatOptions); empty ones keep the app's defaults.
    model: str = Field(default="", max_length=MAX_MODEL_CHARS)
    system_prompt: str = Field(default="", sa_type=sa.Text)
    temperature: float | None = None
    max_tokens: int | None = None
    # Names, one space apart (server and tool names hold no spaces).
    servers_off: str = Field(default="", sa_type=sa.Text)
    tools_allowed: str = Field(default="", sa_type=sa.Text)


# An answer's numbers are the message row's columns of the same names, one per field of domain.Metrics.
METRIC_FIELDS = tuple(Metrics.__dataclass_fields__)


class MessageRow(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "position"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", ondelete="CASCADE", index=True, max_length=36)
    position: int
    role: str = Field(max_length=16)
    content: str = Field(default="", sa_type=sa.Text)
    status: str = Field(default="complete", max_length=16)
    error: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    model: str = Field(default="", max_length=MAX_MODEL_CHARS)
    provider: str = Field(default="", max_length=MAX_NAME_CHARS)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    token_source: str = Field(default="estimated", max_length=16)
    estimated_prompt_tokens: int | None = None
    estimated_completion_tokens: int | None = None
    encoding: str = Field(default="", max_length=MAX_LABEL_CHARS)
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
    message_id: str = Field(foreign_key="message.id", ondelete="CASCADE", index=True, max_length=36)
    call_id: str = Field(max_length=MAX_TOOL_NAME_CHARS)
    name: str = Field(max_length=MAX_TOOL_NAME_CHARS)
    arguments: str = Field(default="", sa_type=sa.Text)
    status: str = Field(default="running", max_length=16)
    result: str = Field(default="", sa_type=sa.Text)
    duration_ms: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # The MCP server that ran it; "" for a built-in tool.
    server: str = Field(default="", max_length=MAX_NAME_CHARS)


class EventRow(SQLModel, table=True):
    """The wire's `backend_status` events, kept: reopening a conversation shows what the backend did."""

    __tablename__ = "event"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", ondelete="CASCADE", index=True, max_length=36)
    message_id: str = Field(max_length=36)
    kind: str = Field(max_length=MAX_NAME_CHARS)
    at: datetime = Field(default_factory=utcnow)
    detail: str = Field(default="", sa_type=sa.Text)


def names_of(column: str) -> tuple[str, ...]:
    """Server and tool names as a column holds them: one space apart (a name holds no space)."""
    return tuple(column.split())


def names_column(names: tuple[str, ...] | list[str]) -> str:
    return " ".join(names)


def is_id(value: str) -> bool:
    """Ids are UUIDs; anything else (a typo, a path, a NUL byte) never reaches a query."""
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False


def conversation_of(
    row: ConversationRow, message_count: int = 0, tokens: int = 0, cost: float = 0.0, unknown: int = 0
) -> Conversation:
    return Conversation(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        pinned=row.pinned,
        category_id=row.category_id or "",
        message_count=message_count,
        total_tokens=tokens,
        total_cost_usd=cost,
        cost_unknown=unknown > 0,
        options=ChatOptions(
            row.model,
            row.system_prompt,
            row.temperature,
            row.max_tokens,
            servers_off=names_of(row.servers_off),
            tools_allowed=names_of(row.tools_allowed),
        ),
    )


def step_of(row: ToolCallRow) -> ToolStep:
    return ToolStep(
        id=row.id,
        message_id=row.message_id,
        call_id=row.call_id,
        name=row.name,
        arguments=row.arguments,
        status=row.status,  # type: ignore[arg-type]
        result=row.result,
        duration_ms=row.duration_ms,
        server=row.server,
    )


def message_of(row: MessageRow | sa.Row[Any], steps: tuple[ToolStep, ...] = ()) -> Message:
    """A message from its row, as the ORM loads it or as a statement returns it (same names)."""
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
        metrics=Metrics(**{name: getattr(row, name) for name in METRIC_FIELDS}),
    )


def metrics_columns(metrics: Metrics) -> dict[str, Any]:
    """An answer's numbers as its row's columns (they have the same names)."""
    return {name: getattr(metrics, name) for name in METRIC_FIELDS}


def message_columns(message: Message, position: int) -> dict[str, Any]:
    """A new message's row, as the columns of an INSERT: the inverse of `message_of`."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "position": position,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "error": message.error,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
        **metrics_columns(message.metrics),
    }


def conversation_columns(conversation: Conversation, owner: str) -> dict[str, Any]:
    """A new conversation's row, as the columns of an INSERT: the inverse of `conversation_of`."""
    options = conversation.options
    return {
        "id": conversation.id,
        "owner": owner,
        "title": conversation.title,
        "pinned": conversation.pinned,
        "category_id": conversation.category_id or None,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "model": options.model,
        "system_prompt": options.system_prompt,
        "temperature": options.temperature,
        "max_tokens": options.max_tokens,
        "servers_off": names_column(options.servers_off),
        "tools_allowed": names_column(options.tools_allowed),
    }


def apply_metrics(row: MessageRow, metrics: Metrics) -> None:
    for name, value in metrics_columns(metrics).items():
        setattr(row, name, value)
