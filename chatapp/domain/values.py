"""Plain values shared by every layer: conversations, their messages and settings, tool calls, drafts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

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

    @property
    def tool_name(self) -> str:
        """The tool's own name: an MCP tool is called `server__tool` by the model, and shown with its
        server."""
        return self.name.removeprefix(f"{self.server}__") if self.server else self.name


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
