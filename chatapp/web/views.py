"""How domain values look in the browser: small dicts of display strings, shared by the state and REST."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain import (
    ChatOptions,
    Conversation,
    Message,
    Metrics,
    StatusEvent,
    ToolStep,
    date_group,
    money,
    shorten,
    summary,
)
from ..mcp_servers.hub import ServerStatus
from ..metering.meter import AnswerRecord, estimate_error, percentile

MAX_RESULT_CHARS = 2000


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
    if message.steps:
        view["steps"] = [step_view(step) for step in message.steps]
    return view


def event_view(event: StatusEvent, *, with_message: bool = False) -> dict[str, str]:
    """Live events leave out their message: the browser files them under the answer being streamed."""
    view = {
        "kind": event.kind,
        "time": event.at.astimezone().strftime("%H:%M:%S.%f")[:-3],
        "detail": event.detail,
    }
    if with_message:
        view["message_id"] = event.message_id
    return view


def history_view(
    conversations: list[Conversation], now: datetime, after_heading: str = ""
) -> list[dict[str, str]]:
    """Sidebar rows; a row carries its date heading when it is the first of its group (a next page continues
    the group the previous page ended with)."""
    rows = []
    previous = after_heading or None
    for conversation in conversations:
        group = "Pinned" if conversation.pinned else date_group(conversation.updated_at, now)
        row = {
            "id": conversation.id,
            "title": conversation.title,
            "heading": group if group != previous else "",
        }
        if conversation.pinned:  # left out otherwise: the list goes out whole whenever it changes
            row["pinned"] = "1"
        rows.append(row)
        previous = group
    return rows


def history_with_on_top(
    rows: list[dict[str, str]], conversation: Conversation, now: datetime, shown: bool
) -> list[dict[str, str]]:
    """The sidebar's rows after `conversation` was asked in: it moves to the top of its group (the pinned
    ones, or the unpinned ones, as "Today"). `shown`: whether the list's filter includes it. Rows already
    loaded keep their place, so a page scrolled in meanwhile stays valid."""
    groups, group = [], ""
    for row in rows:
        group = row["heading"] or group
        groups.append(group)
    kept = [(row, group) for row, group in zip(rows, groups, strict=True) if row["id"] != conversation.id]
    if shown:
        at = sum(1 for _, group in kept if group == "Pinned") if not conversation.pinned else 0
        moved = {"id": conversation.id, "title": conversation.title, "heading": ""}
        if conversation.pinned:
            moved["pinned"] = "1"
        kept.insert(
            at, (moved, "Pinned" if conversation.pinned else date_group(conversation.updated_at, now))
        )
    updated, previous = [], None
    for row, group in kept:
        updated.append({**row, "heading": group if group != previous else ""})
        previous = group
    return updated


def options_view(options: ChatOptions) -> dict[str, str]:
    """A conversation's settings as the settings form shows them: "" where the default applies."""
    return {
        "model": options.model,
        "system_prompt": options.system_prompt,
        "temperature": "" if options.temperature is None else f"{options.temperature:g}",
        "max_tokens": "" if options.max_tokens is None else str(options.max_tokens),
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _off(error_pct: float | None) -> str:
    if error_pct is None:
        return ""
    if round(abs(error_pct), 1) == 0:
        return "estimate exact"
    return f"estimate {abs(error_pct):.1f} % {'high' if error_pct > 0 else 'low'}"


def applied_price(price: str) -> str:
    """Of a model's whole price sheet as genai-prices states it ("openai gpt-4o-mini: $0.15/input MTok,
    $0.6/output MTok, $0.075/input cache read MTok, ..."), the prices this answer paid: input and output."""
    if not price:
        return "no price"
    _, _, sheet = price.partition(": ")
    rates = {item.partition("/")[2]: item.partition("/")[0] for item in sheet.split(", ")}
    if "input MTok" not in rates or "output MTok" not in rates:
        return price  # a sentence, not a sheet ("free (scripted)", "unknown to genai-prices")
    return f"{rates['input MTok']} in · {rates['output MTok']} out per million tokens"


def model_label(metrics: Metrics) -> str:
    return f"{metrics.provider} · {metrics.model}" if metrics.provider else "—"


def live_view(metrics: Metrics, updates_per_s: int = 0) -> dict[str, str]:
    """The few numbers that change while an answer streams; kept small, since they go out twice a second.
    `updates_per_s`: how often the tab is sent the answer now (fewer when the server is busy)."""
    return {
        "updates": f"updates: {updates_per_s}/s" if updates_per_s else "",
        "ttft": _ms(metrics.ttft_ms),
        "tokens_per_s": _rate(metrics.tokens_per_s),
        "completion_tokens": _count(metrics.estimated_completion_tokens),
        "duration": _ms(metrics.duration_ms),
    }


def metrics_view(metrics: Metrics) -> dict[str, str]:
    """Every number of one answer, each with where it came from: reported by the provider or estimated."""
    reported = metrics.token_source == "reported"
    context = "—"
    context_percent = "0"
    if metrics.context_tokens is not None:
        context = f"{metrics.context_tokens:,}"
        if metrics.context_window:
            share = 100 * metrics.context_tokens / metrics.context_window
            context += f" / {metrics.context_window:,} ({share:.0f}%)"
            context_percent = f"{min(share, 100):.0f}"
    return {
        "ttft": _ms(metrics.ttft_ms),
        "duration": _ms(metrics.duration_ms),
        "tokens_per_s": _rate(metrics.tokens_per_s),
        "itl": "—"
        if metrics.itl_p50_ms is None
        else f"{metrics.itl_p50_ms:,.0f} / {metrics.itl_p95_ms:,.0f} ms",
        "prompt_estimated": _count(metrics.estimated_prompt_tokens),
        "completion_estimated": _count(metrics.estimated_completion_tokens),
        "prompt_reported": _count(metrics.prompt_tokens) if reported else "not reported",
        "completion_reported": _count(metrics.completion_tokens) if reported else "not reported",
        # How far the estimate was from the report: how far to trust the estimates of this model.
        "prompt_off": _off(estimate_error(metrics.estimated_prompt_tokens, metrics.prompt_tokens))
        if reported
        else "",
        "completion_off": _off(estimate_error(metrics.estimated_completion_tokens, metrics.completion_tokens))
        if reported
        else "",
        "encoding": metrics.encoding or "—",
        "cost": money(metrics.cost_usd),
        "price": applied_price(metrics.price),
        "price_sheet": metrics.price,  # the whole sheet, for a tooltip
        "context": context,
        "context_percent": context_percent,
    }


def tool_groups(builtin: list[str], problem: str, servers: list[ServerStatus]) -> list[dict[str, str]]:
    """The tools a model may call, by who runs them: the app itself, then each MCP server with its status
    (and `problem`, why the MCP file gave none); a tool that waits for the user's approval says so."""
    groups = [{"server": "Built-in", "status": "ready", "problem": "", "tools": ", ".join(builtin)}]
    if problem:
        groups.append({"server": "MCP servers", "status": "not read", "problem": problem, "tools": ""})
    for server in servers:
        names = [name + (" (asks first)" if asks else "") for name, asks in server.tools]
        groups.append(
            {
                "server": server.name,
                "status": "error · reconnecting" if server.problem else server.status,
                "problem": server.problem,
                "tools": ", ".join(names),
            }
        )
    return groups


def step_view(step: ToolStep) -> dict[str, str]:
    """A tool call as the chat shows it: a collapsible step with its arguments and result."""
    return {
        "id": step.id,
        "name": step.tool_name,
        "server": step.server,
        "arguments": step.arguments,
        "status": step.status,
        "result": shorten(step.result, MAX_RESULT_CHARS),
        "duration": "" if step.duration_ms is None else f"{step.duration_ms:,.0f} ms",
    }


def session_rows(records: list[AnswerRecord]) -> list[dict[str, str]]:
    """Per model: requests, errors, the spread of time to first token and of speed, and how far its token
    estimates were from what its provider reported, on average."""
    by_model: dict[str, list[AnswerRecord]] = {}
    for record in records:
        by_model.setdefault(record.model, []).append(record)
    rows = []
    for model, answers in by_model.items():
        ttfts = [a.ttft_ms for a in answers if a.ttft_ms is not None]
        speeds = [a.tokens_per_s for a in answers if a.tokens_per_s is not None]
        errors = [a.estimate_error_pct for a in answers if a.estimate_error_pct is not None]
        rows.append(
            {
                "model": model,
                "requests": str(len(answers)),
                "errors": str(sum(a.failed for a in answers)),
                "ttft": f"{_ms(percentile(ttfts, 0.5))} / {_ms(percentile(ttfts, 0.95))}",
                "tokens_per_s": f"{_rate(percentile(speeds, 0.5))} / {_rate(percentile(speeds, 0.95))}",
                # The mean of the estimate's error over the answers whose usage was reported, sign kept.
                "estimate_off": _signed_pct(sum(errors) / len(errors)) if errors else "—",
            }
        )
    return rows


def _signed_pct(value: float) -> str:
    return f"{value:+.1f} %" if round(value, 1) else "0.0 %"


def totals_view(records: list[AnswerRecord]) -> dict[str, str]:
    costs = [r.cost_usd for r in records]
    known = sum(c for c in costs if c is not None)
    cost = money(known) + (" + unknown" if any(c is None for c in costs) else "")
    return {
        "answers": str(len(records)),
        "tokens": f"{sum(r.tokens for r in records):,}",
        "cost": cost,
        "errors": str(sum(r.failed for r in records)),
    }


def cost_points(records: list[AnswerRecord], last: int = 20) -> list[dict[str, Any]]:
    """The chart of tokens and cost per answer, over the conversation's latest answers."""
    start = max(len(records) - last, 0)
    return [
        {"answer": start + i + 1, "tokens": r.tokens, "cost": round(r.cost_usd or 0.0, 6)}
        for i, r in enumerate(records[start:])
    ]
