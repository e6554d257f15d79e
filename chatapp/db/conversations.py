"""Conversations: create, find, rename, delete, list a page; always scoped by owner."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from ..domain import (
    DEFAULT_OPTIONS,
    MAX_CATEGORY_CHARS,
    MAX_TOOLS_ALLOWED,
    Category,
    ChatOptions,
    Conversation,
    ConversationDraft,
)
from .listing import totals
from .schema import (
    CategoryRow,
    ConversationRow,
    MessageRow,
    ToolCallRow,
    apply_metrics,
    conversation_of,
    is_id,
    names_column,
    names_of,
    new_id,
    utcnow,
)


def import_conversation(session: Session, *, owner: str, draft: ConversationDraft) -> Conversation:
    """Stores a conversation whole, as one transaction: all of it, or nothing.

    It keeps the ids and times it was exported with, so exporting it again gives the same file. When any
    id is taken already (the same file imported twice, or a file made up to collide), all of them are new.
    """
    keep_ids = _ids_are_free(session, owner, draft)
    try:
        return _store(session, owner, draft, keep_ids)
    except sa.exc.IntegrityError:
        if not keep_ids:
            raise
        # The same file, imported at the same moment elsewhere, took the ids first.
        session.rollback()
        return _store(session, owner, draft, keep_ids=False)


def _store(session: Session, owner: str, draft: ConversationDraft, keep_ids: bool) -> Conversation:
    now = utcnow()
    category = _category_for(session, owner, draft.category, keep_id=draft.category_id if keep_ids else "")
    conversation = ConversationRow(
        owner=owner,
        title=draft.title,
        pinned=draft.pinned,
        category_id=category.id if category else None,
        created_at=draft.created_at or now,
        updated_at=draft.updated_at or now,
        id=draft.id if keep_ids and draft.id else new_id(),
    )
    _put_options(conversation, draft.options)
    session.add(conversation)
    for position, message in enumerate(draft.messages):
        row = MessageRow(
            conversation_id=conversation.id,
            position=position,
            role=message.role,
            content=message.content,
            status=message.status,
            error=message.error,
            created_at=message.created_at or now,
            updated_at=message.updated_at or now,
            id=message.id if keep_ids and message.id else new_id(),
        )
        apply_metrics(row, message.metrics)
        session.add(row)
        for order, step in enumerate(message.steps):
            session.add(
                ToolCallRow(
                    message_id=row.id,
                    call_id=step.call_id,
                    name=step.name,
                    arguments=step.arguments,
                    status=step.status,
                    result=step.result,
                    duration_ms=step.duration_ms,
                    server=step.server,
                    # Steps are listed by this time: one apart each keeps their order.
                    created_at=row.created_at + timedelta(microseconds=order),
                    id=step.id if keep_ids and step.id else new_id(),
                )
            )
    session.commit()
    return conversation_of(conversation, len(draft.messages))


def _ids_are_free(session: Session, owner: str, draft: ConversationDraft) -> bool:
    messages = [m.id for m in draft.messages if m.id]
    steps = [s.id for m in draft.messages for s in m.steps if s.id]
    # The category's id matters only if it is created here: a restore into the same browser finds its own.
    name = " ".join(draft.category.split())[:MAX_CATEGORY_CHARS]
    category = draft.category_id if name and _category_named(session, owner, name) is None else ""
    wanted = [draft.id, *messages, *steps, *([category] if category else [])]
    if len(set(wanted)) != len(wanted) or not all(is_id(i) for i in wanted if i):
        return False
    taken = (
        (ConversationRow, [draft.id] if draft.id else []),
        (MessageRow, messages),
        (ToolCallRow, steps),
        (CategoryRow, [category] if category else []),
    )
    return not any(
        ids and session.exec(select(table.id).where(col(table.id).in_(ids)).limit(1)).first()
        for table, ids in taken
    )


def create_conversation(
    session: Session, *, owner: str, title: str, options: ChatOptions = DEFAULT_OPTIONS
) -> Conversation:
    row = ConversationRow(owner=owner, title=title)
    _put_options(row, options)
    session.add(row)
    session.commit()
    return conversation_of(row)


def _put_options(row: ConversationRow, options: ChatOptions) -> None:
    row.model = options.model
    row.system_prompt = options.system_prompt
    row.temperature = options.temperature
    row.max_tokens = options.max_tokens
    row.servers_off = names_column(options.servers_off)
    row.tools_allowed = names_column(options.tools_allowed)


def set_options(
    session: Session, *, owner: str, conversation_id: str, options: ChatOptions, revoked: tuple[str, ...] = ()
) -> bool:
    """The settings dialog's save. The tools allowed without asking are the stored ones less `revoked`, read
    in this transaction: one an answer allowed while the dialog was open stays allowed."""
    row = owned_row(session, owner, conversation_id)
    if row is None:
        return False
    allowed = tuple(tool for tool in names_of(row.tools_allowed) if tool not in revoked)
    _put_options(row, replace(options, tools_allowed=allowed))
    session.add(row)
    session.commit()
    return True


def allow_tool(session: Session, *, owner: str, conversation_id: str, tool: str) -> bool:
    """The user allowed `tool` to run in this conversation without asking again."""
    row = owned_row(session, owner, conversation_id)
    if row is None:
        return False
    allowed = names_of(row.tools_allowed)
    if tool not in allowed and len(allowed) < MAX_TOOLS_ALLOWED:  # past the cap, it asks again next time
        row.tools_allowed = names_column((*allowed, tool))
        session.add(row)
        session.commit()
    return True


def owned_row(session: Session, owner: str, conversation_id: str) -> ConversationRow | None:
    if not is_id(conversation_id):
        return None
    row = session.get(ConversationRow, conversation_id)
    return row if row is not None and row.owner == owner else None


def get_conversation(session: Session, *, owner: str, conversation_id: str) -> Conversation | None:
    row = owned_row(session, owner, conversation_id)
    if row is None:
        return None
    return conversation_of(row, *totals(session, [row.id]).get(row.id, ()))


def _update_owned(session: Session, owner: str, conversation_id: str, **fields: Any) -> bool:
    row = owned_row(session, owner, conversation_id)
    if row is None:
        return False
    for name, value in fields.items():
        setattr(row, name, value)
    session.add(row)
    session.commit()
    return True


def rename_conversation(session: Session, *, owner: str, conversation_id: str, title: str) -> bool:
    return _update_owned(session, owner, conversation_id, title=title)


def delete_conversation(session: Session, *, owner: str, conversation_id: str) -> bool:
    row = owned_row(session, owner, conversation_id)
    if row is None:
        return False
    # Its messages, their tool calls and its events go with it: the foreign keys' ON DELETE CASCADE.
    session.execute(sa.delete(ConversationRow).where(col(ConversationRow.id) == row.id))
    session.commit()
    return True


def set_pinned(session: Session, *, owner: str, conversation_id: str, pinned: bool) -> bool:
    return _update_owned(session, owner, conversation_id, pinned=pinned)


# --- categories ---------------------------------------------------------------------------------


def list_categories(session: Session, *, owner: str) -> list[Category]:
    rows = session.exec(
        select(CategoryRow).where(col(CategoryRow.owner) == owner).order_by(func.lower(CategoryRow.name))
    ).all()
    return [Category(row.id, row.name) for row in rows]


def _category_named(session: Session, owner: str, name: str) -> CategoryRow | None:
    return session.exec(
        select(CategoryRow).where(
            col(CategoryRow.owner) == owner, func.lower(CategoryRow.name) == name.lower()
        )
    ).first()


def find_category(session: Session, *, owner: str, name: str) -> Category | None:
    row = _category_named(session, owner, name)
    return None if row is None else Category(row.id, row.name)


def _category_for(session: Session, owner: str, name: str, keep_id: str = "") -> CategoryRow | None:
    """The category of this name, created the first time it is used (with `keep_id`, if given); None for an
    empty name."""
    name = " ".join(name.split())[:MAX_CATEGORY_CHARS]
    if not name:
        return None
    row = _category_named(session, owner, name)
    if row is None:
        row = CategoryRow(id=keep_id or new_id(), owner=owner, name=name)
        session.add(row)
        session.flush()
    return row


def file_conversation(session: Session, *, owner: str, conversation_id: str, category: str) -> bool:
    """Puts a conversation under a category by name, creating the category the first time; "" takes it out."""
    row = _category_for(session, owner, category)
    return _update_owned(session, owner, conversation_id, category_id=row.id if row else None)


def apply_label(
    session: Session, *, owner: str, conversation_id: str, title_before: str, title: str, category: str | None
) -> tuple[Conversation, str] | None:
    """A suggested title and category, each applied only where the user hasn't chosen one meanwhile (renamed
    it since `title_before`, or filed it). The conversation and its category's name, or None if unchanged."""
    row = owned_row(session, owner, conversation_id)
    if row is None:
        return None
    changed = False
    if row.title == title_before and title and title != row.title:
        row.title, changed = title, True
    filed = _category_for(session, owner, category) if category and row.category_id is None else None
    if filed is not None:
        row.category_id, changed = filed.id, True
    if not changed:
        return None
    session.add(row)
    session.commit()
    return conversation_of(row), filed.name if filed else ""


def rename_category(session: Session, *, owner: str, category_id: str, name: str) -> bool:
    name = " ".join(name.split())[:MAX_CATEGORY_CHARS]
    row = session.get(CategoryRow, category_id) if is_id(category_id) else None
    if (
        row is None
        or row.owner != owner
        or not name
        or _category_named(session, owner, name) not in (None, row)
    ):
        return False
    row.name = name
    session.add(row)
    session.commit()
    return True


def delete_category(session: Session, *, owner: str, category_id: str) -> bool:
    """Its conversations stay, without a category."""
    row = session.get(CategoryRow, category_id) if is_id(category_id) else None
    if row is None or row.owner != owner:
        return False
    session.delete(row)  # its conversations' category_id becomes NULL: the foreign key's ON DELETE SET NULL
    session.commit()
    return True
