"""What a turn stores before it calls the provider: its conversation, the question and the empty answer, in
one transaction.

Four calls, each with its own commit, were most of the time to an answer's first word when many people
asked at once. Here it is one transaction of plain INSERTs (the ORM's row objects cost more than the
statements), and the worker's writer (write_behind) commits many turns' beginnings together, with one INSERT
per table for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from ..domain import DEFAULT_OPTIONS, ChatOptions, Conversation, Message, MessageStatus, Metrics, Role
from .conversations import owned_row
from .messages import list_messages
from .schema import (
    ConversationRow,
    MessageRow,
    conversation_columns,
    conversation_of,
    message_columns,
    new_id,
    utcnow,
)
from .write_behind import insert_rows


@dataclass(frozen=True)
class AnswerBegun:
    conversation: Conversation
    created: bool
    history: list[Message]  # what came before the question
    question: Message
    answer: Message  # empty, "streaming"


class NothingToAnswer(Exception):
    """The conversation isn't this owner's (or no longer exists), or has no question left to answer."""


def begin_answer(
    session: Session,
    *,
    owner: str,
    conversation_id: str | None,
    title: str,
    options: ChatOptions = DEFAULT_OPTIONS,
    question: str,
    answer_again: bool = False,
    default_model: str,
    provider: str,
    commit: bool = True,
) -> AnswerBegun:
    """Stores the question (unless `answer_again`: the conversation already ends with it) and an empty
    streaming answer, by the conversation's model or else `default_model`. With no `conversation_id`, a new
    conversation is made with `title` and `options`."""
    now = utcnow()
    # The answer is a microsecond younger than its question, so "newest first" (search) never ties them;
    # the conversation was last changed by it.
    answered_at = now + timedelta(microseconds=1)
    if conversation_id:
        row = owned_row(session, owner, conversation_id)
        if row is None:
            raise NothingToAnswer("This conversation no longer exists.")
        row.updated_at = answered_at
        session.add(row)
        history = list_messages(session, conversation_id=row.id)
        position = session.exec(
            select(MessageRow.position)
            .where(MessageRow.conversation_id == row.id)
            .order_by(col(MessageRow.position).desc())
            .limit(1)
        ).first()
        conversation = conversation_of(row)
        next_position = 0 if position is None else position + 1
    else:
        conversation = Conversation(
            id=new_id(), title=title, created_at=now, updated_at=answered_at, options=options
        )
        insert_rows(session, ConversationRow, [conversation_columns(conversation, owner)])
        history, next_position = [], 0
    new: list[Message] = []
    if answer_again:
        if not history or history[-1].role != "user":
            raise NothingToAnswer("There is no question left to answer in this conversation.")
        *history, asked = history
    else:
        asked = _message(conversation.id, "user", "complete", now, content=question)
        new.append(asked)
    model = conversation.options.model or default_model
    answer = _message(
        conversation.id, "assistant", "streaming", answered_at, metrics=Metrics(model, provider)
    )
    new.append(answer)
    insert_rows(
        session, MessageRow, [message_columns(message, next_position + i) for i, message in enumerate(new)]
    )
    if commit:
        session.commit()
    conversation = replace(conversation, message_count=len(history) + 2)
    return AnswerBegun(conversation, not conversation_id, history, asked, answer)


def _message(
    conversation_id: str,
    role: Role,
    status: MessageStatus,
    now: datetime,
    *,
    content: str = "",
    metrics: Metrics | None = None,
) -> Message:
    return Message(
        id=new_id(),
        conversation_id=conversation_id,
        role=role,
        content=content,
        status=status,
        created_at=now,
        updated_at=now,
        metrics=metrics or Metrics(),
    )
