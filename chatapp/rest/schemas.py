"""The one shape of a conversation and its messages outside the app: REST answers with it, an export is it,
and an import is read back through it.

Each model is built from domain values (`of`) and read back into them (`draft`). The limits declared here
bound what comes in (an import); what the app stored is sent as it is, unchecked (`model_construct`), so a
row from before a limit existed never turns a read into an error. The app writes within the same limits,
so an export of what it stored imports again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
)

from ..domain import (
    MAX_SERVERS_OFF,
    ChatOptions,
    Conversation,
    Message,
    MessageDraft,
    StatusEvent,
    ToolStep,
)
from ..domain.limits import (
    MAX_TOOL_CALLS,
)
from .fields import (
    CategoryName,
    Content,
    Count,
    ErrorText,
    Id,
    ModelName,
    Number,
    ProviderName,
    ServerName,
    Shape,
    SystemPrompt,
    Timestamp,
    Title,
    ToolName,
    ToolText,
)
from .numbers import Context, Cost, Timings, Usage, metrics_of, numbers_of


class Totals(Shape):
    tokens: Count
    cost_usd: Number | None = Field(description="null when some answer's model has no known price")
    cost_usd_known: Number = Field(description="the sum of the answers whose price is known")


class ChatSettings(Shape):
    """null: the app's default applies (CHATAPP_MODEL, CHATAPP_SYSTEM_PROMPT, the model server's own)."""

    model: ModelName = None
    system_prompt: SystemPrompt = None
    temperature: Number | None = None
    max_tokens: Count | None = None
    # The tools allowed to run without asking are this installation's permission, not part of the
    # conversation: never sent, so a file someone hands over can't allow anything.
    servers_off: list[ServerName] = Field(
        [], max_length=MAX_SERVERS_OFF, description="MCP servers switched off here"
    )

    @classmethod
    def of(cls, options: ChatOptions) -> ChatSettings:
        return cls.model_construct(
            model=options.model or None,
            system_prompt=options.system_prompt or None,
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            servers_off=list(options.servers_off),
        )


class ChatSummary(Shape):
    id: Id
    title: Title
    group: str = Field("", description="the sidebar's heading (Today, Yesterday, ...); absent in an export")
    created_at: Timestamp
    updated_at: Timestamp
    pinned: StrictBool = False
    category_id: Id | None = None
    category: CategoryName = Field(None, description="the category's name")
    message_count: Count = 0
    totals: Totals = Totals(tokens=0, cost_usd=0.0, cost_usd_known=0.0)
    # A search result's: the matching words in context, and the message they are in.
    snippet: str | None = Field(None, description="search results only")
    message_id: str | None = Field(None, description="search results only")

    @classmethod
    def of(cls, conversation: Conversation, categories: dict[str, str], group: str, **more: Any) -> Self:
        """`more`: the fields of a subclass (a chat's messages, say)."""
        known = round(conversation.total_cost_usd, 8)
        return cls.model_construct(  # type: ignore[return-value]  # the plugin types it as the base class
            id=conversation.id,
            title=conversation.title,
            group=group,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
            pinned=conversation.pinned,
            category_id=conversation.category_id or None,
            category=categories.get(conversation.category_id),
            message_count=conversation.message_count,
            totals=Totals.model_construct(
                tokens=conversation.total_tokens,
                cost_usd=None if conversation.cost_unknown else known,
                cost_usd_known=known,
            ),
            **more,
        )


class ToolCallOut(Shape):
    id: Id
    call_id: ToolName
    name: ToolName
    arguments: ToolText
    result: ToolText
    status: Literal["running", "waiting", "ok", "error", "denied"]
    duration_ms: Number | None = None
    server: ServerName | None = Field(None, description="the MCP server that ran it; null: a built-in tool")

    @classmethod
    def of(cls, step: ToolStep) -> ToolCallOut:
        return cls.model_construct(
            id=step.id,
            call_id=step.call_id,
            name=step.name,
            arguments=step.arguments,
            result=step.result,
            status=step.status,
            duration_ms=step.duration_ms,
            server=step.server or None,
        )

    def step(self) -> ToolStep:
        # A call still running, or waiting for approval, when exported never finished.
        status = "error" if self.status in ("running", "waiting") else self.status
        return ToolStep(
            self.id,
            "",
            self.call_id,
            self.name,
            self.arguments,
            status,
            self.result,
            self.duration_ms,
            self.server or "",
        )


Status = Literal["complete", "streaming", "stopped", "interrupted", "error"]


class _MessageOut(Shape):
    id: Id
    content: Content
    status: Status
    error: ErrorText = None
    created_at: Timestamp
    updated_at: Timestamp


class UserMessageOut(_MessageOut):
    role: Literal["user"]

    def draft(self) -> MessageDraft:
        return MessageDraft(
            role="user",
            content=self.content,
            status=_settled(self.status),
            error=self.error or "",
            id=self.id,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class AssistantMessageOut(_MessageOut):
    role: Literal["assistant"]
    model: ModelName = None
    provider: ProviderName = None
    usage: Usage = Usage()
    cost: Cost = Cost()
    cost_usd: Number | None = Field(None, description="the same as cost.usd")
    timings: Timings = Timings()
    context: Context = Context()
    tool_calls: list[ToolCallOut] = Field([], max_length=MAX_TOOL_CALLS)

    @classmethod
    def of_metrics(cls, base: dict[str, Any], message: Message) -> AssistantMessageOut:
        return cls.model_construct(
            **base,
            **numbers_of(message.metrics),
            tool_calls=[ToolCallOut.of(step) for step in message.steps],
        )

    def draft(self) -> MessageDraft:
        metrics = metrics_of(self.model, self.provider, self.usage, self.cost, self.timings, self.context)
        return MessageDraft(
            role="assistant",
            content=self.content,
            status=_settled(self.status),
            error=self.error or "",
            metrics=metrics,
            steps=tuple(call.step() for call in self.tool_calls),
            id=self.id,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


def _settled(status: Status) -> Literal["complete", "stopped", "interrupted", "error"]:
    # An answer exported while it streamed is, once imported, one that never finished.
    return "interrupted" if status == "streaming" else status


MessageOut = Annotated[UserMessageOut | AssistantMessageOut, Field(discriminator="role")]


def message_out(message: Message) -> UserMessageOut | AssistantMessageOut:
    base: dict[str, Any] = {
        "id": message.id,
        "content": message.content,
        "status": message.status,
        "error": message.error or None,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }
    if message.role == "assistant":
        return AssistantMessageOut.of_metrics(base | {"role": "assistant"}, message)
    return UserMessageOut.model_construct(**base, role="user")


class Chat(ChatSummary):
    settings: ChatSettings = ChatSettings()
    messages: list[MessageOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next messages; null: no more")


class ChatPage(Shape):
    chats: list[ChatSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: no more")


class EventOut(Shape):
    kind: str
    at: Timestamp
    message_id: str
    detail: str

    @classmethod
    def of(cls, event: StatusEvent) -> EventOut:
        return cls.model_construct(
            kind=event.kind, at=event.at, message_id=event.message_id, detail=event.detail
        )


class EventPage(Shape):
    events: list[EventOut]


class ErrorBody(Shape):
    error: str = Field(description="what went wrong, in words a person can act on")


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as JSON values, without the fields it leaves out (a listing's snippet, say)."""
    return model.model_dump(mode="json", exclude_unset=True)
