"""One request to the provider: its stream into the answer's text, the meter and the telemetry record."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import telemetry
from ..domain import (
    MAX_ANSWER_CHARS,
    AnswerDelta,
    LiveMetrics,
    Message,
    PromptMessage,
    ProviderError,
    TextDelta,
    ToolCall,
    UsageReport,
)
from ..metering.meter import AnswerMeter
from .context import TurnContext

# How often the answer so far is saved while it streams, and how often the numbers that move (tokens/s,
# counts) are published.
SAVE_EVERY_S = 1.0
LIVE_EVERY_S = 0.5


@dataclass
class AnswerText:
    """The answer's text so far, across all its requests: kept here so no failure can lose it, and held to
    MAX_ANSWER_CHARS."""

    parts: list[str] = field(default_factory=list)
    length: int = 0

    def add(self, text: str) -> str:
        """Takes what still fits of `text`; returns that."""
        text = text[: max(0, MAX_ANSWER_CHARS - self.length)]
        self.length += len(text)
        self.parts.append(text)
        return text

    @property
    def full(self) -> bool:
        return self.length >= MAX_ANSWER_CHARS

    def since(self, part: int) -> str:
        return "".join(self.parts[part:])

    def __str__(self) -> str:
        return "".join(self.parts)


class ProviderRequest:
    """Streams one request's text into the answer and returns the tools it asked for. The answer's meter
    times and counts it; when telemetry is on, it keeps a record of its own for the exporters."""

    def __init__(
        self, context: TurnContext, meter: AnswerMeter, assistant: Message, text: AnswerText
    ) -> None:
        self._context = context
        self._meter = meter
        self._assistant = assistant
        self._text = text
        self._record: telemetry.RequestRecord | None = None

    async def send(self, prompt: list[PromptMessage], offered: Sequence[dict[str, Any]]) -> list[ToolCall]:
        context = self._context
        calls: list[ToolCall] = []
        trace = context.trace
        if trace is None:
            await self._stream(prompt, offered, calls)
            return calls
        record = self._record = telemetry.RequestRecord(
            model=context.model,
            started=context.clock(),
            prompt=tuple(prompt) if trace.with_content else (),
        )
        trace.requests.append(record)
        before = len(self._text.parts)
        try:
            await self._stream(prompt, offered, calls)
        except ProviderError as failure:
            record.error = failure.kind
            raise
        except asyncio.CancelledError:
            record.error = "cancelled"
            raise
        finally:
            record.ended = context.clock()
            if trace.with_content:
                record.output = self._text.since(before)
        record.finish_reason = "tool_calls" if calls else "stop"
        return calls

    async def _stream(
        self, prompt: list[PromptMessage], offered: Sequence[dict[str, Any]], calls: list[ToolCall]
    ) -> None:
        context, meter, record, assistant = self._context, self._meter, self._record, self._assistant
        clock = context.clock
        next_save = clock() + SAVE_EVERY_S
        next_live = clock() + LIVE_EVERY_S
        async for event in context.provider.stream(prompt, offered, context.options):
            if isinstance(event, ToolCall):
                calls.append(event)
            elif isinstance(event, UsageReport):
                meter.usage(event)
                if record is not None:
                    record.input_tokens, record.output_tokens = event.prompt_tokens, event.completion_tokens
                context.status(
                    "usage", assistant, f"{event.prompt_tokens} + {event.completion_tokens} tokens"
                )
            elif isinstance(event, TextDelta) and event.text:
                first = meter.first_token_at is None
                text = self._text.add(event.text)
                # Counted piece by piece: the cost per token stays constant, however long the answer.
                before = meter.last_token_at
                meter.text(text, event.tokens)
                if record is not None:
                    record.chunk(before, meter.last_token_at)
                context.emit(AnswerDelta(text))
                if first:
                    context.status("first_token", assistant, f"{meter.ttft_ms:.0f} ms")
                if clock() >= next_live:
                    next_live = clock() + LIVE_EVERY_S
                    context.emit(LiveMetrics(meter.snapshot()))
                if clock() >= next_save:
                    next_save = clock() + SAVE_EVERY_S
                    context.writes.save_partial(assistant.id, str(self._text))
                if self._text.full:
                    raise ProviderError(
                        "server",
                        f"The answer reached {MAX_ANSWER_CHARS:,} characters, the most one may hold, and was "
                        "cut off there.",
                    )
