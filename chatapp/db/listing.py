"""The sidebar's and REST's list of conversations: pinned first, then newest first, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from ..domain import Conversation
from ..domain.cursor import decode_cursor as read_cursor
from ..domain.cursor import encode_cursor
from .schema import ConversationRow, MessageRow, conversation_of, is_id


def list_conversations(
    session: Session,
    *,
    owner: str,
    limit: int = 50,
    cursor: str | None = None,
    pinned: bool | None = None,
    category_id: str | None = None,
) -> tuple[list[Conversation], str | None]:
    """Pinned first, then newest first (by last activity); one page and the cursor of the next, if any.
    `pinned` keeps only the pinned (True) or the other (False) conversations; `category_id` those filed under
    that category."""
    query = (
        select(ConversationRow)
        .where(ConversationRow.owner == owner)
        .order_by(
            col(ConversationRow.pinned).desc(),
            col(ConversationRow.updated_at).desc(),
            col(ConversationRow.id).desc(),
        )
        .limit(limit + 1)
    )
    if pinned is not None:
        query = query.where(col(ConversationRow.pinned) == pinned)
    if category_id is not None:
        query = query.where(col(ConversationRow.category_id) == category_id)
    if cursor:
        last_pinned, stamp, last_id = decode_cursor(cursor)
        after_in_group = sa.or_(
            col(ConversationRow.updated_at) < stamp,
            sa.and_(col(ConversationRow.updated_at) == stamp, col(ConversationRow.id) < last_id),
        )
        same_group = sa.and_(col(ConversationRow.pinned) == last_pinned, after_in_group)
        # Past the pinned ones come the others; past the others, nothing.
        next_group = col(ConversationRow.pinned) == sa.false() if last_pinned else sa.false()
        query = query.where(sa.or_(same_group, next_group))
    rows = session.exec(query).all()
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1]) if len(rows) > limit else None
    counted = totals(session, [row.id for row in page])
    return [conversation_of(row, *counted.get(row.id, ())) for row in page], next_cursor


def totals(session: Session, conversation_ids: list[str]) -> dict[str, tuple[int, int, float, int]]:
    """Message count, tokens, known cost and answers of unknown price, for just these conversations (a page):
    the list never aggregates the whole history."""
    if not conversation_ids:
        return {}
    answered = sa.and_(col(MessageRow.role) == "assistant", col(MessageRow.provider) != "")
    rows = session.exec(
        select(  # type: ignore[call-overload]  # sqlmodel types select() for up to four columns
            MessageRow.conversation_id,
            func.count(),
            func.sum(
                func.coalesce(MessageRow.prompt_tokens, 0) + func.coalesce(MessageRow.completion_tokens, 0)
            ),
            func.coalesce(func.sum(MessageRow.cost_usd), 0.0),
            func.sum(sa.case((sa.and_(answered, col(MessageRow.cost_usd).is_(None)), 1), else_=0)),
        )
        .where(col(MessageRow.conversation_id).in_(conversation_ids))
        .group_by(col(MessageRow.conversation_id))
    ).all()
    return {row[0]: (row[1], row[2] or 0, row[3], row[4] or 0) for row in rows}


def _encode_cursor(row: ConversationRow) -> str:
    return encode_cursor(int(row.pinned), row.updated_at.isoformat(), row.id)


def decode_cursor(cursor: str) -> tuple[bool, datetime, str]:
    """The last row of a page, as (pinned, updated_at, id). Raises ValueError on anything that is not a cursor
    this module made."""
    pinned, stamp, conversation_id = read_cursor(cursor, 3)
    try:
        moment = datetime.fromisoformat(stamp)
        if pinned not in ("0", "1") or moment.tzinfo is None or not is_id(conversation_id):
            raise ValueError("invalid cursor")
        return pinned == "1", moment.astimezone(UTC), conversation_id
    except (ValueError, OverflowError) as error:
        raise ValueError("invalid cursor") from error
