"""Any OpenAI-compatible server through the official async SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import openai

from ..config import Settings
from ..domain import (
    DEFAULT_OPTIONS,
    ChatOptions,
    PromptMessage,
    ProviderError,
    ProviderEvent,
    TextDelta,
    ToolCall,
    UsageReport,
)

# The longest wait a server's Retry-After may ask for that is still worth a retry; past it, the user decides.
MAX_RETRY_AFTER_S = 10.0
ERROR_TEXT_CHARS = 200


def _server_words(error: openai.APIError) -> str:
    """What the server said of its failure, as one short plain line (it may send anything)."""
    words = " ".join(str(error.message).split())
    words = "".join(c for c in words if c.isprintable() and c not in "{}")
    return words[:ERROR_TEXT_CHARS].rstrip(" .") or "no reason given"


def _retry_after_s(error: openai.RateLimitError) -> float | None:
    """The delay a 429 advises, in seconds (its Retry-After header, in seconds only)."""
    try:
        delay = float(error.response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return delay if 0 <= delay <= MAX_RETRY_AFTER_S else None


def _as_provider_error(error: Exception, *, started: bool) -> ProviderError:
    """Turns an SDK or transport failure, or a stream the SDK couldn't read, into a message a user can act
    on."""
    if isinstance(error, openai.APIError) and not isinstance(
        error, openai.APIStatusError | openai.APIConnectionError
    ):  # an error the server sent inside the stream, in place of a chunk
        return ProviderError(
            "interrupted" if started else "server",
            f"The model server reported an error: {_server_words(error)}.",
        )
    if isinstance(error, ValueError):  # a line of the stream that isn't JSON
        return ProviderError(
            "interrupted" if started else "server",
            "The model server sent a line that isn't a chunk of an answer.",
        )
    if started:
        if isinstance(error, openai.APITimeoutError | httpx.TimeoutException):
            return ProviderError("interrupted", "The model server went silent mid-answer.")
        return ProviderError("interrupted", "The connection to the model dropped mid-answer.")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderError("auth", "The API key was rejected. Check OPENAI_API_KEY.")
    if isinstance(error, openai.RateLimitError):
        return ProviderError(
            "rate_limit",
            "The model server is rate limiting requests. Try again shortly.",
            retry_after_s=_retry_after_s(error),
        )
    if isinstance(error, openai.APITimeoutError | httpx.TimeoutException):
        return ProviderError("unreachable", "The model server did not answer in time.")
    if isinstance(error, openai.APIConnectionError | httpx.TransportError):
        return ProviderError("unreachable", "The model server could not be reached. Check OPENAI_BASE_URL.")
    if isinstance(error, openai.APIStatusError):
        if error.status_code >= 500:
            return ProviderError("server", f"The model server failed ({error.status_code}). Try again.")
        if error.status_code == 404:
            return ProviderError(
                "bad_request", "The model server does not know this model. Check CHATAPP_MODEL."
            )
        return ProviderError("bad_request", f"The model server refused the request ({error.status_code}).")
    return ProviderError("server", "The model server sent something unexpected.")


def _wire_message(message: PromptMessage) -> dict[str, Any]:
    """A prompt message in the chat-completions format, tool rounds included."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    return wire


class _ToolCallParts:
    """A tool call as it streams in: its id and name come first, its arguments in many small pieces."""

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []

    def add(self, delta: Any) -> None:
        self.id = delta.id or self.id
        if delta.function is not None:
            self.name = delta.function.name or self.name
            if delta.function.arguments:
                self.arguments.append(delta.function.arguments)

    def whole(self, index: int) -> ToolCall:
        return ToolCall(id=self.id or f"call_{index}", name=self.name, arguments="".join(self.arguments))


def _sampling(options: ChatOptions) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if options.temperature is not None:
        extra["temperature"] = options.temperature
    if options.max_tokens is not None:
        # `max_tokens`, not `max_completion_tokens`: every OpenAI-compatible server knows this one.
        extra["max_tokens"] = options.max_tokens
    return extra


class OpenAIProvider:
    name = "openai"
    supports_tools = True
    context_window = None  # genai-prices knows it for the models it prices

    def __init__(self, settings: Settings) -> None:
        self.model = settings.model
        self._settings = settings
        self._client: openai.AsyncOpenAI | None = None

    def _get_client(self) -> openai.AsyncOpenAI:
        # Built on first use, not at import or construction, so a missing key is a message, not a crash.
        if self._client is None:
            settings = self._settings
            self._client = openai.AsyncOpenAI(
                api_key=settings.openai_api_key.get_secret_value() or "not-needed",
                base_url=settings.openai_base_url,
                timeout=openai.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
                # Retries would hide a failure behind seconds of silence; the user sees it and decides.
                max_retries=0,
            )
        return self._client

    async def list_models(self) -> list[str]:
        try:
            listed = [model.id async for model in self._get_client().models.list()]
        except openai.APIError as error:
            raise _as_provider_error(error, started=False) from error
        return [self.model, *sorted(set(listed) - {self.model})]

    async def complete(
        self, messages: Sequence[PromptMessage], options: ChatOptions = DEFAULT_OPTIONS
    ) -> str:
        try:
            response = await self._get_client().chat.completions.create(  # type: ignore[call-overload]
                model=options.model or self.model,
                messages=[_wire_message(m) for m in messages],  # type: ignore[misc]
                **_sampling(options),
            )
        except (openai.APIError, httpx.HTTPError, ValueError) as error:
            raise _as_provider_error(error, started=False) from error
        return (response.choices[0].message.content or "") if response.choices else ""

    async def stream(
        self,
        messages: Sequence[PromptMessage],
        tools: Sequence[dict[str, Any]] = (),
        options: ChatOptions = DEFAULT_OPTIONS,
    ) -> AsyncIterator[ProviderEvent]:
        started = False
        finished = False
        calls: dict[int, _ToolCallParts] = {}
        extra = _sampling(options)
        if tools:
            extra["tools"] = list(tools)
        try:
            # Messages and tools are plain dicts in the wire format; the SDK types them as TypedDicts.
            response = await self._get_client().chat.completions.create(  # type: ignore[call-overload]
                model=options.model or self.model,
                messages=[_wire_message(m) for m in messages],
                stream=True,
                stream_options={"include_usage": True},
                **extra,
            )
            async with response:
                async for chunk in response:
                    if chunk.choices:
                        choice = chunk.choices[0]
                        if choice.delta.content:
                            started = True
                            yield TextDelta(choice.delta.content)
                        for delta in choice.delta.tool_calls or ():
                            started = True
                            calls.setdefault(delta.index, _ToolCallParts()).add(delta)
                        if choice.finish_reason is not None:
                            finished = True
                            for index in sorted(calls):
                                yield calls[index].whole(index)
                            calls.clear()
                    if chunk.usage is not None:
                        yield UsageReport(
                            prompt_tokens=chunk.usage.prompt_tokens,
                            completion_tokens=chunk.usage.completion_tokens,
                        )
        # A malformed line (JSON) and a transport failure mid-stream (which the SDK passes on unwrapped) end
        # the answer as the SDK's own errors do.
        except (openai.APIError, httpx.HTTPError, ValueError) as error:
            raise _as_provider_error(error, started=started) from error
        if not finished:
            # A stream that just ends (a proxy closing it cleanly, a crashed upstream) is not a whole answer.
            raise ProviderError("interrupted", "The model server ended the answer before it was finished.")
