"""The provider protocol: every model, remote or local or scripted, is one async generator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from ..domain import DEFAULT_OPTIONS, ChatOptions, PromptMessage, ProviderEvent


class Provider(Protocol):
    name: str  # "openai" | "local" | "mock"
    model: str

    @property
    def supports_tools(self) -> bool: ...

    @property
    def context_window(self) -> int | None:
        """None: ask genai-prices."""
        ...

    async def list_models(self) -> list[str]:
        """The models this provider can answer with, for the conversation settings; the configured one first.
        Raises ProviderError when the server can't say."""
        ...

    async def complete(
        self, messages: Sequence[PromptMessage], options: ChatOptions = DEFAULT_OPTIONS
    ) -> str:
        """One short answer, whole, for the app's own requests (naming a conversation): no tools, no stream.
        Raises ProviderError as `stream` does."""
        ...

    def stream(
        self,
        messages: Sequence[PromptMessage],
        tools: Sequence[dict[str, Any]] = (),
        options: ChatOptions = DEFAULT_OPTIONS,
    ) -> AsyncIterator[ProviderEvent]:
        """Yields text deltas as they arrive, the tool calls the model asks for (each whole, its arguments
        reassembled), then at most one usage report for the request.

        `tools` are OpenAI function-calling specs. `options` pick the model, temperature and answer length
        (the system prompt is already in `messages`). Raises ProviderError for anything the user must be told.
        Closing the iterator (Stop) must cancel the underlying request promptly.
        """
        ...
