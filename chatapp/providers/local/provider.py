"""The bundled SmolLM2-135M-Instruct model, fully offline, run by llama.cpp in a process of its own.

The web server never loads native model code itself: if llama.cpp dies (a CPU it wasn't built for, a bad
GGUF file, a bug), only that process goes, the answer it was writing ends as an error, and the model comes
back by itself for the next question (process.py). Each answer is one connection to that process
(worker.py has the protocol); closing the connection is Stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ...config import Settings
from ...domain import (
    DEFAULT_OPTIONS,
    ChatOptions,
    PromptMessage,
    ProviderError,
    ProviderEvent,
    TextDelta,
    UsageReport,
)
from .paths import bundled_model_path, default_socket_path
from .process import ModelProcess, ModelUnavailable
from .worker import CONTEXT_TOKENS

# How long a question waits for the model process to (re)start before it is told the model isn't there.
START_TIMEOUT_S = 60.0
# How often a question that never reached the model is asked again after its process died, and the pause
# before each new try (longer each time).
ASKS_BEFORE_START = 3
RETRY_AFTER_S = 0.25
DIED = "The local model stopped unexpectedly; it is restarting. Ask again in a moment."


class LocalProvider:
    name = "local"
    # A 135M-parameter model can't follow function-calling reliably: it answers without tools, and says so.
    supports_tools = False
    context_window = CONTEXT_TOKENS

    def __init__(self, settings: Settings) -> None:
        self.model = settings.model
        self._max_tokens = settings.local_max_tokens
        path = settings.local_model_path or bundled_model_path()
        self.process = ModelProcess(
            path,
            settings.local_model_socket or default_socket_path(path),
            custom_model=settings.local_model_path is not None,
            threads=settings.local_threads,
        )

    def start(self) -> None:
        """Starts the model process now (at start-up), so the first answer doesn't wait for it."""
        self.process.start()

    async def list_models(self) -> list[str]:
        return [self.model]  # one model file is loaded; CHATAPP_LOCAL_MODEL_PATH picks another

    async def complete(
        self, messages: Sequence[PromptMessage], options: ChatOptions = DEFAULT_OPTIONS
    ) -> str:
        # The model process streams every answer: a whole one is its pieces, joined.
        return "".join([e.text async for e in self.stream(messages, (), options) if isinstance(e, TextDelta)])

    async def stream(
        self,
        messages: Sequence[PromptMessage],
        tools: Sequence[dict[str, Any]] = (),
        options: ChatOptions = DEFAULT_OPTIONS,
    ) -> AsyncIterator[ProviderEvent]:
        request = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": min(options.max_tokens or self._max_tokens, self._max_tokens),
            "temperature": options.temperature,
        }
        line = json.dumps(request).encode() + b"\n"
        # A request still waiting its turn when the process died never reached the model: ask again. Not at
        # once: a process being killed still holds its socket for a moment, and a connection made then is
        # cut too.
        for attempt in range(ASKS_BEFORE_START):
            if attempt:
                await asyncio.sleep(RETRY_AFTER_S * attempt)
            try:
                reader, writer = await self.process.connect(START_TIMEOUT_S)
            except ModelUnavailable as failure:
                raise ProviderError("server", f"The local model can't start: {failure}") from None
            started = False
            try:
                writer.write(line)
                await writer.drain()
                async for item in _lines(reader):
                    if "text" in item:
                        yield TextDelta(item["text"], tokens=1)  # one token a piece, as llama.cpp counts
                    elif "usage" in item:
                        yield UsageReport(**item["usage"])
                        return
                    elif "error" in item:
                        raise ProviderError("server", item["error"])
                    started = started or "started" in item
            except (ConnectionError, ValueError):  # cut off mid-line: the process died
                pass
            finally:
                writer.close()  # Stop, when the caller closes this stream early
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
            if started or attempt == ASKS_BEFORE_START - 1:
                raise ProviderError("server", DIED)


async def _lines(reader: asyncio.StreamReader) -> AsyncIterator[dict[str, Any]]:
    while raw := await reader.readline():
        yield json.loads(raw)
