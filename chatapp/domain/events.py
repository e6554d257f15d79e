"""What moves while an answer is written: a provider's pieces, and the backend's status events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .values import ToolCall


# What a provider yields while it answers.
@dataclass(frozen=True)
class TextDelta:
    text: str
    # How many of the model's own tokens the piece is, where the provider knows (the local model streams
    # one token a piece); None: the app counts them itself.
    tokens: int | None = None


@dataclass(frozen=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int


ProviderEvent = TextDelta | ToolCall | UsageReport


# The wire's `backend_status`: what the backend is doing, as typed events for the monitor panel.
StatusKind = Literal[
    "request_sent",
    "first_token",
    "tool_started",
    "tool_waiting",  # a tool call waits for the user's approval
    "tool_finished",
    "retry",
    "usage",
    "finished",
    "stopped",
    "interrupted",
    "error",
    "labelled",  # a new conversation got its suggested title and category
]


@dataclass(frozen=True)
class StatusEvent:
    kind: StatusKind
    at: datetime
    message_id: str
    detail: str = ""
