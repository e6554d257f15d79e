"""Export a conversation as Markdown (to read) or JSON (to keep: metrics, tool calls); import the JSON back.

The JSON is the REST API's own `GET /chat/{id}` body, so an export and a script's download are one format.
"""

from __future__ import annotations

import json
from typing import Any

from .api import chat_json
from .domain import ChatOptions, Conversation, InputError, Message, MessageDraft, Metrics, ToolStep
from .presenters import summary
from .service import options_from

FORMAT = "chatapp.conversation/1"
MAX_IMPORT_BYTES = 5_000_000
ROLES = ("user", "assistant")
STATUSES = ("complete", "stopped", "interrupted", "error")
MAX_PROMPT_CHARS = 16_000


def to_json(conversation: Conversation, messages: list[Message]) -> str:
    return json.dumps({"format": FORMAT, **chat_json(conversation, messages)}, indent=2, ensure_ascii=False)


def to_markdown(conversation: Conversation, messages: list[Message]) -> str:
    lines = [
        f"# {conversation.title}",
        "",
        f"_Exported from chatapp · {conversation.created_at:%Y-%m-%d %H:%M} UTC_",
    ]
    for message in messages:
        who = "You" if message.role == "user" else "Assistant"
        heading = f"**{who}** · {message.created_at:%Y-%m-%d %H:%M}"
        if message.role == "assistant":
            heading += f" · {summary(message.metrics)}"
            if message.status != "complete":
                heading += f" · {message.status}"
        lines += ["", "---", "", heading, ""]
        for step in message.steps:
            lines.append(f"> tool `{step.name}` {step.arguments} → {step.status}: {step.result}")
        if message.steps:
            lines.append("")
        lines.append(message.content)
    return "\n".join(lines) + "\n"


def _text(value: Any, field: str, limit: int = 1_000_000) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise InputError(f"The file's {field} is not text.")
    return value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def from_json(raw: bytes) -> tuple[str, ChatOptions, list[MessageDraft]]:
    """Reads an export: its title, settings and messages (ids and times are given anew on import).

    Raises InputError, with a message a user can act on, for anything that is not such an export.
    """
    if len(raw) > MAX_IMPORT_BYTES:
        raise InputError("That file is too large to import (5 MB at most).")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("That file is not JSON. Import a conversation exported as JSON.") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("messages"), list)
    ):
        raise InputError("That JSON is not a chatapp conversation export.")
    title = _text(data.get("title") or "Imported conversation", "title", 200)
    return title, _options(data.get("settings")), [_draft(item) for item in data["messages"]]


def _options(settings: Any) -> ChatOptions:
    """The conversation's settings, checked as if typed into the settings dialog (older exports have none)."""
    if not isinstance(settings, dict):
        return ChatOptions()
    fields = ("model", "system_prompt", "temperature", "max_tokens")
    return options_from(
        {k: "" if settings.get(k) is None else str(settings[k]) for k in fields}, MAX_PROMPT_CHARS
    )


def _draft(item: Any) -> MessageDraft:
    if not isinstance(item, dict) or item.get("role") not in ROLES:
        raise InputError("A message in the file has no role we know.")
    usage = item.get("usage") or {}
    timings = item.get("timings") or {}
    cost = item.get("cost") or {}
    metrics = Metrics(
        model=_text(item.get("model") or "", "model", 200),
        provider=_text(item.get("provider") or "", "provider", 32),
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        token_source="reported" if usage.get("source") == "reported" else "estimated",
        cost_usd=_number(cost.get("usd")),
        price=_text(cost.get("price") or "", "price"),
        ttft_ms=_number(timings.get("ttft_ms")),
        duration_ms=_number(timings.get("duration_ms")),
        tokens_per_s=_number(timings.get("tokens_per_s")),
    )
    steps = tuple(
        ToolStep(
            id="",
            message_id="",
            call_id=_text(call.get("call_id") or "", "tool call id", 128),
            name=_text(call.get("name") or "", "tool name", 128),
            arguments=_text(call.get("arguments") or "", "tool arguments"),
            status="ok" if call.get("status") == "ok" else "error",
            result=_text(call.get("result") or "", "tool result"),
            duration_ms=_number(call.get("duration_ms")),
        )
        for call in item.get("tool_calls") or []
        if isinstance(call, dict)
    )
    return MessageDraft(
        role=item["role"],
        content=_text(item.get("content", ""), "message text"),
        status=item["status"] if item.get("status") in STATUSES else "interrupted",
        error=_text(item.get("error") or "", "error"),
        metrics=metrics,
        steps=steps,
    )
