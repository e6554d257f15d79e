"""What an answer cost, from genai-prices' maintained price data (no hand-written price table)."""

from __future__ import annotations

from genai_prices import Usage, calc_price

FREE_PROVIDERS = frozenset({"local", "mock"})


def cost_usd(*, provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The price in dollars, or None when the model's price is unknown (unknown is not $0)."""
    if provider in FREE_PROVIDERS:
        return 0.0
    try:
        price = calc_price(
            Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens), model_ref=model
        )
    except LookupError:
        return None
    return float(price.total_price)
