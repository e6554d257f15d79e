"""One chat turn end to end: save the question, answer it, save the answer, name a new conversation.

A `Turn` runs its work in a task of its own and hands updates to whoever iterates it (the job registry,
chatapp.turns.registry, which admits turns and passes their updates on to every tab that follows them), so
Stop can cancel the provider request at once, wherever it waits, and the partial answer is still saved.

Its parts, each in a module of its own: the answer loop (answer.py) with one object per provider request
(request.py), each tool call as a step with its approval (tool_step.py), and naming (naming.py).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from .. import db, telemetry
from ..config import Settings
from ..domain import (
    DEFAULT_OPTIONS,
    MAX_ERROR_CHARS,
    AnswerDone,
    AnswerStarted,
    ChatOptions,
    Conversation,
    ConversationReady,
    InputError,
    Message,
    MessageStatus,
    Metrics,
    PromptMessage,
    StatusKind,
    ToolDecision,
    TurnUpdate,
    title_from,
    validate_message,
)
from ..metering import costs, tokens
from ..metering.meter import AnswerMeter
from ..providers import Provider
from .answer import AnswerLoop
from .context import TurnContext
from .naming import name_conversation
from .request import AnswerText
from .tool_step import Approvals

log = logging.getLogger(__name__)


class Phase(enum.Enum):
    """Where a turn is, which decides what Stop does."""

    BEGINNING = "beginning"  # storing the question: Stop is noted, and no request is sent
    ANSWERING = "answering"  # requests and tool calls: Stop cancels them at once
    STOPPING = "stopping"  # Stop was asked for: a second one must not interrupt the save that follows
    SAVING = "saving"  # the answer's last save, never cut in half; Stop comes too late
    NAMING = "naming"  # the answer is saved; a new conversation is being named


class Turn:
    def __init__(
        self,
        *,
        settings: Settings,
        provider: Provider,
        owner: str,
        conversation_id: str | None,
        text: str,
        answer_again: bool = False,
        options: ChatOptions = DEFAULT_OPTIONS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`answer_again`: the conversation already ends with the user's message (edited, or its answer being
        regenerated); answer it instead of adding `text` as a new one. `options`: a new conversation's
        settings (an existing one keeps its own)."""
        self.id = db.new_id()
        self._answer_again = answer_again
        self._conversation_id = conversation_id
        self._text = validate_message(text, settings.max_message_chars)
        self._context = TurnContext(
            settings=settings,
            provider=provider,
            owner=owner,
            clock=clock,
            options=options,
            model=provider.model,
        )
        self._phase = Phase.BEGINNING
        self._task: asyncio.Task[None] | None = None
        self._answer = AnswerText()
        self._meter: AnswerMeter | None = None
        self._approvals = Approvals()
        self._saved: Message | None = None  # the answer as last saved

    # --- for the caller (the job registry) ----------------------------------------------------------

    @property
    def owner(self) -> str:
        return self._context.owner

    @property
    def conversation_id(self) -> str | None:
        return self._conversation_id

    @property
    def phase(self) -> Phase:
        return self._phase

    async def updates(self) -> AsyncIterator[TurnUpdate]:
        self._task = asyncio.create_task(self._run())
        try:
            # Read straight from the queue: a generator in between would cost every token a step more.
            updates = self._context.updates
            while (update := await updates.get()) is not None:
                yield update
        finally:
            if not self._task.done():
                self._task.cancel()

    def stop(self) -> None:
        if self._phase is Phase.BEGINNING:
            self._phase = Phase.STOPPING  # no request will be sent
        elif self._phase is Phase.ANSWERING:
            self._phase = Phase.STOPPING
            if self._task is not None and not self._task.done():
                self._task.cancel()
        # Stopping already, or saving or naming: too late, and a second cancel could cut the save in half.

    def decide(self, step_id: str, decision: ToolDecision) -> bool:
        """The user's answer to a tool call that waits for approval; False if none waits by that id."""
        return self._approvals.decide(step_id, decision)

    def live_metrics(self) -> Metrics:
        """The numbers so far: reported by the provider once its usage arrives, estimated before."""
        if self._meter is None:
            return Metrics(model=self._context.model, provider=self._context.provider.name)
        return self._meter.snapshot()

    # --- the work, in its own task ---------------------------------------------------------------

    async def _run(self) -> None:
        try:
            first = await self._exchange()
            self._end_trace()  # the answer is over; naming the conversation is no part of it
            if first is not None:
                self._phase = Phase.NAMING
                await name_conversation(self._context, *first)
        finally:
            self._end_trace()
            try:
                await self._context.writes.flush()  # when a turn's updates end, all it wrote is stored
            finally:
                self._context.close()

    def _end_trace(self) -> None:
        if self._context.trace is not None:
            trace, self._context.trace = self._context.trace, None
            telemetry.turn_ended(trace)

    async def _exchange(self) -> tuple[Conversation, Message, Message] | None:
        """Saves the question, streams and saves the answer. For a new conversation whose answer completed,
        returns what to name it by."""
        context = self._context
        assistant: Message | None = None
        try:
            begun = await self._begin()
            conversation, user, assistant = begun.conversation, begun.question, begun.answer
            context.emit(ConversationReady(conversation, begun.created))
            context.emit(AnswerStarted(user, assistant))
            status, error = await self._answer_it(assistant, self._prompt(begun.history))
            await self._finish(assistant, status, error)
            answer = self._saved
            if begun.created and answer is not None and answer.status == "complete":
                return conversation, user, answer
        except InputError as error:
            context.emit(AnswerDone(None, str(error)))
        except Exception:  # storage failure: tell the user, keep the server alive
            log.exception("turn failed")
            if assistant is None:
                context.emit(AnswerDone(None, "The message could not be saved. Try again."))
            else:
                await self._finish(assistant, "interrupted", "Something went wrong on the server.")
        return None

    async def _begin(self) -> db.AnswerBegun:
        """Stores the question (or finds it, to answer it again) and the empty answer, in one write: a new
        conversation's too."""
        context = self._context
        try:
            begun = await context.writes.write_now(
                db.begin_answer,
                owner=context.owner,
                conversation_id=self._conversation_id,
                title=title_from(self._text),
                options=context.options,
                question=self._text,
                answer_again=self._answer_again,
                default_model=context.provider.model,
                provider=context.provider.name,
            )
        except db.NothingToAnswer as missing:
            raise InputError(str(missing)) from None
        context.options = begun.conversation.options
        context.model = begun.answer.metrics.model
        self._text = begun.question.content
        return begun

    def _prompt(self, history: list[Message]) -> list[PromptMessage]:
        system = self._context.options.system_prompt or self._context.settings.system_prompt
        prompt = [PromptMessage("system", system)]
        prompt += [PromptMessage(m.role, m.content) for m in history if m.content]
        prompt.append(PromptMessage("user", self._text))
        return prompt

    async def _answer_it(self, assistant: Message, prompt: list[PromptMessage]) -> tuple[MessageStatus, str]:
        context = self._context
        provider, model = context.provider, context.model
        encoding = await tokens.load_encoding(model)
        self._meter = AnswerMeter(
            model=model,
            provider=provider.name,
            encoding=encoding,
            clock=context.clock,
            context_window=provider.context_window or costs.context_window(model),
        )
        if telemetry.enabled():  # else no record at all: nothing is kept that nobody reads
            context.trace = telemetry.TurnRecord(
                provider=provider.name,
                model=model,
                conversation_id=assistant.conversation_id,
                clock=context.clock,
                temperature=context.options.temperature,
                max_tokens=context.options.max_tokens,
                with_content=telemetry.with_content(),
            )
            telemetry.turn_started()
        if self._phase is Phase.STOPPING:  # Stop came while the question was being stored
            return "stopped", ""
        self._phase = Phase.ANSWERING
        return await AnswerLoop(context, assistant, self._meter, self._answer, self._approvals).run(prompt)

    async def _finish(self, assistant: Message, status: MessageStatus, error: str) -> None:
        self._phase = Phase.SAVING
        context = self._context
        error = error[:MAX_ERROR_CHARS]
        content = str(self._answer)
        metrics = self.live_metrics()
        if self._meter is not None:
            self._meter.end()
            metrics = self._meter.snapshot()
            if not content and not self._meter.reported:
                metrics = replace(metrics, cost_usd=0.0, price="nothing generated, nothing billed")
        if context.trace is not None:
            context.trace.ended, context.trace.status, context.trace.cost_usd = (
                context.clock(),
                status,
                metrics.cost_usd,
            )
        kind: StatusKind = "finished" if status == "complete" else status  # type: ignore[assignment]
        # Stored with the final save, in its group, as is every event queued before it: once the save is
        # in, all the answer's events are, and the tabs hear that it ended.
        ended = context.record(kind, assistant, error)
        saved = await context.writes.write_now(
            db.save_answer,
            message_id=assistant.id,
            content=content,
            status=status,
            metrics=metrics,
            error=error,
        )
        self._saved = saved
        context.emit(ended)
        context.emit(AnswerDone(saved, error))
