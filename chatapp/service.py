"""One chat turn end to end: save the user's message, call the provider, stream, measure, save the answer.

This is the only module that orchestrates. A `Turn` runs its work in a task of its own and hands updates to
whoever iterates it (the Reflex state), so Stop can cancel the provider request at once, wherever it waits,
and the partial answer is still saved. Turns are registered per conversation: a conversation streams one
answer at a time. The registry lives in this process (one backend worker, the default).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from . import costs, db, tokens
from .config import Settings
from .domain import (
    Conversation,
    InputError,
    Message,
    MessageStatus,
    Metrics,
    PromptMessage,
    ProviderError,
    StatusEvent,
    StatusKind,
    TextDelta,
    UsageReport,
)
from .metrics import AnswerClock
from .providers import Provider

log = logging.getLogger(__name__)

SAVE_EVERY_S = 1.0
TITLE_CHARS = 60
_END = object()
_running: dict[str, Turn] = {}


# What a turn reports, in order: ConversationReady, AnswerStarted, then AnswerDelta and StatusEvent as they
# happen, and AnswerDone last (also after a failure or Stop).
@dataclass(frozen=True)
class ConversationReady:
    conversation: Conversation
    created: bool


@dataclass(frozen=True)
class AnswerStarted:
    user: Message
    assistant: Message


@dataclass(frozen=True)
class AnswerDelta:  # the seed's `ai_response`, one piece at a time
    text: str


@dataclass(frozen=True)
class AnswerDone:
    message: Message | None  # None only when the turn failed before anything was saved
    error: str = ""


TurnUpdate = ConversationReady | AnswerStarted | AnswerDelta | StatusEvent | AnswerDone


def validate_message(text: str, max_chars: int) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise InputError("Type a message first.")
    if len(cleaned) > max_chars:
        raise InputError(f"That message is {len(cleaned):,} characters; the limit is {max_chars:,}.")
    return cleaned


def title_from(text: str) -> str:
    first_line = " ".join(text.split())
    return first_line if len(first_line) <= TITLE_CHARS else first_line[: TITLE_CHARS - 1].rstrip() + "…"


def is_streaming(conversation_id: str) -> bool:
    return conversation_id in _running


def stop_turn(conversation_id: str) -> bool:
    turn = _running.get(conversation_id)
    if turn is None:
        return False
    turn.stop()
    return True


class Turn:
    def __init__(
        self,
        *,
        settings: Settings,
        provider: Provider,
        owner: str,
        conversation_id: str | None,
        text: str,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._settings = settings
        self._provider = provider
        self._owner = owner
        self._conversation_id = conversation_id
        self._text = validate_message(text, settings.max_message_chars)
        self._clock = clock
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = False
        self._provider_called = False
        self._timing = AnswerClock(sent_at=clock())
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._usage: UsageReport | None = None

    # --- for the caller ---------------------------------------------------------------------

    async def updates(self) -> AsyncIterator[TurnUpdate]:
        self._task = asyncio.create_task(self._run())
        try:
            while (update := await self._queue.get()) is not _END:
                yield update  # type: ignore[misc]
        finally:
            if not self._task.done():
                self._task.cancel()

    def stop(self) -> None:
        if self._stop_requested:
            return  # a second cancel could interrupt the save of the partial answer
        self._stop_requested = True
        # Before the provider is called, the flag is enough: saving the messages is never cut in half.
        if self._provider_called and self._task is not None and not self._task.done():
            self._task.cancel()

    def live_metrics(self) -> Metrics:
        """The numbers so far: reported by the provider once its usage arrives, estimated before."""
        now = self._clock()
        usage = self._usage
        prompt = usage.prompt_tokens if usage else self._prompt_tokens
        completion = usage.completion_tokens if usage else self._completion_tokens
        return Metrics(
            model=self._provider.model,
            provider=self._provider.name,
            prompt_tokens=prompt,
            completion_tokens=completion,
            token_source="reported" if usage else "estimated",
            cost_usd=costs.cost_usd(
                provider=self._provider.name,
                model=self._provider.model,
                prompt_tokens=prompt,
                completion_tokens=completion,
            ),
            ttft_ms=self._timing.ttft_ms(),
            duration_ms=self._timing.duration_ms(now),
            tokens_per_s=self._timing.tokens_per_s(completion, now),
        )

    # --- the work, in its own task ----------------------------------------------------------

    async def _db(self, fn, /, **kwargs):
        return await db.run(self._settings.db_url, fn, **kwargs)

    def _emit(self, update: object) -> None:
        self._queue.put_nowait(update)

    def _status(self, kind: StatusKind, message_id: str, detail: str = "") -> None:
        self._emit(StatusEvent(kind=kind, at=db.utcnow(), message_id=message_id, detail=detail))

    async def _run(self) -> None:
        assistant: Message | None = None
        key: str | None = None
        try:
            conversation, created = await self._conversation()
            if conversation.id in _running:
                self._emit(AnswerDone(None, "An answer is still streaming in this conversation."))
                return
            key = conversation.id
            _running[key] = self
            self._emit(ConversationReady(conversation, created))
            history = await self._db(db.list_messages, conversation_id=conversation.id)
            user = await self._db(
                db.add_message, conversation_id=conversation.id, role="user", content=self._text
            )
            assistant = await self._db(
                db.add_message,
                conversation_id=conversation.id,
                role="assistant",
                content="",
                status="streaming",
                metrics=Metrics(model=self._provider.model, provider=self._provider.name),
            )
            self._emit(AnswerStarted(user, assistant))
            await self._stream(assistant, self._prompt(history))
        except InputError as error:
            self._emit(AnswerDone(None, str(error)))
        except Exception:  # storage failure: tell the user, keep the server alive
            log.exception("turn failed")
            if assistant is None:
                self._emit(AnswerDone(None, "The message could not be saved. Try again."))
            else:
                await self._finish(assistant, "", "error", "Something went wrong on the server.")
        finally:
            if key is not None:
                _running.pop(key, None)
            self._emit(_END)

    async def _conversation(self) -> tuple[Conversation, bool]:
        if self._conversation_id:
            found = await self._db(
                db.get_conversation, owner=self._owner, conversation_id=self._conversation_id
            )
            if found is None:
                raise InputError("This conversation no longer exists.")
            return found, False
        title = title_from(self._text)
        return await self._db(db.create_conversation, owner=self._owner, title=title), True

    def _prompt(self, history: list[Message]) -> list[PromptMessage]:
        prompt = [PromptMessage("system", self._settings.system_prompt)]
        prompt += [PromptMessage(m.role, m.content) for m in history if m.content]
        prompt.append(PromptMessage("user", self._text))
        return prompt

    async def _stream(self, assistant: Message, prompt: list[PromptMessage]) -> None:
        model = self._provider.model
        self._prompt_tokens = tokens.count_prompt(prompt, model)
        parts: list[str] = []
        status: MessageStatus = "complete"
        error = ""
        self._timing = AnswerClock(sent_at=self._clock())
        self._status("request_sent", assistant.id, f"{self._provider.name} · {model}")
        next_save = self._clock() + SAVE_EVERY_S
        self._provider_called = True
        try:
            if self._stop_requested:
                raise asyncio.CancelledError
            async for event in self._provider.stream(prompt):
                if isinstance(event, UsageReport):
                    self._usage = event
                    self._status(
                        "usage", assistant.id, f"{event.prompt_tokens} + {event.completion_tokens} tokens"
                    )
                    continue
                if not isinstance(event, TextDelta) or not event.text:
                    continue
                first = self._timing.first_token_at is None
                if first:
                    self._timing.first_token_at = self._clock()
                parts.append(event.text)
                # Counting each piece as it comes keeps the cost per token constant, however long the answer.
                self._completion_tokens += tokens.count(event.text, model)
                self._emit(AnswerDelta(event.text))
                if first:
                    self._status("first_token", assistant.id, f"{self._timing.ttft_ms():.0f} ms")
                if self._clock() >= next_save:
                    next_save = self._clock() + SAVE_EVERY_S
                    await self._db(
                        db.save_answer, message_id=assistant.id, content="".join(parts), status="streaming"
                    )
        except asyncio.CancelledError:
            status = "stopped"
        except ProviderError as failure:
            status = "interrupted" if failure.kind == "interrupted" else "error"
            error = failure.message
        await self._finish(assistant, "".join(parts), status, error)

    async def _finish(self, assistant: Message, content: str, status: MessageStatus, error: str) -> None:
        self._timing.ended_at = self._clock()
        metrics = self.live_metrics()
        saved = await self._db(
            db.save_answer,
            message_id=assistant.id,
            content=content,
            status=status,
            metrics=metrics,
            error=error,
        )
        kind: StatusKind = "finished" if status == "complete" else status  # type: ignore[assignment]
        self._status(kind, assistant.id, error)
        self._emit(AnswerDone(saved, error))
