"""Export of the open conversation (Markdown or JSON) and import of a JSON export, from here or another
chatapp."""

from __future__ import annotations

from typing import Any

import reflex as rx

from ... import db
from ...config import get_settings
from ...domain import InputError
from ...rest import exchange
from .conversation import ConversationState
from .session import SessionState
from .sidebar import SidebarState


class TransferState(SessionState):
    @rx.event
    async def export_chat(self, kind: str) -> Any:
        """Downloads the open conversation as Markdown or JSON."""
        url = get_settings().db_url
        found = await db.run(url, db.get_conversation, owner=self.owner, conversation_id=self.conversation_id)
        if found is None:
            self.notice = "Open a conversation to export it."
            return None
        messages = await db.run(url, db.list_messages, conversation_id=found.id)
        name = (
            "".join(c if c.isalnum() else "-" for c in found.title.lower()).strip("-")[:60] or "conversation"
        )
        if kind == "json":
            categories = {c.id: c.name for c in await db.run(url, db.list_categories, owner=self.owner)}
            return rx.download(data=exchange.to_json(found, messages, categories), filename=f"{name}.json")
        return rx.download(data=exchange.to_markdown(found, messages), filename=f"{name}.md")

    @rx.event
    async def import_chat(self, files: list[rx.UploadFile]) -> Any:
        """Stores a conversation exported as JSON and opens it."""
        if not files:
            return None
        try:
            draft = exchange.from_json(await files[0].read(exchange.MAX_IMPORT_BYTES + 1))
        except InputError as error:
            self.notice = str(error)
            return None
        imported = await db.run(get_settings().db_url, db.import_conversation, owner=self.owner, draft=draft)
        # Shown here, in this one event, rather than by events chained after it: the upload's request stays
        # open until its chained events end, and the browser drops a file picked meanwhile.
        await (await self.get_state(SidebarState)).reload()
        return await (await self.get_state(ConversationState))._open(imported.id)

    @rx.event
    def import_refused(self, reason: Any) -> None:
        """The browser turned a file away before sending it (too large, or not JSON): say which. `reason` is
        react-dropzone's error code."""
        if reason == "file-too-large":
            self.notice = exchange.TOO_LARGE
        else:
            self.notice = "Import one conversation exported as JSON (a .json file)."
