"""The one shape of a conversation and its messages outside the app: REST answers with it, an export is it,
and an import is read back through it.

Each model is built from domain values (`of`) and read back into them (`draft`). The limits declared here
bound what comes in (an import); what the app stored is sent as it is, unchecked (`model_construct`), so a
row from before a limit existed never turns a read into an error. The app writes within the same limits,
so an export of what it stored imports again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
)

from .domain import (
    MAX_ANSWER_CHARS,
    MAX_CATEGORY_CHARS,
    MAX_ERROR_CHARS,
    MAX_SERVERS_OFF,
    MAX_TITLE_CHARS,
    MAX_TOOL_TEXT_CHARS,
    ChatOptions,
    Conversation,
    Message,
    MessageDraft,
    Metrics,
    StatusEvent,
    ToolStep,
    plain_text,
)

MAX_COUNT = 100_000_000
MAX_TOOL_CALLS = 64


def _utc(moment: datetime) -> datetime:
    # The databases hand back naive datetimes; every time the app stores is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _plausible(moment: datetime) -> datetime:
    """A time read from a file: in UTC, and between 1970 and now (a conversation dated 2099 would stay at
    the top of the sidebar for good; year 1 or 9999 overflow on the way to UTC)."""
    try:
        moment = _utc(moment)
    except OverflowError:
        raise ValueError("out of range") from None
    if not EARLIEST <= moment <= datetime.now(UTC) + timedelta(days=1):
        raise ValueError("not a time between 1970 and now")
    return moment


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    AfterValidator(_plausible),
    PlainSerializer(iso, return_type=str),
    Field(description="UTC, to the millisecond: 2026-12-01T09:30:00.250Z"),
]
Id = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]


def _clean(value: Any) -> Any:
    # Before the type check: a lone surrogate is no valid string to pydantic, but it is text to replace.
    return plain_text(value) if isinstance(value, str) else value


def _at_most(limit: int) -> Any:
    return Field(max_length=limit, strict=True)


_CLEAN = BeforeValidator(_clean)
# Text as every store takes it (no NUL, no lone surrogate), each kind with its own length limit; the
# optional ones are null when not set, as REST says it.
Title = Annotated[str, _at_most(MAX_TITLE_CHARS), _CLEAN]
Content = Annotated[str, _at_most(MAX_ANSWER_CHARS), _CLEAN]
ToolName = Annotated[str, _at_most(128), _CLEAN]
ToolText = Annotated[str, _at_most(MAX_TOOL_TEXT_CHARS), _CLEAN]
CategoryName = Annotated[Annotated[str, _at_most(MAX_CATEGORY_CHARS)] | None, _CLEAN]
ModelName = Annotated[Annotated[str, _at_most(200)] | None, _CLEAN]
SystemPrompt = Annotated[Annotated[str, _at_most(100_000)] | None, _CLEAN]
ProviderName = Annotated[Annotated[str, _at_most(32)] | None, _CLEAN]
EncodingName = Annotated[Annotated[str, _at_most(64)] | None, _CLEAN]
PriceText = Annotated[Annotated[str, _at_most(1_000)] | None, _CLEAN]
ErrorText = Annotated[Annotated[str, _at_most(MAX_ERROR_CHARS)] | None, _CLEAN]
# An MCP server's name: the characters a model's function name may hold.
ServerName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
Number = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]


class Shape(BaseModel):
    # Unknown keys are ignored: a newer export still imports here.
    model_config = ConfigDict(extra="ignore")


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


class TokenPair(Shape):
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None


class Usage(Shape):
    prompt_tokens: Count | None = Field(None, description="the counts in force: reported, else estimated")
    completion_tokens: Count | None = None
    source: Literal["reported", "estimated"] = "estimated"
    estimated: TokenPair = TokenPair()
    reported: TokenPair | None = None
    encoding: EncodingName = None


class Cost(Shape):
    usd: Number | None = Field(None, description="null: the model's price is unknown")
    price: PriceText = Field(None, description="the price the cost was computed with")


class Timings(Shape):
    ttft_ms: Number | None = None
    duration_ms: Number | None = None
    tokens_per_s: Number | None = None
    inter_token_p50_ms: Number | None = None
    inter_token_p95_ms: Number | None = None


class Context(Shape):
    tokens: Count | None = Field(None, description="the first request's prompt: system, history, tools")
    window: Count | None = None


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
        m = message.metrics
        reported = m.token_source == "reported"
        return cls.model_construct(
            **base,
            model=m.model or None,
            provider=m.provider or None,
            usage=Usage.model_construct(
                prompt_tokens=m.prompt_tokens,
                completion_tokens=m.completion_tokens,
                source=m.token_source,
                estimated=TokenPair.model_construct(
                    prompt_tokens=m.estimated_prompt_tokens, completion_tokens=m.estimated_completion_tokens
                ),
                reported=TokenPair.model_construct(
                    prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens
                )
                if reported
                else None,
                encoding=m.encoding or None,
            ),
            cost=Cost.model_construct(usd=m.cost_usd, price=m.price or None),
            cost_usd=m.cost_usd,
            timings=Timings.model_construct(
                ttft_ms=m.ttft_ms,
                duration_ms=m.duration_ms,
                tokens_per_s=m.tokens_per_s,
                inter_token_p50_ms=m.itl_p50_ms,
                inter_token_p95_ms=m.itl_p95_ms,
            ),
            context=Context.model_construct(tokens=m.context_tokens, window=m.context_window),
            tool_calls=[ToolCallOut.of(step) for step in message.steps],
        )

    def draft(self) -> MessageDraft:
        usage, timings = self.usage, self.timings
        metrics = Metrics(
            model=self.model or "",
            provider=self.provider or "",
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            token_source=usage.source,
            estimated_prompt_tokens=usage.estimated.prompt_tokens,
            estimated_completion_tokens=usage.estimated.completion_tokens,
            encoding=usage.encoding or "",
            cost_usd=self.cost.usd,
            price=self.cost.price or "",
            ttft_ms=timings.ttft_ms,
            duration_ms=timings.duration_ms,
            tokens_per_s=timings.tokens_per_s,
            itl_p50_ms=timings.inter_token_p50_ms,
            itl_p95_ms=timings.inter_token_p95_ms,
            context_tokens=self.context.tokens,
            context_window=self.context.window,
        )
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
