"""Text as the app takes it in and gives it out: cleaned input, shortened lines, money, answer summaries."""

from __future__ import annotations

from .values import Metrics


def plain_text(value: object) -> str:
    """Text a client sent, as every store and encoder takes it. Anything but a string is no text; NUL goes
    (PostgreSQL refuses it in text); a lone surrogate, which no encoding takes, becomes U+FFFD."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def shorten(text: str, limit: int, *, flatten: bool = False) -> str:
    """At most `limit` characters, an ellipsis marking a cut; `flatten` first joins the lines into one."""
    if flatten:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def money(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    if cost == 0:
        return "$0.00"
    return f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}"


def summary(metrics: Metrics) -> str:
    """The one line under an assistant message, in the chat and in an export: model, tokens, speed, cost."""
    parts = [metrics.model or metrics.provider]
    if metrics.completion_tokens is not None:
        parts.append(f"{metrics.completion_tokens} tokens")
    if metrics.tokens_per_s is not None:
        parts.append(f"{metrics.tokens_per_s:.1f} tok/s")
    parts.append(money(metrics.cost_usd))
    return " · ".join(p for p in parts if p)
