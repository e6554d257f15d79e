"""Any OpenAI-compatible server through the official async SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import openai

from ..config import Settings
from ..domain import PromptMessage, ProviderError, ProviderEvent, TextDelta, UsageReport


def _as_provider_error(error: Exception, *, started: bool) -> ProviderError:
    """Turns an SDK or transport failure into a message a user can act on."""
    if started:
        return ProviderError("interrupted", "The connection to the model dropped mid-answer.")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderError("auth", "The API key was rejected. Check OPENAI_API_KEY.")
    if isinstance(error, openai.RateLimitError):
        return ProviderError("rate_limit", "The model server is rate limiting requests. Try again shortly.")
    if isinstance(error, openai.APITimeoutError):
        return ProviderError("unreachable", "The model server did not answer in time.")
    if isinstance(error, openai.APIConnectionError):
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


class OpenAIProvider:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.model = settings.model
        self._settings = settings
        self._client: openai.AsyncOpenAI | None = None

    def _get_client(self) -> openai.AsyncOpenAI:
        # Built on first use, not at import or construction, so a missing key is a message, not a crash.
        if self._client is None:
            settings = self._settings
            self._client = openai.AsyncOpenAI(
                api_key=settings.openai_api_key or "not-needed",
                base_url=settings.openai_base_url,
                timeout=openai.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
                # Retries would hide a failure behind seconds of silence; the user sees it and decides.
                max_retries=0,
            )
        return self._client

    async def stream(self, messages: Sequence[PromptMessage]) -> AsyncIterator[ProviderEvent]:
        started = False
        finished = False
        try:
            response = await self._get_client().chat.completions.create(
                model=self.model,
                messages=[{"role": m.role, "content": m.content} for m in messages],  # type: ignore[misc]
                stream=True,
                stream_options={"include_usage": True},
            )
            async with response:
                async for chunk in response:
                    if chunk.choices:
                        choice = chunk.choices[0]
                        if choice.delta.content:
                            started = True
                            yield TextDelta(choice.delta.content)
                        finished = finished or choice.finish_reason is not None
                    if chunk.usage is not None:
                        yield UsageReport(
                            prompt_tokens=chunk.usage.prompt_tokens,
                            completion_tokens=chunk.usage.completion_tokens,
                        )
        except openai.APIError as error:
            raise _as_provider_error(error, started=started) from error
        if not finished:
            # A stream that just ends (a proxy closing it cleanly, a crashed upstream) is not a whole answer.
            raise ProviderError("interrupted", "The model server ended the answer before it was finished.")
