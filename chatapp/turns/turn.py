"""One chat turn end to end: save the user's message, call the provider, stream, measure, save the answer.

This is the only module that orchestrates. A `Turn` runs its work in a task of its own and hands updates to
whoever iterates it (the job registry, chatapp.jobs, which admits turns and passes their updates on to every
tab that follows them), so Stop can cancel the provider request at once, wherever it waits, and the partial
answer is still saved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from . import costs, db, labels, telemetry, tokens, tools
from .config import Settings
from .domain import (
    DEFAULT_OPTIONS,
    MAX_ANSWER_CHARS,
    MAX_ERROR_CHARS,
    MAX_TOOL_TEXT_CHARS,
    ChatOptions,
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
    ToolCall,
    ToolDecision,
    ToolStatus,
    ToolStep,
    UsageReport,
    plain_text,
    tool_decision,
)
from .metrics import AnswerMeter
from .providers import Provider

log = logging.getLogger(__name__)

SAVE_EVERY_S = 1.0
# How often the numbers that move while an answer streams (tokens/s, counts) are published.
LIVE_EVERY_S = 0.5
# A tool call that waits for approval this long with no answer is not run: the job can't hold its
# conversation (and the owner's place) for good when every tab was closed.
APPROVAL_TIMEOUT_S = 600.0
DECLINED = "The user declined to run this tool."
UNANSWERED = f"Nobody answered the request to run this tool within {APPROVAL_TIMEOUT_S / 60:g} minutes."
# Naming a conversation must never hold it up for long: past this, the title stays the first message's.
LABEL_TIMEOUT_S = 20.0
LABEL_MAX_TOKENS = 24
TITLE_CHARS = 60
_END = object()


# What a turn reports, in order: ConversationReady, AnswerStarted, then AnswerDelta, ToolStepUpdate and
# StatusEvent as they happen (and LiveMetrics now and then), then AnswerDone (also after a failure or Stop);
# a new conversation's first complete answer is followed by ConversationLabelled.
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
class ToolStepUpdate:
    step: ToolStep


@dataclass(frozen=True)
class LiveMetrics:
    """The answer's numbers so far, every LIVE_EVERY_S while text streams."""

    metrics: Metrics


@dataclass(frozen=True)
class ConversationLabelled:
    """A new conversation got its suggested title (and category, named here; "" if none was applied)."""

    conversation: Conversation
    category: str


@dataclass(frozen=True)
class AnswerDone:
    message: Message | None  # None only when the turn ended before anything was saved
    error: str = ""


TurnUpdate = (
    ConversationReady
    | AnswerStarted
    | AnswerDelta
    | LiveMetrics
    | ToolStepUpdate
    | StatusEvent
    | AnswerDone
    | ConversationLabelled
)


def validate_message(text: object, max_chars: int) -> str:
    cleaned = plain_text(text).strip()
    if not cleaned:
        raise InputError("Type a message first.")
    if len(cleaned) > max_chars:
        raise InputError(f"That message is {len(cleaned):,} characters; the limit is {max_chars:,}.")
    return cleaned


MAX_TEMPERATURE = 2.0
MAX_ANSWER_TOKENS = 100_000


def options_from(form: dict[str, object], max_prompt_chars: int) -> ChatOptions:
    """A conversation's settings as the user typed them; an empty field keeps the default."""

    def field(name: str) -> str:
        value = form.get(name)
        return plain_text(value if isinstance(value, str) else str(value or "")).strip()

    model, system_prompt = field("model"), field("system_prompt")
    if len(model) > 200:
        raise InputError("A model name has at most 200 characters.")
    if len(system_prompt) > max_prompt_chars:
        raise InputError(
            f"The system prompt is {len(system_prompt):,} characters; the limit is {max_prompt_chars:,}."
        )
    temperature = max_tokens = None
    if field("temperature"):
        try:
            temperature = float(field("temperature"))
        except ValueError:
            temperature = -1.0
        if not 0 <= temperature <= MAX_TEMPERATURE:
            raise InputError(f"Temperature is a number from 0 to {MAX_TEMPERATURE:g}.")
    if field("max_tokens"):
        max_tokens = int(field("max_tokens")) if field("max_tokens").isdigit() else 0
        if not 1 <= max_tokens <= MAX_ANSWER_TOKENS:
            raise InputError(f"Max tokens is a whole number from 1 to {MAX_ANSWER_TOKENS:,}.")
    return ChatOptions(model, system_prompt, temperature, max_tokens)


def title_from(text: str) -> str:
    first_line = " ".join(labels.without_command(text).split())
    return first_line if len(first_line) <= TITLE_CHARS else first_line[: TITLE_CHARS - 1].rstrip() + "…"


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
        self._options = options
        self._answer_again = answer_again
        self._settings = settings
        self._provider = provider
        self._owner = owner
        self._conversation_id = conversation_id
        self._text = validate_message(text, settings.max_message_chars)
        self._clock = clock
        self.id = db.new_id()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = False
        self._provider_called = False
        self._finishing = False
        self._parts: list[str] = []  # the answer's text so far, kept here so no failure can lose it
        self._length = 0  # of that text, held to MAX_ANSWER_CHARS
        self._meter: AnswerMeter | None = None
        self._saved: Message | None = None  # the answer as last saved
        self._model = provider.model
        self._decisions: dict[str, asyncio.Future[ToolDecision]] = {}  # by step id: calls that wait
        self._trace: telemetry.TurnRecord | None = None  # what the answer did, for the exporters

    # --- for the caller (the job registry, chatapp.jobs) ----------------------------------------

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def conversation_id(self) -> str | None:
        return self._conversation_id

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
        # Before the provider is called the flag is enough, and once the answer is being saved for the last
        # time it is too late: a save is never cut in half.
        if self._provider_called and not self._finishing and self._task is not None and not self._task.done():
            self._task.cancel()

    def decide(self, step_id: str, decision: ToolDecision) -> bool:
        """The user's answer to a tool call that waits for approval; False if none waits by that id."""
        waiting = self._decisions.get(step_id)
        if waiting is None or waiting.done() or tool_decision(decision) is None:
            return False
        waiting.set_result(decision)
        return True

    def live_metrics(self) -> Metrics:
        """The numbers so far: reported by the provider once its usage arrives, estimated before."""
        if self._meter is None:
            return Metrics(model=self._model, provider=self._provider.name)
        return self._meter.snapshot()

    # --- the work, in its own task ----------------------------------------------------------

    async def _db(self, fn, /, **kwargs):
        return await db.run(self._settings.db_url, fn, **kwargs)

    def _emit(self, update: object) -> None:
        self._queue.put_nowait(update)

    @property
    def _writes(self) -> db.WriteBehind:
        return db.write_behind(self._settings.db_url)

    def _status(self, kind: StatusKind, assistant: Message, detail: str = "") -> None:
        """Reports a backend event at once; it is stored with the worker's next group of writes."""
        self._emit(self._record(kind, assistant, detail))

    def _record(self, kind: StatusKind, assistant: Message, detail: str = "") -> StatusEvent:
        """A backend event, queued to be stored with the worker's next group of writes."""
        event = StatusEvent(kind=kind, at=db.utcnow(), message_id=assistant.id, detail=detail)
        self._writes.add_event(assistant.conversation_id, event)
        return event

    async def _run(self) -> None:
        try:
            first = await self._exchange()
            self._end_trace()  # the answer is over; naming the conversation is no part of it
            if first is not None:
                await self._label(*first)
        finally:
            self._end_trace()
            try:
                await self._writes.flush()  # when a turn's updates end, all it wrote is stored
            finally:
                self._emit(_END)

    def _end_trace(self) -> None:
        if self._trace is not None:
            trace, self._trace = self._trace, None
            telemetry.turn_ended(trace)

    async def _exchange(self) -> tuple[Conversation, Message, Message] | None:
        """Saves the question, streams and saves the answer. For a new conversation whose answer completed,
        returns what to name it by."""
        assistant: Message | None = None
        first = None
        try:
            begun = await self._begin()
            conversation, user, assistant = begun.conversation, begun.question, begun.answer
            self._emit(ConversationReady(conversation, begun.created))
            self._emit(AnswerStarted(user, assistant))
            await self._answer(assistant, self._prompt(begun.history))
            answer = self._saved
            if begun.created and answer is not None and answer.status == "complete":
                first = (conversation, user, answer)
        except InputError as error:
            self._emit(AnswerDone(None, str(error)))
        except Exception:  # storage failure: tell the user, keep the server alive
            log.exception("turn failed")
            if assistant is None:
                self._emit(AnswerDone(None, "The message could not be saved. Try again."))
            else:
                await self._finish(assistant, "interrupted", "Something went wrong on the server.")
        return first

    async def _begin(self) -> db.AnswerBegun:
        """Stores the question (or finds it, to answer it again) and the empty answer, in one write: a new
        conversation's too."""
        try:
            begun = await self._writes.write_now(
                db.begin_answer,
                owner=self._owner,
                conversation_id=self._conversation_id,
                title=title_from(self._text),
                options=self._options,
                question=self._text,
                answer_again=self._answer_again,
                default_model=self._provider.model,
                provider=self._provider.name,
            )
        except db.NothingToAnswer as missing:
            raise InputError(str(missing)) from None
        self._options = begun.conversation.options
        self._model = begun.answer.metrics.model
        self._text = begun.question.content
        return begun

    async def _label(self, conversation: Conversation, question: Message, answer: Message) -> None:
        """Names a new conversation after its first exchange: the model suggests a title and a category, and
        each is applied unless the user has chosen one meanwhile."""
        categories = await self._db(db.list_categories, owner=self._owner)
        offered = labels.offered_categories([c.name for c in categories])
        options = ChatOptions(model=self._model, temperature=0.0, max_tokens=LABEL_MAX_TOKENS)
        try:
            reply = await asyncio.wait_for(
                self._reply_text(labels.request(question.content, offered), options), LABEL_TIMEOUT_S
            )
        except (ProviderError, TimeoutError):
            reply = ""  # the title made from the question will do
        label = labels.read(reply, question.content, answer.content, offered)
        labelled = await self._db(
            db.apply_label,
            owner=self._owner,
            conversation_id=conversation.id,
            title_before=conversation.title,
            title=label.title,
            category=label.category,
        )
        if labelled is None:
            return
        renamed, category = labelled
        self._emit(ConversationLabelled(renamed, category))
        source = "suggested by the model" if label.by_model else "made from your message"
        self._status(
            "labelled", answer, f"“{renamed.title}” {source}" + (f" · {category}" if category else "")
        )

    async def _reply_text(self, prompt: list[PromptMessage], options: ChatOptions) -> str:
        return "".join(
            [e.text async for e in self._provider.stream(prompt, (), options) if isinstance(e, TextDelta)]
        )

    def _prompt(self, history: list[Message]) -> list[PromptMessage]:
        prompt = [PromptMessage("system", self._options.system_prompt or self._settings.system_prompt)]
        prompt += [PromptMessage(m.role, m.content) for m in history if m.content]
        prompt.append(PromptMessage("user", self._text))
        return prompt

    async def _answer(self, assistant: Message, prompt: list[PromptMessage]) -> None:
        """Requests until the model answers in words; a round may call tools whose results go back to it."""
        provider = self._provider
        encoding = await tokens.load_encoding(self._model)
        self._meter = AnswerMeter(
            model=self._model,
            provider=provider.name,
            encoding=encoding,
            clock=self._clock,
            context_window=provider.context_window or costs.context_window(self._model),
        )
        if telemetry.enabled():  # else no record at all: nothing is kept that nobody reads
            self._trace = telemetry.TurnRecord(
                provider=provider.name,
                model=self._model,
                conversation_id=assistant.conversation_id,
                clock=self._clock,
                temperature=self._options.temperature,
                max_tokens=self._options.max_tokens,
                with_content=telemetry.with_content(),
            )
            telemetry.turn_started()
        offered = tools.specs(self._options.servers_off) if provider.supports_tools else []
        tool_tokens = tools.spec_tokens(offered, encoding) if offered else 0
        parts = self._parts
        status: MessageStatus = "complete"
        error = ""
        self._provider_called = True
        try:
            if self._stop_requested:
                raise asyncio.CancelledError
            for round_number in range(self._settings.max_tool_rounds + 1):
                # Past the last allowed round, tools are withheld: the model has to answer in words.
                allowed = offered if round_number < self._settings.max_tool_rounds else []
                self._meter.request_sent(
                    tokens.count_prompt(prompt, encoding) + (tool_tokens if allowed else 0)
                )
                # The model is named in the panel's header; a later round says which one it is.
                detail = ""
                if round_number:
                    detail = f"round {round_number + 1}" + ("" if allowed else " · tools withheld")
                self._status("request_sent", assistant, detail)
                if parts and not parts[-1][-1:].isspace():
                    # The text of a new round starts a new paragraph, not the middle of the last sentence.
                    parts.append("\n\n")
                    self._length += 2
                    self._emit(AnswerDelta("\n\n"))
                round_start = len(parts)
                calls = await self._request_or_retry(assistant, prompt, allowed, parts)
                if not calls:
                    break
                if not allowed:
                    # Tools were withheld, yet the server asked for some: no model would read their results.
                    if not parts:
                        status, error = "error", f"The model still wanted tools after {round_number} rounds."
                    break
                prompt = [
                    *prompt,
                    PromptMessage("assistant", "".join(parts[round_start:]), tool_calls=tuple(calls)),
                ]
                for call in calls:
                    prompt.append(
                        PromptMessage("tool", await self._run_tool(assistant, call), tool_call_id=call.id)
                    )
        except asyncio.CancelledError:
            status = "stopped"
        except ProviderError as failure:
            status = "interrupted" if failure.kind == "interrupted" else "error"
            error = failure.message
        await self._finish(assistant, status, error)

    async def _request_or_retry(
        self, assistant: Message, prompt: list[PromptMessage], offered: list[dict], parts: list[str]
    ) -> list[ToolCall]:
        """A request; rate limited before the answer's first token, with a short advised wait, it is sent
        once more after that wait, shown as it happens. Past the first token a retry would repeat text."""
        try:
            return await self._request(assistant, prompt, offered, parts)
        except ProviderError as failure:
            meter = self._meter
            wait = failure.retry_after_s
            if (
                failure.kind != "rate_limit"
                or wait is None
                or meter is None
                or meter.first_token_at is not None
            ):
                raise
        self._status("retry", assistant, f"rate limited · trying again in {wait:g} s, as the server asked")
        await asyncio.sleep(wait)  # Stop cancels the wait like any other
        meter.waited(wait)
        return await self._request(assistant, prompt, offered, parts)

    async def _request(
        self, assistant: Message, prompt: list[PromptMessage], offered: list[dict], parts: list[str]
    ) -> list[ToolCall]:
        """One request to the provider: streams its text into `parts`, returns the tools it asked for."""
        calls: list[ToolCall] = []
        trace = self._trace
        if trace is None:
            await self._stream_into(assistant, prompt, offered, parts, calls, None)
            return calls
        request = telemetry.RequestRecord(
            model=self._model, started=self._clock(), prompt=tuple(prompt) if trace.with_content else ()
        )
        trace.requests.append(request)
        before = len(parts)
        try:
            await self._stream_into(assistant, prompt, offered, parts, calls, request)
        except ProviderError as failure:
            request.error = failure.kind
            raise
        except asyncio.CancelledError:
            request.error = "cancelled"
            raise
        finally:
            request.ended = self._clock()
            if trace.with_content:
                request.output = "".join(parts[before:])
        request.finish_reason = "tool_calls" if calls else "stop"
        return calls

    async def _stream_into(
        self,
        assistant: Message,
        prompt: list[PromptMessage],
        offered: list[dict],
        parts: list[str],
        calls: list[ToolCall],
        request: telemetry.RequestRecord | None,
    ) -> None:
        """The request's stream: text into `parts`, the tools it asks for into `calls`, its numbers into
        the meter and, when telemetry is on, `request`."""
        meter = self._meter
        assert meter is not None
        next_save = self._clock() + SAVE_EVERY_S
        next_live = self._clock() + LIVE_EVERY_S
        async for event in self._provider.stream(prompt, offered, self._options):
            if isinstance(event, ToolCall):
                calls.append(event)
            elif isinstance(event, UsageReport):
                meter.usage(event)
                if request is not None:
                    request.input_tokens, request.output_tokens = event.prompt_tokens, event.completion_tokens
                self._status("usage", assistant, f"{event.prompt_tokens} + {event.completion_tokens} tokens")
            elif isinstance(event, TextDelta) and event.text:
                first = meter.first_token_at is None
                text = event.text[: max(0, MAX_ANSWER_CHARS - self._length)]
                self._length += len(text)
                # Counted piece by piece: the cost per token stays constant, however long the answer.
                before = meter.last_token_at
                meter.text(text, event.tokens)
                if request is not None:
                    request.chunk(before, meter.last_token_at)
                parts.append(text)
                self._emit(AnswerDelta(text))
                if first:
                    self._status("first_token", assistant, f"{meter.ttft_ms:.0f} ms")
                if self._clock() >= next_live:
                    next_live = self._clock() + LIVE_EVERY_S
                    self._emit(LiveMetrics(meter.snapshot()))
                if self._clock() >= next_save:
                    next_save = self._clock() + SAVE_EVERY_S
                    self._writes.save_partial(assistant.id, "".join(parts))
                if self._length >= MAX_ANSWER_CHARS:
                    raise ProviderError(
                        "server",
                        f"The answer reached {MAX_ANSWER_CHARS:,} characters, the most one may hold, and was "
                        "cut off there.",
                    )

    async def _run_tool(self, assistant: Message, call: ToolCall) -> str:
        """Runs one tool call, showing and saving it as a step; returns what the model gets back. A call
        that acts (an MCP tool not marked read-only, as its server's `approve` setting says) first waits
        for the user's approval, unless they allowed that tool for this conversation."""
        remote = tools.remote(call.name, self._options.servers_off)
        ask = remote is not None and remote.needs_approval and call.name not in self._options.tools_allowed
        # In the event log, an MCP tool is named with its server, as the chat's step shows it.
        label = f"{remote.tool.server} › {remote.tool.name}" if remote else call.name
        step = await self._db(
            db.add_tool_step,
            message_id=assistant.id,
            # As the columns take them: a model server may send anything.
            call_id=call.id[:128],
            name=call.name[:128],
            arguments=call.arguments[:MAX_TOOL_TEXT_CHARS],
            server=remote.tool.server if remote else "",
            status="waiting" if ask else "running",
        )
        self._emit(ToolStepUpdate(step))
        started: float | None = None  # once it runs
        try:
            if ask:
                assert remote is not None
                refusal = await self._approval(assistant, step, label)
                now = tools.remote(call.name, self._options.servers_off)
                if refusal is None and now != remote:
                    # Its server went away, or came back with other tools: what was allowed isn't what runs.
                    refusal = "error", _changed(remote.tool.server, gone=now is None)
                if refusal is not None:
                    status, why = refusal
                    self._trace_tool(call, step.server, status)
                    await self._end_step(step, status, why, 0.0)
                    self._status("tool_finished", assistant, f"{label} not run: {why}")
                    return why
            started = self._clock()
            self._status("tool_started", assistant, f"{label} {_shorten(call.arguments)}")
            outcome = await tools.call(
                call.name,
                call.arguments,
                tools.ToolContext(self._owner, self._settings.db_url, self._options.servers_off),
            )
            self._trace_tool(call, step.server, outcome.status, started, outcome.result)
        except asyncio.CancelledError:
            self._trace_tool(call, step.server, "error", started)
            # Saved and shown as ended: otherwise the step says "running" (or waits) for good, here and in
            # the database.
            if started is None:
                await self._end_step(step, "error", "Stopped while it waited for approval.", 0.0)
            else:
                await self._end_step(
                    step, "error", "Stopped before it finished.", (self._clock() - started) * 1000
                )
            raise
        await self._end_step(step, outcome.status, outcome.result, outcome.duration_ms)
        self._status("tool_finished", assistant, f"{label} {outcome.status} in {outcome.duration_ms:.0f} ms")
        return outcome.result if outcome.status == "ok" else f"Error: {outcome.result}"

    def _trace_tool(
        self, call: ToolCall, server: str, status: str, started: float | None = None, result: str = ""
    ) -> None:
        """A tool call for the exporters: from when it started running (if it did) to now."""
        if self._trace is None:
            return
        now = self._clock()
        content = self._trace.with_content
        self._trace.tools.append(
            telemetry.ToolRecord(
                name=call.name,
                call_id=call.id,
                server=server,
                started=now if started is None else started,
                ended=now,
                status=status,
                arguments=call.arguments if content else "",
                result=result if content else "",
            )
        )

    async def _approval(
        self, assistant: Message, step: ToolStep, label: str
    ) -> tuple[ToolStatus, str] | None:
        """Waits for the user's Allow or Deny of a step; None once allowed, else how the step ends and what
        the model is told. The answer's timings leave the wait out. Allowed "always", the tool runs in this
        conversation from now on without asking."""
        decided: asyncio.Future[ToolDecision] = asyncio.get_running_loop().create_future()
        self._decisions[step.id] = decided
        self._status("tool_waiting", assistant, f"{label} waits for your approval")
        waiting_since = self._clock()
        try:
            decision = await asyncio.wait_for(decided, APPROVAL_TIMEOUT_S)
        except TimeoutError:
            return "error", UNANSWERED
        finally:
            del self._decisions[step.id]
            if self._meter is not None:
                self._meter.waited(self._clock() - waiting_since)
        if decision == "deny":
            return "denied", DECLINED
        if decision == "always":
            self._options = replace(self._options, tools_allowed=(*self._options.tools_allowed, step.name))
            await self._db(
                db.allow_tool, owner=self._owner, conversation_id=assistant.conversation_id, tool=step.name
            )
        started = await self._db(db.start_tool_step, step_id=step.id)
        if started is not None:
            self._emit(ToolStepUpdate(started))
        return None

    async def _end_step(self, step: ToolStep, status: ToolStatus, result: str, duration_ms: float) -> None:
        ended = await self._db(
            db.finish_tool_step,
            step_id=step.id,
            status=status,
            result=result[:MAX_TOOL_TEXT_CHARS],
            duration_ms=duration_ms,
        )
        if ended is not None:
            self._emit(ToolStepUpdate(ended))

    async def _finish(self, assistant: Message, status: MessageStatus, error: str) -> None:
        self._finishing = True
        error = error[:MAX_ERROR_CHARS]
        content = "".join(self._parts)
        metrics = self.live_metrics()
        if self._meter is not None:
            self._meter.end()
            metrics = self._meter.snapshot()
            if not content and not self._meter.reported:
                metrics = replace(metrics, cost_usd=0.0, price="nothing generated, nothing billed")
        if self._trace is not None:
            self._trace.ended, self._trace.status, self._trace.cost_usd = (
                self._clock(),
                status,
                metrics.cost_usd,
            )
        kind: StatusKind = "finished" if status == "complete" else status  # type: ignore[assignment]
        # Stored with the final save, in its group, as is every event queued before it: once the save is
        # in, all the answer's events are, and the tabs hear that it ended.
        ended = self._record(kind, assistant, error)
        saved = await self._writes.write_now(
            db.save_answer,
            message_id=assistant.id,
            content=content,
            status=status,
            metrics=metrics,
            error=error,
        )
        self._saved = saved
        self._emit(ended)
        self._emit(AnswerDone(saved, error))


def _changed(server: str, *, gone: bool) -> str:
    if gone:
        return f"The MCP server '{server}' went away while the call waited for approval."
    return "The tool changed while it waited for approval, so it was not run."


def _shorten(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
