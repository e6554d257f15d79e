"""Plain values shared by every layer: conversations, messages, provider events, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Role = Literal["system", "user", "assistant"]

# An assistant message is saved as "streaming" from its first token and then ends in one of the others.
MessageStatus = Literal["complete", "streaming", "stopped", "interrupted", "error"]
FINAL_STATUSES: frozenset[str] = frozenset({"complete", "stopped", "interrupted", "error"})

# Where a token count came from: the provider's usage report, or our own tiktoken estimate.
CountSource = Literal["reported", "estimated"]


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int = 0


@dataclass(frozen=True)
class Metrics:
    """What one assistant answer cost and how fast it came."""

    model: str = ""
    provider: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    token_source: CountSource = "estimated"
    cost_usd: float | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    tokens_per_s: float | None = None


@dataclass(frozen=True)
class Message:
    id: str
    conversation_id: str
    role: Role
    content: str
    status: MessageStatus
    created_at: datetime
    updated_at: datetime
    metrics: Metrics = field(default_factory=Metrics)
    error: str = ""


@dataclass(frozen=True)
class PromptMessage:
    """One message as sent to a provider."""

    role: Role
    content: str


# What a provider yields while it answers.
@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int


ProviderEvent = TextDelta | UsageReport


ProviderErrorKind = Literal["auth", "rate_limit", "server", "unreachable", "bad_request", "interrupted"]


class ProviderError(Exception):
    """A failure the user must be told about in plain words; `kind` says which one."""

    def __init__(self, kind: ProviderErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class InputError(ValueError):
    """The user's input can't be accepted as it is (empty, too long, unknown conversation)."""


# The seed's `backend_status`: what the backend is doing, as typed events for the monitor panel.
StatusKind = Literal[
    "request_sent", "first_token", "usage", "finished", "stopped", "interrupted", "error", "refused"
]


@dataclass(frozen=True)
class StatusEvent:
    kind: StatusKind
    at: datetime
    message_id: str
    detail: str = ""


def date_group(moment: datetime, now: datetime) -> str:
    """The sidebar heading for a conversation: Today, Yesterday, Previous 7/30 days, then its month."""
    days = (now.date() - moment.date()).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days <= 7:
        return "Previous 7 days"
    if days <= 30:
        return "Previous 30 days"
    return moment.strftime("%B %Y")
