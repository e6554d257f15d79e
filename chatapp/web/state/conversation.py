"""The middle panel: the open conversation, its feed, and the answers its tab asks for or follows.

The conversation reaches the browser through the append-only feed (`feed`, `snapshot`), never as a list var:
see assets/live_feed.jsx. The database is the record; this state is a cache of one tab's view. An answer is a
job of the registry, apart from any tab: this tab only starts one (`user_message`) and follows it
(`follow_turn`), copying each flush into the feed and, where it must, into the monitor and the sidebar.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from ... import db
from ...config import get_settings
from ...domain import (
    Conversation,
    InputError,
    Refused,
    plain_text,
    tool_decision,
    validate_message,
)
from ...providers import provider_for
from ...turns.jobs import registry
from ...turns.turn import Turn
from .. import views
from .following import _LIVE_FOLLOWERS, BUSY, AnswerFollower
from .monitor import MonitorState
from .paging import TOO_FAR_BACK, latest, version
from .session import SessionState
from .settings import SettingsState
from .sidebar import SidebarState

STILL_STREAMING = "An answer is still streaming. Wait for it, or press Stop."


def _give_back(text: str) -> Any:
    """The browser empties the box as it sends; a message that wasn't accepted goes back into it."""
    return rx.set_value("chat-input", text) if text.strip() else None


class ConversationState(AnswerFollower, SessionState):
    # Everything up to the feed's number {"seq", "messages", "events"}, for a tab that missed a flush or
    # opened another conversation; the feed itself and the answer followed are AnswerFollower's.
    snapshot: dict[str, Any] = {"seq": 0, "messages": [], "events": []}
    # A message to bring into view once the conversation shows it (a search result's).
    focus_message: str = ""

    # Backend only: never sent to the browser.
    _shown_pages: int = 1  # how much of its history the tab asked to see (SNAPSHOT_MESSAGES a page)

    # --- opening a conversation --------------------------------------------------------------------

    @rx.event
    async def on_load(self) -> Any:
        self.ensure_owner()
        job = await registry().get(self._turn_id, self.owner) if self._turn_id else None
        self._streaming = job is not None and job.answering
        if not self._streaming and self.status in BUSY:
            self.status = "idle"  # the server restarted under this tab; its answer was saved as interrupted
        # A reload or a reconnect: the task that followed this tab's answer may have died with its worker.
        # The tab follows it afresh (from a snapshot without the answer, then its updates from the first),
        # unless a task of this process follows it still (a first message sent before this load ran).
        self._taking_over = self._streaming and self._follower not in _LIVE_FOLLOWERS
        (await self.get_state(MonitorState)).show_provider()
        await (await self.get_state(SidebarState)).reload()
        follow = await self._show_conversation(self.conversation_id)
        if follow is None and self._taking_over and job is not None:  # it streams in another conversation
            follow = self._follow_afresh(job.id)
        return follow

    @rx.event
    async def new_chat(self) -> Any:
        self.clear_notice()
        self.show_history = False
        (await self.get_state(SettingsState)).forget_new_chat_options()
        await self._show_conversation("")
        return rx.set_focus("chat-input")

    @rx.event
    async def open_chat(self, conversation_id: str) -> Any:
        return await self._open(conversation_id)

    async def _open(self, conversation_id: str) -> Any:
        """Shows a conversation picked in the sidebar, or one just imported."""
        self.clear_notice()
        self.show_history = False
        self.focus_message = ""  # a search hit opened before no longer widens what is sent
        return await self._show_conversation(conversation_id)

    @rx.event
    async def open_result(self, conversation_id: str, message_id: str) -> Any:
        """A search result was picked: its conversation, scrolled to its message."""
        self.show_history = False
        self.focus_message = plain_text(message_id)[:64]  # before the snapshot: it must hold that message
        follow = await self._show_conversation(conversation_id)
        if not any(m["id"] == self.focus_message for m in self.snapshot["messages"]):
            # Too far back to send (or gone): said once, and no later snapshot looks for it again.
            self.focus_message = ""
            self.notice = TOO_FAR_BACK if self.snapshot.get("earlier") else self.notice
        return follow

    @rx.event
    async def resync(self) -> Any:
        """The browser missed a batch of the feed (reload, reconnect): send it everything once."""
        return await self._show_conversation(self.conversation_id)

    @rx.event
    async def show_earlier(self) -> Any:
        """The reader scrolled to the top and asked for the messages before those shown."""
        if self.snapshot.get("earlier"):
            self._shown_pages += 1
            return await self._show_conversation(self.conversation_id)
        return None

    @rx.event
    async def catch_up(self) -> Any:
        """The tab came back into view: another tab or device may have asked, named or deleted something
        meanwhile. One query each for the sidebar and the open conversation; a snapshot only if it changed."""
        await (await self.get_state(SidebarState)).reload()
        (await self.get_state(MonitorState)).show_tools()
        if self._streaming or not self.conversation_id:
            return None
        found = await self._find(self.conversation_id)
        if found is None or version(found.updated_at) != self._shown_version:
            return await self._show_conversation(self.conversation_id)
        if (found.title, found.category_id) != (self.title, self.category_id):  # renamed or filed elsewhere
            self._show_header(found)
        return None

    @rx.event
    async def refresh_header(self, form: dict[str, Any]) -> None:
        """The sidebar's rename or category form (its `id`) was sent: if it is the open conversation, its
        header follows."""
        conversation_id = str(form.get("id", ""))
        if conversation_id and conversation_id == self.conversation_id:
            self._show_header(await self._find(conversation_id))

    @rx.event
    async def forget(self, conversation_id: str) -> None:
        """The sidebar deleted a conversation: if it is the open one, the tab shows a new chat."""
        if conversation_id and conversation_id == self.conversation_id:
            await self._show_conversation("")

    async def _find(self, conversation_id: str) -> Conversation | None:
        return await db.run(
            get_settings().db_url, db.get_conversation, owner=self.owner, conversation_id=conversation_id
        )

    async def _show_conversation(self, conversation_id: str) -> Any:
        """Replaces what the tab shows with the saved conversation, in one snapshot. Returns the event that
        follows the answer streaming in it, if there is one this tab doesn't follow yet."""
        url = get_settings().db_url
        opened = None
        if conversation_id:
            opened = await db.run(
                url, db.open_conversation, owner=self.owner, conversation_id=conversation_id
            )
        found, saved, events = opened or (None, [], [])
        conversation_id = found.id if found else ""
        if conversation_id != self.conversation_id:
            self._shown_pages = 1
        self.conversation_id = conversation_id
        self._shown_version = version(found.updated_at) if found else 0.0
        self._show_header(found)
        job = await registry().answering_in(conversation_id, self.owner)
        if job is None and any(m.status == "streaming" for m in saved):
            # No live job writes it: its worker died. The sweep would mark it soon; this tab shows it now.
            await db.run(url, db.mark_unfinished_as_interrupted, conversation_id=conversation_id)
            saved = [
                dataclasses.replace(m, status="interrupted") if m.status == "streaming" else m for m in saved
            ]
        messages = [views.message_view(m) for m in saved]
        event_views = [views.event_view(e, with_message=True) for e in events]
        follow = None
        if job is not None and (job.id != self._turn_id or self._taking_over):
            # Another tab's answer streams here (or this tab's, taken over): follow it. Its events come
            # again, from the first.
            event_views = [e for e in event_views if e["message_id"] not in job.message_ids]
            follow = self._follow_afresh(job.id)
        elif conversation_id and conversation_id == self._streaming_conversation:
            # The saved copy of the answer in flight may be behind or ahead of what the tab was sent.
            in_flight = {"content": self._answer_text, "steps": self._answer_steps}
            messages = [{**m, **in_flight} if m["id"] == self._answer_id else m for m in messages]
            event_views = [e for e in event_views if e["message_id"] != self._answer_id] + self._answer_events
        start = latest(messages, self._shown_pages, self.focus_message)
        self._seq += 1
        self.snapshot = {
            "seq": self._seq,
            "messages": messages[start:],
            "events": event_views,
            "earlier": start,
        }
        (await self.get_state(MonitorState)).show_conversation(saved, streaming=self._streaming)
        return follow

    # --- asking: the wire's `user_message` ---------------------------------------------------------

    @rx.event
    async def user_message(self, form: dict[str, Any]) -> Any:
        """Fast: check the message, have the job registry start the turn, then follow it."""
        self.ensure_owner()
        text = str(form.get("message", ""))
        try:
            text = validate_message(text, get_settings().max_message_chars)
        except InputError as error:
            self.notice = str(error)
            return _give_back(text)
        if self._streaming:
            self.notice = STILL_STREAMING
            return _give_back(text)
        return await self._start_turn(text, answer_again=False) or _give_back(text)

    @rx.event
    async def edit_message(self, message_id: str, text: str) -> Any:
        """A sent question was edited: the answers after it are replaced by a new one."""
        try:
            text = validate_message(text, get_settings().max_message_chars)
        except InputError as error:
            self.notice = str(error)
            return None
        return await self._answer_again(message_id, text)

    @rx.event
    async def regenerate(self) -> Any:
        """The last answer again, to the same question."""
        saved = await db.run(get_settings().db_url, db.list_messages, conversation_id=self.conversation_id)
        question = next((m for m in reversed(saved) if m.role == "user"), None)
        if question is None:
            return None
        limit, length = get_settings().max_message_chars, len(question.content.strip())
        if length > limit:  # an imported one may be: checked before anything is rewound
            self.notice = (
                f"That question has {length:,} characters, over the limit of {limit:,}. Edit it to ask again."
            )
            return None
        return await self._answer_again(question.id, question.content)

    async def _answer_again(self, message_id: str, text: str) -> Any:
        if self._streaming or await registry().answering_in(self.conversation_id, self.owner):
            self.notice = STILL_STREAMING
            return None
        rewound = await db.run(
            get_settings().db_url,
            db.rewind_to,
            owner=self.owner,
            conversation_id=self.conversation_id,  # the one that isn't streaming, as checked above
            message_id=message_id,
            content=text,
        )
        if not rewound:
            self.notice = "That message can't be answered again."
            return None
        await self._show_conversation(self.conversation_id)
        return await self._start_turn(text, answer_again=True)

    async def _start_turn(self, text: str, *, answer_again: bool) -> Any:
        """The one way a tab starts an answer: through the job registry, which may refuse it."""
        settings = get_settings()
        turn = Turn(
            settings=settings,
            provider=provider_for(settings),
            owner=self.owner,
            conversation_id=self.conversation_id or None,
            text=text,
            answer_again=answer_again,
            options=(await self.get_state(SettingsState)).new_chat_options(),
        )
        try:
            job = await registry().start(turn)
        except Refused as refusal:
            self.notice = refusal.message
            return None
        self.clear_notice()
        self._streaming = True
        self.status = "thinking"
        # mypy can't see through Reflex's event decorators: calling a handler makes its event.
        return ConversationState.follow_turn(job.id)  # type: ignore[misc]

    @rx.event
    async def stop(self) -> None:
        if self._turn_id:
            await registry().stop(self._turn_id, self.owner)

    @rx.event
    async def decide_tool(self, step_id: str, decision: str) -> None:
        """Allow, Always (in this conversation) or Deny, on a tool call of this tab's answer that waits."""
        chosen = tool_decision(decision)
        if chosen is None or not self._turn_id or not db.is_id(step_id):
            return
        if not await registry().decide(self._turn_id, self.owner, step_id, chosen):
            self.notice = "That tool call no longer waits for an answer."
