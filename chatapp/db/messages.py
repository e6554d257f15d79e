"""Messages, the answer saved as it streams, its tool steps, and the events of a conversation."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from ..domain import (
    Conversation,
    Message,
    MessageStatus,
    Metrics,
    Role,
    StatusEvent,
    ToolStatus,
    ToolStep,
)
from .conversations import get_conversation, owned_row
from .schema import (
    ConversationRow,
    EventRow,
    MessageRow,
    ToolCallRow,
    apply_metrics,
    is_id,
    message_of,
    metrics_columns,
    new_id,
    step_of,
    utcnow,
)


def list_messages(session: Session, *, conversation_id: str) -> list[Message]:
    rows = session.exec(
        select(MessageRow)
        .where(MessageRow.conversation_id == conversation_id)
        .order_by(col(MessageRow.position))
    ).all()
    calls = session.exec(
        select(ToolCallRow)
        .join(MessageRow, col(ToolCallRow.message_id) == MessageRow.id)
        .where(MessageRow.conversation_id == conversation_id)
        .order_by(col(ToolCallRow.created_at))
    ).all()
    return _with_steps(rows, calls)


def list_message_page(
    session: Session, *, conversation_id: str, after: int, limit: int, max_chars: int
) -> tuple[list[Message], int | None]:
    """Up to `limit` messages from position `after` + 1 on, and the position to go on from (None: the end).
    The page ends early where its text (messages, errors, tool calls) passes `max_chars`, though a first
    message always comes: a hundred long answers would make one response of tens of megabytes."""
    later = (col(MessageRow.conversation_id) == conversation_id) & (col(MessageRow.position) > after)
    steps_size = (
        select(
            func.coalesce(func.sum(func.length(ToolCallRow.arguments) + func.length(ToolCallRow.result)), 0)
        )
        .where(ToolCallRow.message_id == MessageRow.id)
        .scalar_subquery()
    )
    size = func.length(MessageRow.content) + func.length(MessageRow.error) + steps_size
    sizes = session.exec(
        select(MessageRow.position, size).where(later).order_by(col(MessageRow.position)).limit(limit + 1)
    ).all()
    taken = total = 0
    for _position, chars in sizes[:limit]:
        total += chars or 0
        if taken and total > max_chars:
            break
        taken += 1
    last = sizes[taken - 1][0] if taken else after
    rows = session.exec(
        select(MessageRow).where(later, col(MessageRow.position) <= last).order_by(col(MessageRow.position))
    ).all()
    calls = session.exec(
        select(ToolCallRow)
        .where(col(ToolCallRow.message_id).in_([row.id for row in rows]))
        .order_by(col(ToolCallRow.created_at))
    ).all()
    return _with_steps(rows, calls), last if len(sizes) > taken else None


def _with_steps(rows: Sequence[MessageRow], calls: Sequence[ToolCallRow]) -> list[Message]:
    steps: dict[str, list[ToolStep]] = {}
    for call in calls:
        steps.setdefault(call.message_id, []).append(step_of(call))
    return [message_of(row, tuple(steps.get(row.id, ()))) for row in rows]


def get_message(session: Session, *, owner: str, message_id: str) -> Message | None:
    """One message of this owner's, with its tool steps (for the monitor's details view)."""
    if not is_id(message_id):
        return None
    row = session.get(MessageRow, message_id)
    if row is None or owned_row(session, owner, row.conversation_id) is None:
        return None
    calls = session.exec(
        select(ToolCallRow).where(ToolCallRow.message_id == row.id).order_by(col(ToolCallRow.created_at))
    ).all()
    return message_of(row, tuple(step_of(call) for call in calls))


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
    apply_metrics(row, metrics or Metrics())
    session.add(row)
    conversation = session.get(ConversationRow, conversation_id)
    if conversation is not None:
        conversation.updated_at = row.created_at
        session.add(conversation)
    session.commit()
    return message_of(row)


# The values go in as parameters, and the SET clause follows their names: the statement is built and compiled
# once per shape. Written into the statement, they made each save a new statement to build, a millisecond of
# the database thread's time: a tenth of a second when a hundred answers ended together.
_MESSAGES = MessageRow.__table__  # type: ignore[attr-defined]
_SAVE_ANSWER = sa.update(_MESSAGES).where(_MESSAGES.c.id == sa.bindparam("answer_id")).returning(*_MESSAGES.c)


def save_answer(
    session: Session,
    *,
    message_id: str,
    content: str,
    status: MessageStatus,
    metrics: Metrics | None = None,
    error: str = "",
    commit: bool = True,
) -> Message | None:
    """Saves the answer, whole, when it ends (`commit=False`: the caller commits). One UPDATE that returns
    the row: when a hundred answers end together, a read before each write doubled the round trips."""
    values: dict[str, object] = {"content": content, "status": status, "error": error, "updated_at": utcnow()}
    if metrics is not None:
        values |= metrics_columns(metrics)
    saved = session.execute(_SAVE_ANSWER, {"answer_id": message_id, **values}).one_or_none()
    if commit:
        session.commit()
    return message_of(saved) if saved is not None else None


def rewind_to(session: Session, *, owner: str, conversation_id: str, message_id: str, content: str) -> bool:
    """Makes a user message of `conversation_id` its last, with new content: every message after it goes,
    with its tool steps and events. Regenerating an answer is rewinding to its question with the same text."""
    if not is_id(message_id):
        return False
    row = session.get(MessageRow, message_id)
    if row is None or row.role != "user" or row.conversation_id != conversation_id:
        return False
    if owned_row(session, owner, row.conversation_id) is None:
        return False
    later = select(MessageRow.id).where(
        col(MessageRow.conversation_id) == row.conversation_id, col(MessageRow.position) > row.position
    )
    # Their tool calls go with them (ON DELETE CASCADE); events name their message without a foreign key.
    session.execute(sa.delete(EventRow).where(col(EventRow.message_id).in_(later)))
    session.execute(sa.delete(MessageRow).where(col(MessageRow.id).in_(later)))
    row.content = content
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    return True


def save_partial_answers(session: Session, partials: dict[str, str], *, commit: bool = True) -> None:
    """Saves the text so far of answers still streaming, by message id. A save that lands after the final
    one changes nothing, since by then the answer is no longer streaming."""
    if partials:  # one statement for all of them (a batch on PostgreSQL): not a round trip each
        session.execute(
            sa.update(_MESSAGES)
            .where(_MESSAGES.c.id == sa.bindparam("message_id"), _MESSAGES.c.status == "streaming")
            .values(content=sa.bindparam("text"), updated_at=utcnow()),
            [{"message_id": message_id, "text": content} for message_id, content in partials.items()],
        )
    if commit:
        session.commit()


def mark_unfinished_as_interrupted(
    session: Session, *, live_conversations: frozenset[str] = frozenset(), conversation_id: str = ""
) -> int:
    """After a crash or restart, an answer still marked as streaming will never finish, unless a live worker
    is still writing it: one in `live_conversations`. Only in `conversation_id`, if one is given."""
    unfinished = col(MessageRow.status) == "streaming"
    if conversation_id:
        unfinished = unfinished & (col(MessageRow.conversation_id) == conversation_id)
    if live_conversations:
        unfinished = unfinished & col(MessageRow.conversation_id).not_in(live_conversations)
    count = session.scalar(select(func.count()).select_from(MessageRow).where(unfinished))
    # Their steps still running or waiting for approval never will: no Allow button on a dead answer.
    session.execute(
        sa.update(ToolCallRow)
        .where(
            col(ToolCallRow.status).in_(("running", "waiting")),
            col(ToolCallRow.message_id).in_(select(MessageRow.id).where(unfinished)),
        )
        .values(status="error", result="Interrupted: the server stopped before this call ended.")
    )
    session.execute(sa.update(MessageRow).where(unfinished).values(status="interrupted"))
    session.commit()
    return count or 0


def add_tool_step(
    session: Session,
    *,
    message_id: str,
    call_id: str,
    name: str,
    arguments: str,
    server: str = "",
    status: ToolStatus = "running",
) -> ToolStep:
    row = ToolCallRow(
        message_id=message_id, call_id=call_id, name=name, arguments=arguments, server=server, status=status
    )
    session.add(row)
    session.commit()
    return step_of(row)


def start_tool_step(session: Session, *, step_id: str) -> ToolStep | None:
    """A step that waited for the user's approval runs now."""
    row = session.get(ToolCallRow, step_id)
    if row is None:
        return None
    row.status = "running"
    session.add(row)
    session.commit()
    return step_of(row)


def finish_tool_step(
    session: Session, *, step_id: str, status: ToolStatus, result: str, duration_ms: float
) -> ToolStep | None:
    row = session.get(ToolCallRow, step_id)
    if row is None:
        return None
    row.status, row.result, row.duration_ms = status, result, duration_ms
    session.add(row)
    session.commit()
    return step_of(row)


def add_events(session: Session, events: list[tuple[str, StatusEvent]], *, commit: bool = True) -> None:
    """Stores monitor events, each with its conversation's id."""
    if events:  # one INSERT of plain rows: the ORM's objects cost more than the statement
        session.execute(
            sa.insert(EventRow),
            [
                {
                    "id": new_id(),
                    "conversation_id": conversation_id,
                    "message_id": event.message_id,
                    "kind": event.kind,
                    "at": event.at,
                    "detail": event.detail,
                }
                for conversation_id, event in events
            ],
        )
    if commit:
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


def open_conversation(
    session: Session, *, owner: str, conversation_id: str
) -> tuple[Conversation, list[Message], list[StatusEvent]] | None:
    """What a tab shows of a conversation of `owner`: the conversation, its messages and its latest events,
    in one call; None if it isn't theirs or doesn't exist."""
    found = get_conversation(session, owner=owner, conversation_id=conversation_id)
    if found is None:
        return None
    return (
        found,
        list_messages(session, conversation_id=found.id),
        list_events(session, conversation_id=found.id),
    )
