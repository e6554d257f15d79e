"""Timing math for one answer: time to first token, duration and generation speed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AnswerClock:
    """Timestamps of one answer, in seconds from any monotonic clock (injected, so tests control time)."""

    sent_at: float
    first_token_at: float | None = None
    ended_at: float | None = None

    def ttft_ms(self) -> float | None:
        if self.first_token_at is None:
            return None
        return (self.first_token_at - self.sent_at) * 1000

    def duration_ms(self, now: float) -> float:
        return ((self.ended_at or now) - self.sent_at) * 1000

    def tokens_per_s(self, completion_tokens: int, now: float) -> float | None:
        """Generation speed after the first token; the wait for the first one is what TTFT measures."""
        if self.first_token_at is None or completion_tokens < 2:
            return None
        elapsed = (self.ended_at or now) - self.first_token_at
        return (completion_tokens - 1) / elapsed if elapsed > 0 else None
