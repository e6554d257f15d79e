"""What a turn reports to the tabs that follow it, in order (the wire's `ai_response` and `backend_status`).

ConversationReady, AnswerStarted, then AnswerDelta, ToolStepUpdate and StatusEvent as they happen (and
LiveMetrics now and then), then AnswerDone (also after a failure or Stop); a new conversation's first complete
answer is followed by ConversationLabelled. Every layer that carries them (the registry's back ends, the tab's
state) imports them from here, not from the turn that makes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import StatusEvent
from .values import Conversation, Message, Metrics, ToolStep


@dataclass(frozen=True)
class ConversationReady:
    conversation: Conversation
    created: bool


@dataclass(frozen=True)
class AnswerStarted:
    user: Message
    assistant: Message


@dataclass(frozen=True)
class AnswerDelta:
    """The wire's `ai_response`, one piece of the answer's text at a time."""

    text: str


@dataclass(frozen=True)
class ToolStepUpdate:
    step: ToolStep


@dataclass(frozen=True)
class LiveMetrics:
    """The answer's numbers so far, now and then while text streams."""

    metrics: Metrics


@dataclass(frozen=True)
class ConversationLabelled:
    """A new conversation got its suggested title (and category, named here; "" if none was applied)."""

    conversation: Conversation
    category: str


@dataclass(frozen=True)
class AnswerDone:
    message: Message | None  # None only when the turn ended before anything was saved
    error: str = ""


TurnUpdate = (
    ConversationReady
    | AnswerStarted
    | AnswerDelta
    | LiveMetrics
    | ToolStepUpdate
    | StatusEvent
    | AnswerDone
    | ConversationLabelled
)
