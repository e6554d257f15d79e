"""What an answer cost, from genai-prices' maintained price data (no hand-written price table)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from genai_prices import Usage, calc_price

FREE_PROVIDERS = frozenset({"local", "mock"})


@dataclass(frozen=True)
class Cost:
    usd: float | None  # None: the model's price is unknown, which is not $0
    price: str  # the price used, stored with the message so its cost survives later price changes


def cost_of(*, provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> Cost:
    if provider in FREE_PROVIDERS:
        return Cost(0.0, "free (runs on this machine)" if provider == "local" else "free (scripted)")
    try:
        calculation = calc_price(
            Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens), model_ref=model
        )
    except LookupError:
        return Cost(None, "unknown to genai-prices")
    return Cost(
        float(calculation.total_price),
        f"{calculation.provider.id} {calculation.model.id}: {calculation.model_price}",
    )


@functools.cache
def context_window(model: str) -> int | None:
    """The model's context window as genai-prices knows it, or None."""
    try:
        return calc_price(Usage(input_tokens=0, output_tokens=0), model_ref=model).model.context_window
    except LookupError:
        return None
