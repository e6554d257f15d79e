"""Plain values shared by every layer: conversations, messages, provider events, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# What a title and a category name may hold, wherever they are written from.
MAX_TITLE_CHARS = 200
MAX_CATEGORY_CHARS = 60
# The longest answer kept (about 100,000 tokens, the most an answer may ask for), and the longest tool
# arguments or result: a model server that never stops can't fill the memory or the database.
MAX_ANSWER_CHARS = 400_000
MAX_TOOL_TEXT_CHARS = 100_000
MAX_ERROR_CHARS = 2_000
# How many MCP servers a conversation may switch off, and tools it may run without asking.
MAX_SERVERS_OFF = 64
MAX_TOOLS_ALLOWED = 256

Role = Literal["system", "user", "assistant", "tool"]

# An assistant message is saved as "streaming" from its first token and then ends in one of the others.
MessageStatus = Literal["complete", "streaming", "stopped", "interrupted", "error"]

# Where a token count came from: the provider's usage report, or our own tiktoken estimate.
CountSource = Literal["reported", "estimated"]


@dataclass(frozen=True)
class ChatOptions:
    """How a conversation is answered; an empty field keeps the app's default (or the model server's)."""

    model: str = ""
    system_prompt: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    # MCP servers whose tools this conversation isn't offered, and tools the user allowed to run here
    # without asking again ("always for this conversation"), by the name the model sees.
    servers_off: tuple[str, ...] = ()
    tools_allowed: tuple[str, ...] = ()


DEFAULT_OPTIONS = ChatOptions()


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    pinned: bool = False
    category_id: str = ""
    message_count: int = 0
    total_tokens: int = 0
    total_cost_usd: float = 0.0
    cost_unknown: bool = False  # some answer's model has no known price: the total is a lower bound
    options: ChatOptions = field(default_factory=ChatOptions)


@dataclass(frozen=True)
class Metrics:
    """What one assistant answer cost and how fast it came, each number with where it came from."""

    model: str = ""
    provider: str = ""
    # The counts in force: the provider's report when it sent one (token_source "reported"), else ours.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    token_source: CountSource = "estimated"
    # Our own tiktoken counts, kept beside the report so the two can be compared.
    estimated_prompt_tokens: int | None = None
    estimated_completion_tokens: int | None = None
    encoding: str = ""
    cost_usd: float | None = None  # None: the model's price is unknown (never shown as $0)
    price: str = ""  # the price the cost was computed with, as genai-prices states it
    ttft_ms: float | None = None
    duration_ms: float | None = None
    tokens_per_s: float | None = None
    itl_p50_ms: float | None = None  # inter-token latency
    itl_p95_ms: float | None = None
    # The first request's prompt (system, history, tool definitions) against the model's context window.
    context_tokens: int | None = None
    context_window: int | None = None


# "waiting": for the user's approval, before it runs; "denied": the user declined, and it never ran.
ToolStatus = Literal["running", "waiting", "ok", "error", "denied"]
# The answer to a call that waits: run it; run it and, in this conversation, every call of the tool; or not.
ToolDecision = Literal["allow", "always", "deny"]
TOOL_DECISIONS: tuple[ToolDecision, ...] = ("allow", "always", "deny")


def tool_decision(value: object) -> ToolDecision | None:
    """A decision as a client or another worker sent it, if it is one."""
    return next((decision for decision in TOOL_DECISIONS if decision == value), None)


@dataclass(frozen=True)
class ToolCall:
    """A model's request to run a tool, its arguments reassembled into one JSON string."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolStep:
    """One tool call as it ran within an answer: what was asked, what came back, how long it took."""

    id: str
    message_id: str
    call_id: str
    name: str
    arguments: str
    status: ToolStatus
    result: str = ""
    duration_ms: float | None = None
    server: str = ""  # the MCP server that runs it; "" for a built-in tool


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
    steps: tuple[ToolStep, ...] = ()


@dataclass(frozen=True)
class PromptMessage:
    """One message as sent to a provider; tool rounds add assistant tool calls and tool results."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""


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


ProviderErrorKind = Literal["auth", "rate_limit", "server", "unreachable", "bad_request", "interrupted"]


class ProviderError(Exception):
    """A failure the user must be told about in plain words; `kind` says which one."""

    def __init__(self, kind: ProviderErrorKind, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after_s = retry_after_s  # a rate limit's advised wait, when the server gave one


class InputError(ValueError):
    """The user's input can't be accepted as it is (empty, too long, unknown conversation)."""


def plain_text(value: object) -> str:
    """Text a client sent, as every store and encoder takes it. Anything but a string is no text; NUL goes
    (PostgreSQL refuses it in text); a lone surrogate, which no encoding takes, becomes U+FFFD."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


# The seed's `backend_status`: what the backend is doing, as typed events for the monitor panel.
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


@dataclass(frozen=True)
class Category:
    id: str
    name: str


@dataclass(frozen=True)
class SearchHit:
    conversation_id: str
    title: str
    snippet: str
    message_id: str = ""  # the matching message, to jump to


@dataclass(frozen=True)
class MessageDraft:
    """A message to store as it is, without an id or times yet (an imported one)."""

    role: Role
    content: str
    status: MessageStatus = "complete"
    error: str = ""
    metrics: Metrics = field(default_factory=Metrics)
    steps: tuple[ToolStep, ...] = ()
    # An imported message keeps the id and times it was exported with, where they are free.
    id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ConversationDraft:
    """A whole conversation to store as it is: an import of an export."""

    title: str
    messages: tuple[MessageDraft, ...]
    options: ChatOptions = field(default_factory=ChatOptions)
    id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    pinned: bool = False
    category: str = ""
    category_id: str = ""  # kept when that category is new here
