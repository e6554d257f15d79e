"""How domain values look in the browser: small dicts of display strings, shared by the state and REST."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .domain import Conversation, Message, Metrics, StatusEvent, date_group


def money(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    if cost == 0:
        return "$0.00"
    return f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}"


def summary(metrics: Metrics) -> str:
    """The one line under an assistant message: model, tokens, speed, cost."""
    parts = [metrics.model or metrics.provider]
    if metrics.completion_tokens is not None:
        parts.append(f"{metrics.completion_tokens} tokens")
    if metrics.tokens_per_s is not None:
        parts.append(f"{metrics.tokens_per_s:.1f} tok/s")
    parts.append(money(metrics.cost_usd))
    return " · ".join(p for p in parts if p)


def message_view(message: Message) -> dict[str, Any]:
    """A message as the feed carries it; empty fields are left out, since every byte goes out per turn."""
    view: dict[str, Any] = {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "status": message.status,
    }
    if message.error:
        view["error"] = message.error
    if message.role == "assistant" and message.status != "streaming":
        view["summary"] = summary(message.metrics)
    return view


def event_view(event: StatusEvent) -> dict[str, str]:
    return {"kind": event.kind, "time": event.at.strftime("%H:%M:%S.%f")[:-3], "detail": event.detail}


def history_view(conversations: list[Conversation], now: datetime) -> list[dict[str, str]]:
    """Sidebar rows; a row carries its date heading when it is the first of its group."""
    rows = []
    previous = None
    for conversation in conversations:
        group = date_group(conversation.updated_at, now)
        rows.append(
            {
                "id": conversation.id,
                "title": conversation.title,
                "heading": group if group != previous else "",
            }
        )
        previous = group
    return rows


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def model_label(metrics: Metrics) -> str:
    return f"{metrics.provider} · {metrics.model}" if metrics.provider else "—"


def metrics_view(metrics: Metrics) -> dict[str, str]:
    """The monitor's numbers for one answer; each token count says whether it was reported or estimated."""

    def tokens(value: int | None) -> str:
        return "—" if value is None else f"{value:,}"

    return {
        "ttft": _ms(metrics.ttft_ms),
        "duration": _ms(metrics.duration_ms),
        "tokens_per_s": "—" if metrics.tokens_per_s is None else f"{metrics.tokens_per_s:.1f}",
        "prompt_tokens": tokens(metrics.prompt_tokens),
        "completion_tokens": tokens(metrics.completion_tokens),
        "token_source": metrics.token_source,
        "cost": money(metrics.cost_usd),
    }
