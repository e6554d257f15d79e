"""What one browser tab shows, kept current by the service; handlers here only adapt events to it.

The conversation reaches the browser through the append-only feed (`feed`, `snapshot`), never as a
list var: see assets/live_feed.jsx. The database is the record; this state is a cache of one tab's view.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import reflex as rx

from .. import db, presenters, service
from ..api import is_valid_owner_key
from ..config import get_settings
from ..domain import InputError, Metrics
from ..providers import provider_for
from ..service import AnswerDelta, AnswerDone, AnswerStarted, ConversationReady, StatusEvent, Turn, TurnUpdate
from .batching import in_batches

log = logging.getLogger(__name__)

HISTORY_PAGE = 50
MAX_EVENTS = 200
MONITOR_EVERY_S = 0.5
# While the status is one of these, the tab shows Stop instead of Send.
BUSY = ("thinking", "streaming")
STATUS_BY_EVENT = {
    "request_sent": "thinking",
    "first_token": "streaming",
    "finished": "done",
    "stopped": "stopped",
    "interrupted": "interrupted",
    "error": "error",
}


def _is_urgent(update: TurnUpdate) -> bool:
    """What the user waits for goes out at once: the messages, the first token, the end."""
    if isinstance(update, StatusEvent):
        return update.kind == "first_token"
    return isinstance(update, AnswerStarted | AnswerDone)


def _give_back(text: str):
    """The browser empties the box as it sends; a message that wasn't accepted goes back into it."""
    return rx.set_value("chat-input", text) if text.strip() else None


class ChatState(rx.State):
    # A random key per browser, kept in its local storage: whose conversations these are.
    owner_key: str = rx.LocalStorage("", name="chatapp_owner", sync=True)
    conversation_id: str = ""
    title: str = ""
    # The seed's `chat_history`: the sidebar rows.
    history: list[dict[str, str]] = []
    history_cursor: str = ""
    # The append-only feed: {"seq", "ops"}, the operations of one flush, numbered; and {"seq", "messages",
    # "events"}, everything up to its number, for a tab that missed a flush.
    feed: dict[str, Any] = {"seq": 0, "ops": []}
    snapshot: dict[str, Any] = {"seq": 0, "messages": [], "events": []}
    notice: str = ""
    # The monitor panel.
    status: str = "idle"
    answer: dict[str, str] = presenters.metrics_view(Metrics())
    model_label: str = "—"
    totals: dict[str, str] = {"answers": "0", "tokens": "0", "cost": "$0.00", "errors": "0"}
    show_history: bool = False
    show_monitor: bool = False
    show_settings: bool = False

    # Backend only: never sent to the browser.
    _answer_id: str = ""
    _answer_text: str = ""
    _seq: int = 0
    _streaming: bool = False
    _streaming_conversation: str = ""
    _turns_started: int = 0
    _events: list[dict[str, str]] = []
    _session: dict[str, float] = {}

    # --- loading -------------------------------------------------------------------------------

    @rx.event
    async def on_load(self):
        if not is_valid_owner_key(self.owner_key):
            self.owner_key = secrets.token_urlsafe(24)
        self._streaming = bool(self._streaming_conversation) and service.is_streaming(
            self._streaming_conversation
        )
        if not self._streaming and self.status in BUSY:
            self.status = "idle"  # the server restarted under this tab; its answer was saved as interrupted
        settings = get_settings()
        label = presenters.model_label(Metrics(model=settings.model, provider=settings.provider))
        if label != self.model_label:
            self.model_label = label
        await self._load_history()
        await self._show_conversation(self.conversation_id)

    async def _load_history(self) -> None:
        page, cursor = await db.run(
            get_settings().db_url, db.list_conversations, owner=self.owner_key, limit=HISTORY_PAGE
        )
        self.history = presenters.history_view(page, db.utcnow())
        self.history_cursor = cursor or ""

    @rx.event
    async def load_more_history(self):
        if not self.history_cursor:
            return
        page, cursor = await db.run(
            get_settings().db_url,
            db.list_conversations,
            owner=self.owner_key,
            limit=HISTORY_PAGE,
            cursor=self.history_cursor,
        )
        last_heading = next((row["heading"] for row in reversed(self.history) if row["heading"]), "")
        rows = presenters.history_view(page, db.utcnow())
        if rows and rows[0]["heading"] == last_heading:
            rows[0] = {**rows[0], "heading": ""}
        self.history = self.history + rows
        self.history_cursor = cursor or ""

    async def _show_conversation(self, conversation_id: str) -> None:
        """Replaces what the tab shows with the saved conversation, in one snapshot."""
        messages: list[dict[str, Any]] = []
        title = ""
        if conversation_id:
            url = get_settings().db_url
            found = await db.run(
                url, db.get_conversation, owner=self.owner_key, conversation_id=conversation_id
            )
            if found is None:
                conversation_id = ""
            else:
                title = found.title
                saved = await db.run(url, db.list_messages, conversation_id=found.id)
                messages = [presenters.message_view(m) for m in saved]
        self.conversation_id = conversation_id
        self.title = title
        if conversation_id and conversation_id == self._streaming_conversation:
            # The saved copy of the answer lags the stream by up to a second; the tab holds what it was sent.
            messages = [
                {**m, "content": self._answer_text} if m["id"] == self._answer_id else m for m in messages
            ]
        self._publish_snapshot(messages)

    def _publish_snapshot(self, messages: list[dict[str, Any]]) -> None:
        self._seq += 1
        self.snapshot = {"seq": self._seq, "messages": messages, "events": self._events}

    @rx.event
    async def resync(self):
        """The browser missed a batch of the feed (reload, reconnect): send it everything once."""
        await self._show_conversation(self.conversation_id)

    # --- the sidebar ---------------------------------------------------------------------------

    @rx.event
    async def new_chat(self):
        self.notice = ""
        self.show_history = False
        await self._show_conversation("")
        return rx.set_focus("chat-input")

    @rx.event
    async def open_chat(self, conversation_id: str):
        self.notice = ""
        self.show_history = False
        await self._show_conversation(conversation_id)

    @rx.event
    async def rename_chat(self, form: dict[str, Any]):
        title = " ".join(str(form.get("title", "")).split())[:200]
        conversation_id = str(form.get("id", ""))
        if not title:
            self.notice = "A title can't be empty."
            return
        await db.run(
            get_settings().db_url,
            db.rename_conversation,
            owner=self.owner_key,
            conversation_id=conversation_id,
            title=title,
        )
        if conversation_id == self.conversation_id:
            self.title = title
        await self._load_history()

    @rx.event
    async def delete_chat(self, conversation_id: str):
        if conversation_id == self._streaming_conversation:
            service.stop_turn(conversation_id)
        await db.run(
            get_settings().db_url,
            db.delete_conversation,
            owner=self.owner_key,
            conversation_id=conversation_id,
        )
        if conversation_id == self.conversation_id:
            await self._show_conversation("")
        await self._load_history()

    # --- a turn: the seed's `user_message` --------------------------------------------------------

    @rx.event
    def user_message(self, form: dict[str, Any]):
        """Fast: check the message, then hand the turn to a background task."""
        text = str(form.get("message", ""))
        try:
            text = service.validate_message(text, get_settings().max_message_chars)
        except InputError as error:
            self.notice = str(error)
            return _give_back(text)
        if self._streaming:
            self.notice = "An answer is still streaming. Wait for it, or press Stop."
            return _give_back(text)
        if self.notice:
            self.notice = ""
        self._streaming = True
        self.status = "thinking"
        return ChatState.run_turn(text)

    @rx.event(background=True)
    async def run_turn(self, text: str):
        settings = get_settings()
        async with self:
            owner, conversation_id = self.owner_key, self.conversation_id
            self._streaming_conversation = conversation_id
            self._turns_started += 1
            this_turn = self._turns_started
        last_monitor = 0.0
        try:
            turn = Turn(
                settings=settings,
                provider=provider_for(settings),
                owner=owner,
                conversation_id=conversation_id or None,
                text=text,
            )
            async for batch in in_batches(turn.updates(), 1 / settings.flush_hz, _is_urgent):
                created = any(isinstance(u, ConversationReady) and u.created for u in batch)
                history = None
                if created:
                    page, _ = await db.run(
                        settings.db_url, db.list_conversations, owner=owner, limit=HISTORY_PAGE
                    )
                    history = presenters.history_view(page, db.utcnow())
                async with self:
                    self._apply(batch)
                    if history is not None:
                        self.history = history
                    now = time.monotonic()
                    if self.status == "streaming" and now - last_monitor >= MONITOR_EVERY_S:
                        last_monitor = now
                        self.answer = presenters.metrics_view(turn.live_metrics())
        except Exception:
            log.exception("turn failed in the tab's background task")
            async with self:
                self.notice = "Something went wrong on the server; the answer may be incomplete."
                self.status = "error"
        finally:
            async with self:
                # Normally done with the answer's last flush; a next turn may have started since.
                if self._turns_started == this_turn and self._streaming:
                    self._streaming = False
                    self._streaming_conversation = ""

    def _apply(self, batch: list[TurnUpdate]) -> None:
        """Copies one flush of the turn into the tab: feed operations, monitor numbers, status."""
        ops: list[Any] = []
        turn_conversation = self._streaming_conversation
        for update in batch:
            if isinstance(update, ConversationReady):
                turn_conversation = self._streaming_conversation = update.conversation.id
                if update.created and not self.conversation_id:
                    self.conversation_id = update.conversation.id
                    self.title = update.conversation.title
            elif isinstance(update, AnswerStarted):
                self._answer_id = update.assistant.id
                self._answer_text = ""
                label = presenters.model_label(update.assistant.metrics)
                if label != self.model_label:
                    self.model_label = label
                ops += [
                    ["m", presenters.message_view(update.user)],
                    ["m", presenters.message_view(update.assistant)],
                ]
            elif isinstance(update, AnswerDelta):
                self._answer_text += update.text
                if ops and ops[-1][0] == "+":
                    ops[-1][1] += update.text
                else:
                    ops.append(["+", update.text])
            elif isinstance(update, StatusEvent):  # the seed's `backend_status`
                event = presenters.event_view(update)
                self._events = [*self._events[-(MAX_EVENTS - 1) :], event]
                self.status = STATUS_BY_EVENT.get(update.kind, self.status)
                ops.append(["e", event])
            elif isinstance(update, AnswerDone):
                self._finish(update, ops)
        if self.conversation_id != turn_conversation:  # the user opened another conversation meanwhile
            ops = [op for op in ops if op[0] == "e"]
        if ops:
            self._seq += 1
            self.feed = {"seq": self._seq, "ops": ops}

    def _finish(self, done: AnswerDone, ops: list[Any]) -> None:
        self._streaming = False
        self._streaming_conversation = ""
        message = done.message
        if message is None:
            self.notice = done.error
            self.status = "error"
            return
        view = presenters.message_view(message)
        ops.append(
            # The text is already in the browser; only what changed goes with the end of the answer.
            [
                "u",
                message.id,
                {key: value for key, value in view.items() if key not in ("id", "role", "content")},
            ]
        )
        self.answer = presenters.metrics_view(message.metrics)
        self._count_in_session(message.metrics, failed=message.status in ("error", "interrupted"))
        if message.status == "error":
            self.notice = message.error

    def _count_in_session(self, metrics: Metrics, *, failed: bool) -> None:
        session = dict(self._session)
        session["answers"] = session.get("answers", 0) + 1
        session["tokens"] = (
            session.get("tokens", 0) + (metrics.prompt_tokens or 0) + (metrics.completion_tokens or 0)
        )
        session["errors"] = session.get("errors", 0) + (1 if failed else 0)
        if metrics.cost_usd is None:
            session["unknown_cost"] = 1
        else:
            session["cost"] = session.get("cost", 0.0) + metrics.cost_usd
        self._session = session
        cost = presenters.money(session.get("cost", 0.0))
        self.totals = {
            "answers": f"{session['answers']:.0f}",
            "tokens": f"{session['tokens']:,.0f}",
            "cost": cost + (" + unknown" if session.get("unknown_cost") else ""),
            "errors": f"{session['errors']:.0f}",
        }

    @rx.event
    def stop(self):
        if self._streaming_conversation:
            service.stop_turn(self._streaming_conversation)

    # --- small UI toggles --------------------------------------------------------------------------

    @rx.event
    def dismiss_notice(self):
        self.notice = ""

    @rx.event
    def toggle_history(self):
        self.show_history = not self.show_history
        self.show_monitor = False

    @rx.event
    def toggle_monitor(self):
        self.show_monitor = not self.show_monitor
        self.show_history = False

    @rx.event
    def set_show_settings(self, value: bool):
        self.show_settings = value
