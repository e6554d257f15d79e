"""The left panel: this browser's conversations (the wire's `chat_history`), their categories, and search.

Row actions that also change the open conversation (rename, file, delete) are chained in the UI with
ConversationState's `refresh_header` / `forget`, so this state never reaches into that one.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from ... import db
from ...config import get_settings
from ...domain import MAX_TITLE_CHARS, Conversation, plain_text
from ...domain.limits import MAX_QUERY_CHARS
from ...turns.jobs import registry
from .. import views
from .session import SessionState

HISTORY_PAGE = 50
SEARCH_RESULTS = 20


async def conversations_page(
    owner: str, category_id: str, cursor: str | None = None
) -> tuple[list[Conversation], str | None]:
    """One page of the sidebar's list, newest first (pinned on top), and the cursor of the next."""
    return await db.run(
        get_settings().db_url,
        db.list_conversations,
        owner=owner,
        limit=HISTORY_PAGE,
        cursor=cursor,
        category_id=category_id or None,
    )


class SidebarState(SessionState):
    history: list[dict[str, str]] = []
    history_cursor: str = ""
    categories: list[dict[str, str]] = []
    category_filter: str = ""  # a category id; "" shows every conversation
    search_query: str = ""
    search_results: list[dict[str, str]] = []

    @rx.var
    def category_names(self) -> dict[str, str]:
        """By id, for the open conversation's badge."""
        return {c["id"]: c["name"] for c in self.categories}

    # --- loading -----------------------------------------------------------------------------------

    async def reload(self) -> None:
        """The first page and the categories again; each goes out only if it changed (assigning a var
        sends it, even unchanged)."""
        page, cursor = await conversations_page(self.owner, self.category_filter)
        history = views.history_view(page, db.utcnow())
        if history != self.history or (cursor or "") != self.history_cursor:
            self.history = history
            self.history_cursor = cursor or ""
        found = await db.run(get_settings().db_url, db.list_categories, owner=self.owner)
        categories = [{"id": c.id, "name": c.name} for c in found]
        if categories != self.categories:
            self.categories = categories

    @rx.event
    async def refresh(self) -> None:
        await self.reload()

    @rx.event
    async def load_more_history(self, cursor: str) -> None:
        """The end of the list scrolled into view: the page after `cursor`, unless it was loaded already."""
        if not cursor or cursor != self.history_cursor:
            return
        page, next_cursor = await conversations_page(self.owner, self.category_filter, cursor)
        last_heading = next((row["heading"] for row in reversed(self.history) if row["heading"]), "")
        self.history = self.history + views.history_view(page, db.utcnow(), after_heading=last_heading)
        self.history_cursor = next_cursor or ""

    # --- what a turn changes (called by ConversationState's stream) -------------------------------

    def show_on_top(self, conversation: Conversation) -> None:
        """A turn began in `conversation`: it is the newest now. No query: the rows move in memory."""
        shown = not self.category_filter or conversation.category_id == self.category_filter
        history = views.history_with_on_top(self.history, conversation, db.utcnow(), shown)
        if history != self.history:
            self.history = history

    def show_label(self, conversation: Conversation, category: str) -> None:
        """A new conversation was named (and perhaps filed under a new category)."""
        if category and all(c["id"] != conversation.category_id for c in self.categories):
            added = [*self.categories, {"id": conversation.category_id, "name": category}]
            self.categories = sorted(added, key=lambda c: c["name"].lower())
        self.history = [
            {**row, "title": conversation.title} if row["id"] == conversation.id else row
            for row in self.history
        ]

    # --- search ------------------------------------------------------------------------------------

    @rx.event
    async def search(self, query: str) -> None:
        query = plain_text(query)[:MAX_QUERY_CHARS]
        self.search_query = query
        if not query.strip():
            self.search_results = []
            return
        hits = await db.run(
            get_settings().db_url, db.search_messages, owner=self.owner, query=query, limit=SEARCH_RESULTS
        )
        self.search_results = [
            {
                "conversation_id": h.conversation_id,
                "message_id": h.message_id,
                "title": h.title,
                "snippet": h.snippet,
            }
            for h in hits
        ]

    # --- row actions -------------------------------------------------------------------------------

    @rx.event
    async def rename_chat(self, form: dict[str, Any]) -> None:
        title = " ".join(plain_text(form.get("title")).split())[:MAX_TITLE_CHARS]
        if not title:
            self.notice = "A title can't be empty."
            return
        await db.run(
            get_settings().db_url,
            db.rename_conversation,
            owner=self.owner,
            conversation_id=str(form.get("id", "")),
            title=title,
        )
        await self.reload()

    @rx.event
    async def toggle_pin(self, conversation_id: str) -> None:
        pinned = any(row["id"] == conversation_id and row.get("pinned") == "1" for row in self.history)
        await db.run(
            get_settings().db_url,
            db.set_pinned,
            owner=self.owner,
            conversation_id=conversation_id,
            pinned=not pinned,
        )
        await self.reload()

    @rx.event
    async def delete_chat(self, conversation_id: str) -> None:
        # Its answer stops first, whichever tab or worker streams it.
        await registry().stop_conversation(conversation_id, self.owner)
        await db.run(
            get_settings().db_url,
            db.delete_conversation,
            owner=self.owner,
            conversation_id=conversation_id,
        )
        await self.reload()

    @rx.event
    async def file_chat(self, form: dict[str, Any]) -> None:
        """Files a conversation under a category by name (a new name makes a new category)."""
        await db.run(
            get_settings().db_url,
            db.file_conversation,
            owner=self.owner,
            conversation_id=str(form.get("id", "")),
            category=plain_text(form.get("category")),
        )
        await self.reload()

    # --- categories --------------------------------------------------------------------------------

    @rx.event
    async def filter_by_category(self, category_id: str) -> None:
        self.category_filter = "" if category_id == "all" else category_id
        await self.reload()

    @rx.event
    async def rename_category(self, form: dict[str, Any]) -> None:
        renamed = await db.run(
            get_settings().db_url,
            db.rename_category,
            owner=self.owner,
            category_id=str(form.get("id", "")),
            name=plain_text(form.get("name")),
        )
        if not renamed:
            self.notice = "A category needs a name that no other category has."
        await self.reload()

    @rx.event
    async def delete_category(self, category_id: str) -> None:
        await db.run(get_settings().db_url, db.delete_category, owner=self.owner, category_id=category_id)
        if self.category_filter == category_id:
            self.category_filter = ""
        await self.reload()
