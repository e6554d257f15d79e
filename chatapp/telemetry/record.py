"""What one turn did, as the telemetry exporters need it: its requests to the model and its tool calls, with
their times. The turn fills it in as it goes (a subtraction and an append per chunk) and hands it over when
its answer ends, so the exporters do nothing while an answer streams; with none on, no record is kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..domain import MessageStatus, PromptMessage, ProviderErrorKind


@dataclass
class RequestRecord:
    """One request to the model (a round of the tool loop), timed on the turn's clock."""

    model: str
    started: float
    first_chunk: float | None = None
    ended: float | None = None
    chunk_gaps_s: list[float] = field(default_factory=list)  # between output chunks, after the first
    input_tokens: int | None = None  # as the provider reported them; None if it didn't
    output_tokens: int | None = None
    finish_reason: str = ""  # "stop", "tool_calls", "length"; "" when it ended in an error
    error: ProviderErrorKind | str = ""
    prompt: tuple[PromptMessage, ...] = ()  # kept only when message content may be exported
    output: str = ""

    @property
    def duration_s(self) -> float:
        return (self.ended if self.ended is not None else self.started) - self.started

    @property
    def first_chunk_s(self) -> float | None:
        """From the request to its first chunk; None if none came."""
        return None if self.first_chunk is None else self.first_chunk - self.started

    @property
    def usage(self) -> tuple[int, int] | None:
        """Input and output tokens as the provider reported them; None if it didn't."""
        if self.input_tokens is None or self.output_tokens is None:
            return None
        return self.input_tokens, self.output_tokens

    def chunk(self, previous: float | None, now: float | None) -> None:
        """A chunk of text arrived at `now`; `previous` is when the one before it did (in any request)."""
        if self.first_chunk is None:
            self.first_chunk = now
        elif previous is not None and now is not None:
            self.chunk_gaps_s.append(now - previous)


@dataclass
class ToolRecord:
    name: str
    call_id: str
    server: str  # the MCP server; "" for a built-in tool
    started: float
    ended: float | None = None
    status: str = ""  # the step's: ok, error, denied
    arguments: str = ""  # kept only when message content may be exported
    result: str = ""

    @property
    def duration_s(self) -> float:
        return (self.ended if self.ended is not None else self.started) - self.started

    @property
    def error_type(self) -> str:
        """ "" when it ran and worked; else why not, as error.type says it."""
        if self.status == "ok":
            return ""
        return "tool_declined" if self.status == "denied" else "tool_error"


@dataclass
class TurnRecord:
    """A turn, from its first request to its saved answer."""

    provider: str
    model: str
    conversation_id: str
    clock: Callable[[], float]
    temperature: float | None = None
    max_tokens: int | None = None
    with_content: bool = False  # message content (prompts, answers, tool arguments) may be exported
    started: float = 0.0
    ended: float | None = None
    status: MessageStatus | str = ""
    cost_usd: float | None = None
    requests: list[RequestRecord] = field(default_factory=list)
    tools: list[ToolRecord] = field(default_factory=list)
    # The clock is monotonic; spans need wall-clock times: this turn's start on both.
    _wall_start_ns: int = field(default_factory=time.time_ns)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def wall_ns(self, moment: float) -> int:
        """A time on the turn's clock as nanoseconds since the epoch."""
        return self._wall_start_ns + int((moment - self.started) * 1e9)
