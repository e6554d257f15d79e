"""What a turn stores before it calls the provider: its conversation, the question and the empty answer, in
one transaction.

Four calls, each with its own commit, were most of the time to an answer's first word when many people
asked at once; one transaction of a few statements is a fraction of it, and the worker's writer
(write_behind) can commit many turns' beginnings together.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from ..domain import ChatOptions, Conversation, Message, Metrics
from .conversations import owned_row
from .messages import list_messages
from .schema import ConversationRow, MessageRow, apply_metrics, conversation_of, message_of, utcnow


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
    options: ChatOptions,
    question: str,
    answer_again: bool,
    default_model: str,
    provider: str,
    commit: bool = True,
) -> AnswerBegun:
    """Stores the question (unless `answer_again`: the conversation already ends with it) and an empty
    streaming answer, by the conversation's model or else `default_model`. With no `conversation_id`, a new
    conversation is made with `title` and `options`."""
    now = utcnow()
    if conversation_id:
        conversation = owned_row(session, owner, conversation_id)
        if conversation is None:
            raise NothingToAnswer("This conversation no longer exists.")
        history = list_messages(session, conversation_id=conversation.id)
        last = session.exec(
            select(MessageRow.position)
            .where(MessageRow.conversation_id == conversation.id)
            .order_by(col(MessageRow.position).desc())
            .limit(1)
        ).first()
        position = -1 if last is None else last
    else:
        conversation = ConversationRow(owner=owner, title=title, created_at=now, updated_at=now)
        conversation.model, conversation.system_prompt = options.model, options.system_prompt
        conversation.temperature, conversation.max_tokens = options.temperature, options.max_tokens
        session.add(conversation)
        history, position = [], -1
    if answer_again:
        if not history or history[-1].role != "user":
            raise NothingToAnswer("There is no question left to answer in this conversation.")
        *history, asked = history
    else:
        position += 1
        row = MessageRow(
            conversation_id=conversation.id, position=position, role="user", content=question, created_at=now
        )
        session.add(row)
        asked = message_of(row)
    answer = MessageRow(
        conversation_id=conversation.id,
        position=position + 1,
        role="assistant",
        status="streaming",
        created_at=now,
        updated_at=now,
    )
    apply_metrics(answer, Metrics(model=conversation.model or default_model, provider=provider))
    session.add(answer)
    conversation.updated_at = now
    session.add(conversation)
    if commit:
        session.commit()
    else:
        session.flush()
    counted = len(history) + 2
    return AnswerBegun(
        conversation_of(conversation, counted), not conversation_id, history, asked, message_of(answer)
    )
