"""What one browser tab shows, kept current by the service; handlers here only adapt events to it.

The conversation reaches the browser through the append-only feed (`feed`, `snapshot`), never as a list var:
see assets/live_feed.jsx. The database is the record; this state is a cache of one tab's view.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from typing import Any

import reflex as rx

from .. import db, exchange, presenters, service, tools
from ..api import is_valid_owner_key
from ..config import get_settings
from ..domain import ChatOptions, Conversation, InputError, Message, Metrics, ProviderError
from ..jobs import Refused, registry
from ..metrics import AnswerRecord
from ..providers import provider_for
from ..service import (
    AnswerDelta,
    AnswerDone,
    AnswerStarted,
    ConversationLabelled,
    ConversationReady,
    LiveMetrics,
    StatusEvent,
    ToolStepUpdate,
    Turn,
    TurnUpdate,
)
from .batching import in_batches

log = logging.getLogger(__name__)

HISTORY_PAGE = 50
SEARCH_RESULTS = 20
MAX_SPEED_POINTS = 40
MIN_TOKENS_TO_CHART = 10
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
    """What the user waits for goes out at once: the messages, the first token, tool steps, the end."""
    if isinstance(update, StatusEvent):
        return update.kind == "first_token"
    return isinstance(update, AnswerStarted | ToolStepUpdate | AnswerDone)


def _give_back(text: str):
    """The browser empties the box as it sends; a message that wasn't accepted goes back into it."""
    return rx.set_value("chat-input", text) if text.strip() else None


class ChatState(rx.State):
    # A random key per browser, kept in its local storage: whose conversations these are.
    owner_key: str = rx.LocalStorage("", name="chatapp_owner", sync=True)
    # The open conversation, kept in the tab's session storage too: a tab whose worker died reconnects to
    # another one whose copy of this state may be older, and a reload keeps what the tab showed.
    conversation_id: str = rx.SessionStorage("", name="chatapp_conversation")
    title: str = ""
    category_name: str = ""  # the open conversation's category
    # The open conversation's settings as the settings dialog shows them ("" where the default applies).
    chat_settings: dict[str, str] = presenters.options_view(ChatOptions())
    settings_open: bool = False
    settings_error: str = ""
    models: list[str] = []  # what the provider offers, listed when the dialog opens
    defaults: dict[str, str] = {"model": "", "system_prompt": ""}  # what an empty field stands for
    # The seed's `chat_history`: the sidebar rows.
    history: list[dict[str, str]] = []
    history_cursor: str = ""
    categories: list[dict[str, str]] = []
    search_query: str = ""
    search_results: list[dict[str, str]] = []
    # A message to bring into view once the conversation shows it (a search result's).
    focus_message: str = ""
    category_filter: str = ""  # a category id; "" shows every conversation
    # The append-only feed: {"seq", "ops"}, the operations of one flush, numbered; and {"seq", "messages",
    # "events"}, everything up to its number, for a tab that missed a flush.
    feed: dict[str, Any] = {"seq": 0, "ops": []}
    snapshot: dict[str, Any] = {"seq": 0, "messages": [], "events": []}
    notice: str = ""
    # The monitor panel. `live` holds the few numbers that move while an answer streams; `answer` all of them,
    # for the last finished answer or the one the user selected.
    status: str = "idle"
    model_label: str = "—"
    tools_note: str = ""
    answer_heading: str = "This answer"
    answer: dict[str, str] = presenters.metrics_view(Metrics())
    live: dict[str, str] = presenters.live_view(Metrics())
    speed_points: list[dict[str, float]] = []
    # Session statistics go out only while their tab is open: nothing is sent that nobody looks at.
    monitor_tab: str = "events"
    conversation_totals: dict[str, str] = presenters.totals_view([])
    session_totals: dict[str, str] = presenters.totals_view([])
    model_rows: list[dict[str, str]] = []
    cost_points: list[dict[str, Any]] = []
    show_history: bool = False
    show_monitor: bool = False

    # Backend only: never sent to the browser.
    _seq: int = 0
    _streaming: bool = False
    _streaming_conversation: str = ""
    _turn_id: str = ""  # the job this tab shows (its own answer, or another tab's in the same conversation)
    _following: str = ""  # the job whose updates this tab's background task is applying now
    # What the browser was sent of the answer in flight, so a snapshot matches the feed exactly.
    _answer_id: str = ""
    _answer_text: str = ""
    _answer_steps: list[dict[str, str]] = []
    _answer_events: list[dict[str, str]] = []
    _conversation_records: list[AnswerRecord] = []
    # Settings chosen before a new conversation exists; it takes them when its first message creates it.
    _new_chat_options: dict[str, Any] = {}
    _category_id: str = ""  # the open conversation's, named by `category_name`
    _session_records: list[AnswerRecord] = []

    # --- loading -------------------------------------------------------------------------------

    @rx.event
    async def on_load(self):
        self._ensure_owner()
        job = await registry().get(self._turn_id, self.owner_key) if self._turn_id else None
        self._streaming = job is not None and job.answering
        if not self._streaming and self.status in BUSY:
            self.status = "idle"  # the server restarted under this tab; its answer was saved as interrupted
        settings = get_settings()
        provider = provider_for(settings)
        # Assigning a var sends it, even unchanged: these go out only when they differ.
        label = presenters.model_label(Metrics(model=settings.model, provider=settings.provider))
        if label != self.model_label:
            self.model_label = label
        note = (
            f"Tools: {', '.join(tools.REGISTRY)}"
            if provider.supports_tools
            else "The local model runs without tools."
        )
        if note != self.tools_note:
            self.tools_note = note
        defaults = {"model": settings.model, "system_prompt": settings.system_prompt}
        if defaults != self.defaults:
            self.defaults = defaults
        await self._load_history()
        return await self._show_conversation(self.conversation_id)

    def _ensure_owner(self) -> None:
        """A browser's first visit has no key yet. The page can send a message before its on_load has run
        (Reflex queues on_load after hydration), so whichever comes first makes the key."""
        if not is_valid_owner_key(self.owner_key):
            self.owner_key = secrets.token_urlsafe(24)

    async def _history_page(self, cursor: str | None = None):
        return await db.run(
            get_settings().db_url,
            db.list_conversations,
            owner=self.owner_key,
            limit=HISTORY_PAGE,
            cursor=cursor,
            category_id=self.category_filter or None,
        )

    async def _load_history(self) -> None:
        page, cursor = await self._history_page()
        self.history = presenters.history_view(page, db.utcnow())
        self.history_cursor = cursor or ""
        found = await db.run(get_settings().db_url, db.list_categories, owner=self.owner_key)
        categories = [{"id": c.id, "name": c.name} for c in found]
        if categories != self.categories:
            self.categories = categories
            self._name_category()

    def _name_category(self) -> None:
        name = next((c["name"] for c in self.categories if c["id"] == self._category_id), "")
        if name != self.category_name:
            self.category_name = name

    # --- search -------------------------------------------------------------------------------------

    @rx.event
    async def search(self, query: str):
        self.search_query = query[:200]
        if not query.strip():
            self.search_results = []
            return
        hits = await db.run(
            get_settings().db_url, db.search_messages, owner=self.owner_key, query=query, limit=SEARCH_RESULTS
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

    @rx.event
    async def open_result(self, conversation_id: str, message_id: str):
        self.show_history = False
        follow = await self._show_conversation(conversation_id)
        self.focus_message = message_id
        return follow

    # --- categories --------------------------------------------------------------------------------

    @rx.event
    async def filter_by_category(self, category_id: str):
        self.category_filter = "" if category_id == "all" else category_id
        await self._load_history()

    @rx.event
    async def file_chat(self, form: dict[str, Any]):
        """Files a conversation under a category by name (a new name makes a new category)."""
        url = get_settings().db_url
        conversation_id = str(form.get("id", ""))
        await db.run(
            url,
            db.file_conversation,
            owner=self.owner_key,
            conversation_id=conversation_id,
            category=str(form.get("category", "")),
        )
        if conversation_id == self.conversation_id:
            found = await db.run(
                url, db.get_conversation, owner=self.owner_key, conversation_id=conversation_id
            )
            self._category_id = found.category_id if found else ""
        await self._load_history()
        self._name_category()

    @rx.event
    async def rename_category(self, form: dict[str, Any]):
        renamed = await db.run(
            get_settings().db_url,
            db.rename_category,
            owner=self.owner_key,
            category_id=str(form.get("id", "")),
            name=str(form.get("name", "")),
        )
        if not renamed:
            self.notice = "A category needs a name that no other category has."
        await self._load_history()

    @rx.event
    async def delete_category(self, category_id: str):
        await db.run(get_settings().db_url, db.delete_category, owner=self.owner_key, category_id=category_id)
        if self.category_filter == category_id:
            self.category_filter = ""
        await self._load_history()

    @rx.event
    async def load_more_history(self, cursor: str):
        """The end of the list scrolled into view: the page after `cursor`, unless it was loaded already."""
        if not cursor or cursor != self.history_cursor:
            return
        page, cursor = await self._history_page(cursor)
        last_heading = next((row["heading"] for row in reversed(self.history) if row["heading"]), "")
        self.history = self.history + presenters.history_view(page, db.utcnow(), after_heading=last_heading)
        self.history_cursor = cursor or ""

    async def _show_conversation(self, conversation_id: str):
        """Replaces what the tab shows with the saved conversation, in one snapshot. Returns the event that
        follows the answer streaming in it, if there is one this tab doesn't follow yet."""
        url = get_settings().db_url
        saved: list[Message] = []
        events = []
        found: Conversation | None = None
        if conversation_id:
            found = await db.run(
                url, db.get_conversation, owner=self.owner_key, conversation_id=conversation_id
            )
            if found is None:
                conversation_id = ""
            else:
                saved = await db.run(url, db.list_messages, conversation_id=found.id)
                events = await db.run(url, db.list_events, conversation_id=found.id)
        self.conversation_id = conversation_id
        self._show_header(found)
        messages = [presenters.message_view(m) for m in saved]
        event_views = [presenters.event_view(e, with_message=True) for e in events]
        follow = None
        job = await registry().answering_in(conversation_id, self.owner_key)
        if job is None and any(m.status == "streaming" for m in saved):
            # No live job writes it: its worker died. The sweep would mark it soon; this tab shows it now.
            await db.run(url, db.mark_unfinished_as_interrupted, conversation_id=conversation_id)
            saved = [
                dataclasses.replace(m, status="interrupted") if m.status == "streaming" else m for m in saved
            ]
            messages = [presenters.message_view(m) for m in saved]
        if job is not None and job.id != self._turn_id:
            # Another tab's answer streams here: follow it. Its events come again, from the first.
            event_views = [e for e in event_views if e["message_id"] not in job.message_ids]
            follow = ChatState.follow_turn(job.id)
        elif conversation_id and conversation_id == self._streaming_conversation:
            # The saved copy of the answer in flight may be behind or ahead of what the tab was sent.
            in_flight = {"content": self._answer_text, "steps": self._answer_steps}
            messages = [{**m, **in_flight} if m["id"] == self._answer_id else m for m in messages]
            event_views = [e for e in event_views if e["message_id"] != self._answer_id] + self._answer_events
        self._seq += 1
        self.snapshot = {"seq": self._seq, "messages": messages, "events": event_views}
        self._conversation_records = [
            AnswerRecord.of(m) for m in saved if m.role == "assistant" and m.metrics.provider
        ]
        last_answer = next((m for m in reversed(saved) if m.role == "assistant"), None)
        if not self._streaming:
            self.answer_heading = "This answer"
            self.answer = presenters.metrics_view(last_answer.metrics if last_answer else Metrics())
        self._refresh_statistics()
        return follow

    def _show_header(self, conversation: Conversation | None) -> None:
        """Title, category and settings of the open conversation (or of the new one being started)."""
        self.title = conversation.title if conversation else ""
        self._category_id = conversation.category_id if conversation else ""
        self._name_category()
        options = conversation.options if conversation else ChatOptions(**self._new_chat_options)
        view = presenters.options_view(options)
        if view != self.chat_settings:
            self.chat_settings = view

    @rx.event
    async def resync(self):
        """The browser missed a batch of the feed (reload, reconnect): send it everything once."""
        return await self._show_conversation(self.conversation_id)

    # --- the monitor -------------------------------------------------------------------------------

    @rx.event
    async def select_answer(self, message_id: str):
        """An answer's summary line was clicked: the monitor shows that answer's numbers."""
        found = await db.run(
            get_settings().db_url, db.get_message, owner=self.owner_key, message_id=message_id
        )
        if found is None or found.role != "assistant":
            return
        self.answer_heading = f"Answer of {found.created_at.astimezone():%H:%M:%S}"
        self.answer = presenters.metrics_view(found.metrics)
        self.show_monitor = True

    @rx.event
    def set_monitor_tab(self, tab: str):
        self.monitor_tab = tab
        self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        if self.monitor_tab != "session":
            return
        self.conversation_totals = presenters.totals_view(self._conversation_records)
        self.session_totals = presenters.totals_view(self._session_records)
        self.model_rows = presenters.session_rows(self._session_records)
        self.cost_points = presenters.cost_points(self._conversation_records)

    # --- the sidebar ---------------------------------------------------------------------------

    @rx.event
    async def new_chat(self):
        self.notice = ""
        self.show_history = False
        self._new_chat_options = {}
        await self._show_conversation("")
        return rx.set_focus("chat-input")

    @rx.event
    async def open_chat(self, conversation_id: str):
        self.notice = ""
        self.show_history = False
        return await self._show_conversation(conversation_id)

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
    async def toggle_pin(self, conversation_id: str):
        pinned = any(row["id"] == conversation_id and row.get("pinned") == "1" for row in self.history)
        await db.run(
            get_settings().db_url,
            db.set_pinned,
            owner=self.owner_key,
            conversation_id=conversation_id,
            pinned=not pinned,
        )
        await self._load_history()

    @rx.event
    async def delete_chat(self, conversation_id: str):
        # Whichever tab it streams in.
        await registry().stop_conversation(conversation_id, self.owner_key)
        await db.run(
            get_settings().db_url,
            db.delete_conversation,
            owner=self.owner_key,
            conversation_id=conversation_id,
        )
        if conversation_id == self.conversation_id:
            await self._show_conversation("")
        await self._load_history()

    # --- conversation settings ----------------------------------------------------------------------

    @rx.event
    async def open_settings(self, is_open: bool = True):
        """The settings dialog opened: list the provider's models for it (asked each time: they change)."""
        self.settings_open = is_open
        self.settings_error = ""
        if not is_open:
            return
        provider = provider_for(get_settings())
        try:
            self.models = await provider.list_models()
        except ProviderError as error:
            self.models = [provider.model]
            self.settings_error = f"{error.message} Type a model name instead."

    @rx.event
    async def save_settings(self, form: dict[str, Any]):
        try:
            options = service.options_from(form, get_settings().max_message_chars)
        except InputError as error:
            self.settings_error = str(error)
            return
        if self.conversation_id:
            saved = await db.run(
                get_settings().db_url,
                db.set_options,
                owner=self.owner_key,
                conversation_id=self.conversation_id,
                options=options,
            )
            if not saved:
                self.settings_error = "This conversation no longer exists."
                return
        else:
            self._new_chat_options = dataclasses.asdict(options)
        self.chat_settings = presenters.options_view(options)
        self.settings_open = False

    # --- export and import ------------------------------------------------------------------------

    @rx.event
    async def export_chat(self, kind: str):
        """Downloads the open conversation as Markdown or JSON."""
        url = get_settings().db_url
        found = await db.run(
            url, db.get_conversation, owner=self.owner_key, conversation_id=self.conversation_id
        )
        if found is None:
            self.notice = "Open a conversation to export it."
            return None
        messages = await db.run(url, db.list_messages, conversation_id=found.id)
        name = (
            "".join(c if c.isalnum() else "-" for c in found.title.lower()).strip("-")[:60] or "conversation"
        )
        if kind == "json":
            return rx.download(data=exchange.to_json(found, messages), filename=f"{name}.json")
        return rx.download(data=exchange.to_markdown(found, messages), filename=f"{name}.md")

    @rx.event
    async def import_chat(self, files: list[rx.UploadFile]):
        """Stores a conversation exported as JSON (from here or another chatapp) and opens it."""
        if not files:
            return
        try:
            title, options, drafts = exchange.from_json(await files[0].read(exchange.MAX_IMPORT_BYTES + 1))
        except InputError as error:
            self.notice = str(error)
            return
        imported = await db.run(
            get_settings().db_url,
            db.import_conversation,
            owner=self.owner_key,
            title=title,
            options=options,
            drafts=drafts,
        )
        self.notice = ""
        await self._load_history()
        await self._show_conversation(imported.id)

    # --- a turn: the seed's `user_message` --------------------------------------------------------

    @rx.event
    async def user_message(self, form: dict[str, Any]):
        """Fast: check the message, have the job registry start the turn, then follow it."""
        self._ensure_owner()
        text = str(form.get("message", ""))
        try:
            text = service.validate_message(text, get_settings().max_message_chars)
        except InputError as error:
            self.notice = str(error)
            return _give_back(text)
        if self._streaming:
            self.notice = "An answer is still streaming. Wait for it, or press Stop."
            return _give_back(text)
        return await self._start_turn(text, answer_again=False) or _give_back(text)

    @rx.event
    async def edit_message(self, message_id: str, text: str):
        """A sent question was edited: the answers after it are replaced by a new one."""
        try:
            text = service.validate_message(text, get_settings().max_message_chars)
        except InputError as error:
            self.notice = str(error)
            return None
        return await self._answer_again(message_id, text)

    @rx.event
    async def regenerate(self):
        """The last answer again, to the same question."""
        saved = await db.run(get_settings().db_url, db.list_messages, conversation_id=self.conversation_id)
        question = next((m for m in reversed(saved) if m.role == "user"), None)
        if question is None:
            return None
        return await self._answer_again(question.id, question.content)

    async def _answer_again(self, message_id: str, text: str):
        if self._streaming or await registry().answering_in(self.conversation_id, self.owner_key):
            self.notice = "An answer is still streaming. Wait for it, or press Stop."
            return None
        rewound = await db.run(
            get_settings().db_url, db.rewind_to, owner=self.owner_key, message_id=message_id, content=text
        )
        if not rewound:
            self.notice = "That message can't be answered again."
            return None
        await self._show_conversation(self.conversation_id)
        return await self._start_turn(text, answer_again=True)

    async def _start_turn(self, text: str, *, answer_again: bool):
        """The one way a tab starts an answer: through the job registry, which may refuse it."""
        settings = get_settings()
        turn = Turn(
            settings=settings,
            provider=provider_for(settings),
            owner=self.owner_key,
            conversation_id=self.conversation_id or None,
            text=text,
            answer_again=answer_again,
            options=ChatOptions(**self._new_chat_options),
        )
        try:
            job = await registry().start(turn)
        except Refused as refusal:
            self.notice = refusal.message
            return None
        self.notice = ""
        self._streaming = True
        self.status = "thinking"
        return ChatState.follow_turn(job.id)

    @rx.event(background=True)
    async def follow_turn(self, turn_id: str):
        """Shows a job's updates in this tab as they come, from its first (any tab of its owner may)."""
        settings = get_settings()
        async with self:
            owner = self.owner_key
        job = await registry().get(turn_id, owner)
        async with self:
            if job is None or self._following == turn_id:
                return  # not this owner's, or followed already
            self._turn_id = self._following = turn_id
            self._streaming = job.answering
            self._streaming_conversation = job.conversation_id
        updates = registry().follow(turn_id, owner)
        unsent: list[TurnUpdate] = []  # a flush that failed: its updates go with the next one
        try:
            async for batch in in_batches(updates, 1 / settings.flush_hz, _is_urgent):
                batch = unsent + batch
                try:
                    history = None
                    moved = next((u.conversation.id for u in batch if isinstance(u, ConversationReady)), None)
                    if moved is not None:
                        history = await self._history_if_reordered(moved)
                    async with self:
                        if self._turn_id != turn_id:
                            break  # the tab follows another answer now
                        # After a failed flush the feed skips a number: the browser sees the gap and asks
                        # for one snapshot, in case the failed one reached it and this state didn't keep it.
                        self._seq += 1 if unsent else 0
                        self._apply(batch)
                        if history is not None:
                            self.history = history
                    unsent = []
                except Exception:  # a lock timeout, a state store hiccup: the answer goes on regardless
                    log.exception("a flush to a tab failed; its updates go with the next one")
                    unsent = batch
        finally:
            async with self:
                if unsent and self._turn_id == turn_id:  # the last flush failed: one more try
                    self._seq += 1
                    self._apply(unsent)
                if self._following == turn_id:
                    self._following = ""
                # Normally done by the answer's last flush; else its job ended without one (its worker died).
                if self._turn_id == turn_id and self._streaming:
                    self._show_cut_off()

    def _show_cut_off(self) -> None:
        """The answer followed ended with no word from its job: it stays as far as it got, interrupted."""
        shown = self.conversation_id == self._streaming_conversation and self._answer_id
        self._streaming = False
        self._streaming_conversation = ""
        if self.status in BUSY:
            self.status = "interrupted"
        if shown:
            self._seq += 1
            self.feed = {"seq": self._seq, "ops": [["u", self._answer_id, {"status": "interrupted"}]]}

    async def _history_if_reordered(self, conversation_id: str) -> list[dict[str, str]] | None:
        """The sidebar is sent again only when a turn changes its order: a new or an older conversation."""
        async with self:
            on_top = bool(self.history) and self.history[0]["id"] == conversation_id
        if on_top:
            return None
        page, _ = await self._history_page()
        return presenters.history_view(page, db.utcnow())

    def _show_live(self, metrics: Metrics) -> None:
        self.live = presenters.live_view(metrics)
        # The first few tokens make a noisy rate: the chart starts once there is something to measure.
        enough = (metrics.estimated_completion_tokens or 0) >= MIN_TOKENS_TO_CHART
        if enough and metrics.tokens_per_s is not None and metrics.duration_ms is not None:
            points = [
                *self.speed_points,
                {"s": round(metrics.duration_ms / 1000, 1), "tps": round(metrics.tokens_per_s, 1)},
            ]
            # Keep the chart small on the wire: past the limit, every other point goes.
            self.speed_points = points if len(points) <= MAX_SPEED_POINTS else points[::2]

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
                    self._new_chat_options = {}
            elif isinstance(update, AnswerStarted):
                self._start_answer(update, ops)
            elif isinstance(update, AnswerDelta):
                self._answer_text += update.text
                if ops and ops[-1][0] == "+":
                    ops[-1][1] += update.text
                else:
                    ops.append(["+", update.text])
            elif isinstance(update, LiveMetrics):
                self._show_live(update.metrics)
            elif isinstance(update, ToolStepUpdate):
                step = presenters.step_view(update.step)
                self._answer_steps = [s for s in self._answer_steps if s["id"] != step["id"]] + [step]
                ops.append(["t", step])
            elif isinstance(update, StatusEvent):  # the seed's `backend_status`
                self._answer_events = [*self._answer_events, presenters.event_view(update, with_message=True)]
                self.status = STATUS_BY_EVENT.get(update.kind, self.status)
                event = presenters.event_view(update)
                ops.append(["e", event["kind"], event["time"], event["detail"]])
            elif isinstance(update, AnswerDone):
                self._apply_done(update, ops)
            elif isinstance(update, ConversationLabelled):
                self._show_label(update)
        if self.conversation_id != turn_conversation:  # the user opened another conversation meanwhile
            ops = [op for op in ops if op[0] == "e"]
        if ops:
            self._seq += 1
            self.feed = {"seq": self._seq, "ops": ops}

    def _start_answer(self, started: AnswerStarted, ops: list[Any]) -> None:
        self._answer_id = started.assistant.id
        self._answer_text = ""
        self._answer_steps = []
        self._answer_events = []
        if self.speed_points:
            self.speed_points = []
        if self.answer_heading != "This answer":
            self.answer_heading = "This answer"
        label = presenters.model_label(started.assistant.metrics)
        if label != self.model_label:
            self.model_label = label
        ops += [
            ["m", presenters.message_view(started.user)],
            ["m", presenters.message_view(started.assistant)],
        ]

    def _apply_done(self, done: AnswerDone, ops: list[Any]) -> None:
        self._streaming = False
        self._streaming_conversation = ""
        message = done.message
        if message is None:
            if done.error:
                self.notice = done.error
            self.status = "error" if done.error else "idle"
            return
        view = presenters.message_view(message)
        # The text is already in the browser; only what changed goes with the end of the answer.
        changed = {k: v for k, v in view.items() if k not in ("id", "role", "content", "steps")}
        ops.append(["u", message.id, changed])
        self.answer = presenters.metrics_view(message.metrics)
        record = AnswerRecord.of(message)
        self._session_records = [*self._session_records, record]
        if message.conversation_id == self.conversation_id:
            self._conversation_records = [*self._conversation_records, record]
        self._refresh_statistics()
        if message.status == "error":
            self.notice = message.error

    def _show_label(self, labelled: ConversationLabelled) -> None:
        """A new conversation was named: its sidebar row, and the header if it is open."""
        conversation = labelled.conversation
        if labelled.category and all(c["id"] != conversation.category_id for c in self.categories):
            added = [*self.categories, {"id": conversation.category_id, "name": labelled.category}]
            self.categories = sorted(added, key=lambda c: c["name"].lower())
        if conversation.id == self.conversation_id:
            self.title = conversation.title
            self._category_id = conversation.category_id
            self._name_category()
        self.history = [
            {**row, "title": conversation.title} if row["id"] == conversation.id else row
            for row in self.history
        ]

    @rx.event
    async def stop(self):
        if self._turn_id:
            await registry().stop(self._turn_id, self.owner_key)

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
