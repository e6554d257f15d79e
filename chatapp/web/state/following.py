"""The part of the conversation state that follows an answer: each flush of its job into the feed.

A tab follows one job at a time, with one background task (`follow_turn`), from the job's first update; the
feed carries only what changed (see assets/live_feed.jsx), and the monitor and the sidebar are told what
concerns them. ConversationState takes this in as a Reflex state mixin: the two halves share one state.
"""

from __future__ import annotations

import functools
import logging
import secrets
from typing import Any

import reflex as rx

from ...config import get_settings
from ...domain import (
    AnswerDelta,
    AnswerDone,
    AnswerStarted,
    Conversation,
    ConversationLabelled,
    ConversationReady,
    LiveMetrics,
    StatusEvent,
    ToolStepUpdate,
    TurnUpdate,
)
from ...turns.jobs import registry
from .. import views
from .batching import in_batches
from .monitor import MonitorState
from .pace import pace
from .paging import version
from .session import SessionState
from .settings import SettingsState
from .sidebar import SidebarState

log = logging.getLogger(__name__)

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
# The marks of the follow_turn tasks alive in this process: a tab whose mark is here is followed already.
_LIVE_FOLLOWERS: set[str] = set()


def _is_urgent(update: TurnUpdate) -> bool:
    """What the user waits for goes out at once: the messages, the first token, tool steps, the end."""
    if isinstance(update, StatusEvent):
        return update.kind == "first_token"
    return isinstance(update, AnswerStarted | ToolStepUpdate | AnswerDone)


class AnswerFollower(SessionState, mixin=True):
    title: str = ""
    category_id: str = ""
    # The append-only feed: {"seq", "ops"}, the operations of one flush, numbered. (A snapshot of everything
    # up to a number goes to a tab that missed a flush: ConversationState.snapshot.)
    feed: dict[str, Any] = {"seq": 0, "ops": []}
    status: str = "idle"  # of the answer this tab shows: idle, thinking, streaming, done, stopped, ...

    # Backend only: never sent to the browser.
    _seq: int = 0
    _streaming: bool = False
    _streaming_conversation: str = ""
    _turn_id: str = ""  # the job this tab shows (its own answer, or another tab's in the same conversation)
    _following: str = ""  # the job whose updates this tab's background task is applying now
    _follower: str = ""  # that task's own mark: a task that no longer holds it stops at its next update
    _taking_over: bool = False  # on a reload mid-answer: follow the answer again, with a new task
    _shown_version: float = 0.0  # when a message was last added to the conversation shown, as it was shown
    # What the browser was sent of the answer in flight, so a snapshot matches the feed exactly.
    _answer_id: str = ""
    _answer_text: str = ""
    _answer_steps: list[dict[str, str]] = []
    _answer_events: list[dict[str, str]] = []

    def _follow_afresh(self, job_id: str) -> Any:
        """The event that follows the job with a new task, from its first update. The task that followed it
        so far stops now, not once the new one starts: a flush of it in between would show events that the
        new one shows again."""
        self._follower = ""
        return type(self).follow_turn(job_id)  # type: ignore[misc]  # calling a handler makes its event

    def _show_header(self, conversation: Conversation | None) -> None:
        self.title = conversation.title if conversation else ""
        self.category_id = conversation.category_id if conversation else ""

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
                step = views.step_view(update.step)
                self._answer_steps = [s for s in self._answer_steps if s["id"] != step["id"]] + [step]
                ops.append(["t", step])
            elif isinstance(update, StatusEvent):  # the wire's `backend_status`
                self._answer_events = [*self._answer_events, views.event_view(update, with_message=True)]
                status = STATUS_BY_EVENT.get(update.kind, self.status)
                if status != self.status:  # usage, tool and label events leave it as it is
                    self.status = status
                event = views.event_view(update)
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
            self._shown_version = version(started.assistant.created_at)  # the conversation's updated_at now
        self._answer_id = started.assistant.id
        self._answer_text = ""
        self._answer_steps = []
        self._answer_events = []
        ops += [
            ["m", views.message_view(started.user)],
            ["m", views.message_view(started.assistant)],
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
        view = views.message_view(message)
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
