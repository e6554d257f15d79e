"""Timing and counting for one answer: time to first token, speed, inter-token latency, tokens and cost."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tiktoken

from ..domain import Message, Metrics, UsageReport
from . import costs, tokens

# The label of counts the model made itself: exact for the answer; the prompt is still estimated, and its
# estimate corrected by the model's report when the answer ends.
OWN_TOKENS = "the model's own tokenizer (answer); prompt estimated with cl100k_base"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class AnswerMeter:
    """Everything measured about one answer, across all of its requests (tool rounds make several).

    Times come from an injected monotonic clock, so tests control them. Reported usage is summed over the
    requests and is the source of truth only when every request reported it; otherwise the estimate stands.
    """

    model: str
    provider: str
    encoding: tiktoken.Encoding
    clock: Callable[[], float]
    context_window: int | None = None
    sent_at: float = 0.0
    first_token_at: float | None = None
    last_token_at: float | None = None
    ended_at: float | None = None
    requests: int = 0
    context_tokens: int | None = None
    estimated_prompt_tokens: int = 0
    reported: list[UsageReport] = field(default_factory=list)
    _gaps_s: list[float] = field(default_factory=list)
    _counter: tokens.TokenCounter | None = None
    _own_tokens: int | None = None  # the answer's tokens as the model counted them, when it says

    def request_sent(self, prompt_tokens: int) -> None:
        if self.requests == 0:
            self.sent_at = self.clock()
            self.context_tokens = prompt_tokens
        self.requests += 1
        self.estimated_prompt_tokens += prompt_tokens

    def waited(self, seconds: float) -> None:
        """The answer waited this long for something that isn't the model (a rate limit's advised delay, the
        user's approval of a tool call): none of its timings count the wait."""
        self.sent_at += seconds
        if self.first_token_at is not None:
            self.first_token_at += seconds
        if self.last_token_at is not None:
            self.last_token_at += seconds

    def text(self, piece: str, own_tokens: int | None = None) -> None:
        """A piece of the answer; `own_tokens`: how many tokens the model itself says it is, if it does."""
        now = self.clock()
        if self.first_token_at is None:
            self.first_token_at = now
        elif self.last_token_at is not None:
            self._gaps_s.append(now - self.last_token_at)
        self.last_token_at = now
        if own_tokens is not None:
            self._own_tokens = (self._own_tokens or 0) + own_tokens
            return
        if self._counter is None:
            self._counter = tokens.TokenCounter(self.encoding)
        self._counter.add(piece)

    def usage(self, report: UsageReport) -> None:
        self.reported.append(report)

    def end(self) -> None:
        self.ended_at = self.clock()

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token_at is None else (self.first_token_at - self.sent_at) * 1000

    @property
    def estimated_completion_tokens(self) -> int:
        if self._own_tokens is not None:
            return self._own_tokens
        return self._counter.total if self._counter else 0

    def snapshot(self) -> Metrics:
        now = self.ended_at or self.clock()
        fully_reported = bool(self.reported) and len(self.reported) >= self.requests
        if fully_reported:
            prompt = sum(r.prompt_tokens for r in self.reported)
            completion = sum(r.completion_tokens for r in self.reported)
        else:
            prompt, completion = self.estimated_prompt_tokens, self.estimated_completion_tokens
        cost = costs.cost_of(
            provider=self.provider, model=self.model, prompt_tokens=prompt, completion_tokens=completion
        )
        return Metrics(
            model=self.model,
            provider=self.provider,
            prompt_tokens=prompt,
            completion_tokens=completion,
            token_source="reported" if fully_reported else "estimated",
            estimated_prompt_tokens=self.estimated_prompt_tokens,
            estimated_completion_tokens=self.estimated_completion_tokens,
            encoding=tokens.encoding_label(self.encoding, self.model)
            if self._own_tokens is None
            else OWN_TOKENS,
            cost_usd=cost.usd,
            price=cost.price,
            ttft_ms=self.ttft_ms,
            duration_ms=(now - self.sent_at) * 1000,
            tokens_per_s=self._tokens_per_s(completion, now),
            itl_p50_ms=_ms(percentile(self._gaps_s, 0.5)),
            itl_p95_ms=_ms(percentile(self._gaps_s, 0.95)),
            context_tokens=self.context_tokens,
            context_window=self.context_window,
        )

    def _tokens_per_s(self, completion: int, now: float) -> float | None:
        """Generation speed after the first token; the wait for the first one is what TTFT measures."""
        if self.first_token_at is None or completion < 2:
            return None
        end = self.last_token_at if self.ended_at else now
        elapsed = (end or now) - self.first_token_at
        return (completion - 1) / elapsed if elapsed > 0 else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def estimate_error(estimated: int | None, reported: int | None) -> float | None:
    """How far our count was from the provider's, in percent of it (negative: ours was low); None when
    there is nothing to compare."""
    if estimated is None or not reported:
        return None
    return 100 * (estimated - reported) / reported


@dataclass(frozen=True)
class AnswerRecord:
    """What the session and conversation statistics need of one finished answer."""

    model: str
    ttft_ms: float | None
    tokens_per_s: float | None
    tokens: int
    cost_usd: float | None
    failed: bool
    estimate_error_pct: float | None = None  # of the completion tokens, where the provider reported them

    @classmethod
    def of(cls, message: Message) -> AnswerRecord:
        m = message.metrics
        reported = m.token_source == "reported"
        return cls(
            model=m.model or m.provider,
            ttft_ms=m.ttft_ms,
            tokens_per_s=m.tokens_per_s,
            tokens=(m.prompt_tokens or 0) + (m.completion_tokens or 0),
            cost_usd=m.cost_usd,
            failed=message.status in ("error", "interrupted"),
            estimate_error_pct=estimate_error(m.estimated_completion_tokens, m.completion_tokens)
            if reported
            else None,
        )
