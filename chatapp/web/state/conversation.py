"""The middle panel: the open conversation, its feed, and the answers its tab asks for or follows.

The conversation reaches the browser through the append-only feed (`feed`, `snapshot`), never as a list var:
see assets/live_feed.jsx. The database is the record; this state is a cache of one tab's view. An answer is a
job of the registry, apart from any tab: this tab only starts one (`user_message`) and follows it
(`follow_turn`), copying each flush into the feed and, where it must, into the monitor and the sidebar.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

import reflex as rx

from .. import db, presenters, service
from ..config import get_settings
from ..domain import Conversation, InputError, plain_text, tool_decision
from ..jobs import Refused, registry
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
from .monitor import MonitorState
from .pace import pace
from .session import SessionState
from .settings import SettingsState
from .sidebar import SidebarState

log = logging.getLogger(__name__)

# While the status is one of these, the tab shows Stop instead of Send.
BUSY = ("thinking", "streaming", "running a tool", "waiting for approval")
STATUS_BY_EVENT = {
    "request_sent": "thinking",
    "first_token": "streaming",
    "tool_started": "running a tool",
    "tool_waiting": "waiting for approval",
    "finished": "done",
    "stopped": "stopped",
    "interrupted": "interrupted",
    "error": "error",
}
STILL_STREAMING = "An answer is still streaming. Wait for it, or press Stop."
# The marks of the follow_turn tasks alive in this process: a tab whose mark is here is followed already.
_LIVE_FOLLOWERS: set[str] = set()


def _is_urgent(update: TurnUpdate) -> bool:
    """What the user waits for goes out at once: the messages, the first token, tool steps, the end."""
    if isinstance(update, StatusEvent):
        return update.kind == "first_token"
    return isinstance(update, AnswerStarted | ToolStepUpdate | AnswerDone)


def _version(moment: datetime) -> float:
    """A timestamp to compare, whether the database gave it back with its zone or without (SQLite)."""
    return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()


# A tab is sent the latest messages of a conversation, up to both limits, and more on request: a
# conversation of thousands of answers would otherwise arrive whole (32 MB seen) on every open.
SNAPSHOT_MESSAGES = 200
SNAPSHOT_CHARS = 1_000_000


# How much further back than its pages a search result may widen what a tab is sent: a hit near the start of
# a very long conversation opens it at its end instead of sending all of it.
RESULT_PAGES = 4
TOO_FAR_BACK = (
    "That message is further back than a conversation shows at once: “Show earlier messages” at the top "
    "brings it."
)


def _latest(views: list[dict[str, Any]], pages: int, keep_id: str = "") -> int:
    """Where the shown part of a conversation starts: the last `pages` pages of messages, and from `keep_id`
    on if that message is older (a search result being opened) but within RESULT_PAGES more."""
    start = _pages_back(views, pages)
    if keep_id:
        at = next((i for i, view in enumerate(views) if view["id"] == keep_id), start)
        if at < start and at >= _pages_back(views, pages + RESULT_PAGES):
            start = at
    return start


def _pages_back(views: list[dict[str, Any]], pages: int) -> int:
    """The start of the last `pages` pages, each page up to both limits."""
    start, chars = len(views), 0
    while start > 0 and len(views) - start < pages * SNAPSHOT_MESSAGES:
        chars += len(views[start - 1]["content"])
        if chars > pages * SNAPSHOT_CHARS and start < len(views):
            break
        start -= 1
    return start


def _give_back(text: str) -> Any:
    """The browser empties the box as it sends; a message that wasn't accepted goes back into it."""
    return rx.set_value("chat-input", text) if text.strip() else None


class ConversationState(SessionState):
    title: str = ""
    category_id: str = ""
    # The append-only feed: {"seq", "ops"}, the operations of one flush, numbered; and {"seq", "messages",
    # "events"}, everything up to its number, for a tab that missed a flush.
    feed: dict[str, Any] = {"seq": 0, "ops": []}
    snapshot: dict[str, Any] = {"seq": 0, "messages": [], "events": []}
    status: str = "idle"  # of the answer this tab shows: idle, thinking, streaming, done, stopped, ...
    # A message to bring into view once the conversation shows it (a search result's).
    focus_message: str = ""

    # Backend only: never sent to the browser.
    _seq: int = 0
    _streaming: bool = False
    _streaming_conversation: str = ""
    _turn_id: str = ""  # the job this tab shows (its own answer, or another tab's in the same conversation)
    _following: str = ""  # the job whose updates this tab's background task is applying now
    _follower: str = ""  # that task's own mark: a task that no longer holds it stops at its next update
    _taking_over: bool = False  # on a reload mid-answer: follow the answer again, with a new task
    _shown_version: float = 0.0  # when a message was last added to the conversation shown, as it was shown
    _shown_pages: int = 1  # how much of its history the tab asked to see (SNAPSHOT_MESSAGES a page)
    # What the browser was sent of the answer in flight, so a snapshot matches the feed exactly.
    _answer_id: str = ""
    _answer_text: str = ""
    _answer_steps: list[dict[str, str]] = []
    _answer_events: list[dict[str, str]] = []

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
        if found is None or _version(found.updated_at) != self._shown_version:
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
        self._shown_version = _version(found.updated_at) if found else 0.0
        self._show_header(found)
        job = await registry().answering_in(conversation_id, self.owner)
        if job is None and any(m.status == "streaming" for m in saved):
            # No live job writes it: its worker died. The sweep would mark it soon; this tab shows it now.
            await db.run(url, db.mark_unfinished_as_interrupted, conversation_id=conversation_id)
            saved = [
                dataclasses.replace(m, status="interrupted") if m.status == "streaming" else m for m in saved
            ]
        messages = [presenters.message_view(m) for m in saved]
        event_views = [presenters.event_view(e, with_message=True) for e in events]
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
        start = _latest(messages, self._shown_pages, self.focus_message)
        self._seq += 1
        self.snapshot = {
            "seq": self._seq,
            "messages": messages[start:],
            "events": event_views,
            "earlier": start,
        }
        (await self.get_state(MonitorState)).show_conversation(saved, streaming=self._streaming)
        return follow

    def _follow_afresh(self, job_id: str) -> Any:
        """The event that follows the job with a new task, from its first update. The task that followed it
        so far stops now, not once the new one starts: a flush of it in between would show events that the
        new one shows again."""
        self._follower = ""
        return ConversationState.follow_turn(job_id)  # type: ignore[misc]  # see _start_turn

    def _show_header(self, conversation: Conversation | None) -> None:
        self.title = conversation.title if conversation else ""
        self.category_id = conversation.category_id if conversation else ""

    # --- asking: the seed's `user_message` ---------------------------------------------------------

    @rx.event
    async def user_message(self, form: dict[str, Any]) -> Any:
        """Fast: check the message, have the job registry start the turn, then follow it."""
        self.ensure_owner()
        text = str(form.get("message", ""))
        try:
            text = service.validate_message(text, get_settings().max_message_chars)
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
            text = service.validate_message(text, get_settings().max_message_chars)
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

    # --- following an answer -----------------------------------------------------------------------

    @rx.event(background=True)
    async def follow_turn(self, turn_id: str) -> None:
        """Shows a job's updates in this tab as they come, from its first (any tab of its owner may)."""
        settings = get_settings()
        async with self:
            owner = self.owner
        job = await registry().get(turn_id, owner)
        mine = secrets.token_hex(8)
        async with self:
            if job is None or (self._following == turn_id and not self._taking_over):
                return  # not this owner's, or followed already
            # A tab follows one job, with one task: any task still at it stops at its next update.
            self._turn_id = self._following = turn_id
            self._follower, self._taking_over = mine, False
            self._streaming = job.answering
            self._streaming_conversation = job.conversation_id
            _LIVE_FOLLOWERS.add(mine)
        updates = registry().follow(turn_id, owner)
        unsent: list[TurnUpdate] = []  # a flush that failed: its updates go with the next one
        try:
            paced = functools.partial(pace().interval, settings.flush_hz)
            async for batch in in_batches(updates, paced, _is_urgent):
                batch = unsent + batch
                try:
                    async with self:
                        if self._follower != mine:
                            break  # the tab follows another answer now, or this one with another task
                        # After a failed flush the feed skips a number: the browser sees the gap and asks
                        # for one snapshot, in case the failed one reached it and this state didn't keep it.
                        self._seq += 1 if unsent else 0
                        await self._apply(batch)
                    unsent = []
                except Exception:  # a lock timeout, a state store hiccup: the answer goes on regardless
                    log.exception("a flush to a tab failed; its updates go with the next one")
                    unsent = batch
        finally:
            _LIVE_FOLLOWERS.discard(mine)
            async with self:
                if self._follower == mine:
                    if unsent:  # the last flush failed: one more try
                        self._seq += 1
                        await self._apply(unsent)
                    self._following = self._follower = ""
                    # Normally done by the answer's last flush; else its job ended without one (its worker
                    # died).
                    if self._streaming:
                        self._show_cut_off()

    async def _apply(self, batch: list[TurnUpdate]) -> None:
        """Copies one flush of the turn into the tab: feed operations, status, and what the monitor and the
        sidebar show of it (their states are loaded only for the updates that change them)."""
        ops: list[Any] = []
        turn_conversation = self._streaming_conversation
        for update in batch:
            if isinstance(update, ConversationReady):
                turn_conversation = self._streaming_conversation = update.conversation.id
                (await self.get_state(SidebarState)).show_on_top(update.conversation)
                if update.created and not self.conversation_id:
                    self.conversation_id = update.conversation.id
                    self.title = update.conversation.title
                    (await self.get_state(SettingsState)).forget_new_chat_options()
            elif isinstance(update, AnswerStarted):
                self._start_answer(update, ops)
                (await self.get_state(MonitorState)).show_start(update.assistant)
            elif isinstance(update, AnswerDelta):
                self._answer_text += update.text
                if ops and ops[-1][0] == "+":
                    ops[-1][1] += update.text
                else:
                    ops.append(["+", update.text])
            elif isinstance(update, LiveMetrics):
                rate = pace().rate(get_settings().flush_hz)
                (await self.get_state(MonitorState)).show_live(update.metrics, updates_per_s=rate)
            elif isinstance(update, ToolStepUpdate):
                step = presenters.step_view(update.step)
                self._answer_steps = [s for s in self._answer_steps if s["id"] != step["id"]] + [step]
                ops.append(["t", step])
            elif isinstance(update, StatusEvent):  # the seed's `backend_status`
                self._answer_events = [*self._answer_events, presenters.event_view(update, with_message=True)]
                status = STATUS_BY_EVENT.get(update.kind, self.status)
                if status != self.status:  # usage, tool and label events leave it as it is
                    self.status = status
                event = presenters.event_view(update)
                ops.append(["e", event["kind"], event["time"], event["detail"]])
            elif isinstance(update, AnswerDone):
                await self._apply_done(update, ops)
            elif isinstance(update, ConversationLabelled):
                await self._show_label(update)
        if self.conversation_id != turn_conversation:  # the user opened another conversation meanwhile
            ops = [op for op in ops if op[0] == "e"]
        if ops:
            self._seq += 1
            self.feed = {"seq": self._seq, "ops": ops}

    def _start_answer(self, started: AnswerStarted, ops: list[Any]) -> None:
        if started.assistant.conversation_id == self.conversation_id:
            self._shown_version = _version(started.assistant.created_at)  # the conversation's updated_at now
        self._answer_id = started.assistant.id
        self._answer_text = ""
        self._answer_steps = []
        self._answer_events = []
        ops += [
            ["m", presenters.message_view(started.user)],
            ["m", presenters.message_view(started.assistant)],
        ]

    async def _apply_done(self, done: AnswerDone, ops: list[Any]) -> None:
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
        monitor = await self.get_state(MonitorState)
        monitor.show_done(message, in_open_conversation=message.conversation_id == self.conversation_id)
        if message.status == "error":
            self.notice = message.error

    async def _show_label(self, labelled: ConversationLabelled) -> None:
        """A new conversation was named: its sidebar row, and the header if it is open."""
        (await self.get_state(SidebarState)).show_label(labelled.conversation, labelled.category)
        if labelled.conversation.id == self.conversation_id:
            self._show_header(labelled.conversation)

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
