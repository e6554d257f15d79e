"""An answer's numbers as REST and an export show them (usage, cost, timings), and back into Metrics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..domain import Metrics
from .fields import Count, EncodingName, Number, PriceText, Shape


class TokenPair(Shape):
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None


class Usage(Shape):
    prompt_tokens: Count | None = Field(None, description="the counts in force: reported, else estimated")
    completion_tokens: Count | None = None
    source: Literal["reported", "estimated"] = "estimated"
    estimated: TokenPair = TokenPair()
    reported: TokenPair | None = None
    encoding: EncodingName = None


class Cost(Shape):
    usd: Number | None = Field(None, description="null: the model's price is unknown")
    price: PriceText = Field(None, description="the price the cost was computed with")


class Timings(Shape):
    ttft_ms: Number | None = None
    duration_ms: Number | None = None
    tokens_per_s: Number | None = None
    inter_token_p50_ms: Number | None = None
    inter_token_p95_ms: Number | None = None


class Context(Shape):
    tokens: Count | None = Field(None, description="the first request's prompt: system, history, tools")
    window: Count | None = None


def numbers_of(m: Metrics) -> dict[str, Any]:
    """An answer's fields from its metrics, as stored: unchecked (`model_construct`)."""
    reported = m.token_source == "reported"
    return {
        "model": m.model or None,
        "provider": m.provider or None,
        "usage": Usage.model_construct(
            prompt_tokens=m.prompt_tokens,
            completion_tokens=m.completion_tokens,
            source=m.token_source,
            estimated=TokenPair.model_construct(
                prompt_tokens=m.estimated_prompt_tokens, completion_tokens=m.estimated_completion_tokens
            ),
            reported=TokenPair.model_construct(
                prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens
            )
            if reported
            else None,
            encoding=m.encoding or None,
        ),
        "cost": Cost.model_construct(usd=m.cost_usd, price=m.price or None),
        "cost_usd": m.cost_usd,
        "timings": Timings.model_construct(
            ttft_ms=m.ttft_ms,
            duration_ms=m.duration_ms,
            tokens_per_s=m.tokens_per_s,
            inter_token_p50_ms=m.itl_p50_ms,
            inter_token_p95_ms=m.itl_p95_ms,
        ),
        "context": Context.model_construct(tokens=m.context_tokens, window=m.context_window),
    }


def metrics_of(
    model: str | None, provider: str | None, usage: Usage, cost: Cost, timings: Timings, context: Context
) -> Metrics:
    """The inverse of `numbers_of`: an imported answer's metrics."""
    return Metrics(
        model=model or "",
        provider=provider or "",
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        token_source=usage.source,
        estimated_prompt_tokens=usage.estimated.prompt_tokens,
        estimated_completion_tokens=usage.estimated.completion_tokens,
        encoding=usage.encoding or "",
        cost_usd=cost.usd,
        price=cost.price or "",
        ttft_ms=timings.ttft_ms,
        duration_ms=timings.duration_ms,
        tokens_per_s=timings.tokens_per_s,
        itl_p50_ms=timings.inter_token_p50_ms,
        itl_p95_ms=timings.inter_token_p95_ms,
        context_tokens=context.tokens,
        context_window=context.window,
    )
