"""Export a conversation as Markdown (to read) or JSON (to keep: metrics, tool calls); import the JSON back.

The JSON is the REST API's own `GET /chat/{id}` body, so an export and a script's download are one format.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .api import chat_json
from .config import get_settings
from .domain import (
    ChatOptions,
    Conversation,
    InputError,
    Message,
    MessageDraft,
    Metrics,
    ToolStep,
    plain_text,
)
from .presenters import summary
from .service import options_from

FORMAT = "chatapp.conversation/1"
ROLES = ("user", "assistant")
STATUSES = ("complete", "stopped", "interrupted", "error")
# What one import may hold: a long conversation fits many times over; a file built to exhaust the server
# doesn't (172,069 tiny messages in 5 MB once took 80 s and 2 GB to store).
MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_MESSAGES = 2_000
MAX_TITLE_CHARS = 200
MAX_PROMPT_CHARS = 16_000
MAX_ANSWER_CHARS = 400_000  # about 100,000 tokens, the most an answer may ask for
MAX_TOOL_CALLS = 64
MAX_TOOL_TEXT_CHARS = 100_000
MAX_COUNT = 100_000_000


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


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected an object.")
    return value


def _text(value: Any, path: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{path}: expected text.")
    if len(value) > limit:
        raise InputError(f"{path}: longer than {limit:,} characters.")
    return plain_text(value)


def _number(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise InputError(f"{path}: expected a number of at least 0.")
    return float(value)


def _count(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise InputError(f"{path}: expected a whole number from 0 to {MAX_COUNT:,}.")
    return value


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
    except RecursionError:  # brackets nested thousands deep: no export looks like that
        raise InputError("That JSON nests too deeply to be a conversation export.") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("messages"), list)
    ):
        raise InputError("That JSON is not a chatapp conversation export.")
    messages = data["messages"]
    if len(messages) > MAX_IMPORT_MESSAGES:
        raise InputError(
            f"That conversation has {len(messages):,} messages; an import takes {MAX_IMPORT_MESSAGES:,} "
            "at most."
        )
    title = _text(data.get("title"), "title", MAX_TITLE_CHARS) or "Imported conversation"
    options = _options(_object(data.get("settings"), "settings"))
    return title, options, [_draft(item, f"messages[{index}]") for index, item in enumerate(messages)]


def _options(settings: dict[str, Any]) -> ChatOptions:
    """The conversation's settings, checked as if typed into the settings dialog (older exports have none)."""
    fields = ("model", "system_prompt", "temperature", "max_tokens")
    return options_from(
        {k: "" if settings.get(k) is None else str(settings[k]) for k in fields}, MAX_PROMPT_CHARS
    )


def _draft(item: Any, path: str) -> MessageDraft:
    item = _object(item, path)
    role = item.get("role")
    if role not in ROLES:
        raise InputError(f"{path}.role: expected one of {', '.join(ROLES)}.")
    usage = _object(item.get("usage"), f"{path}.usage")
    timings = _object(item.get("timings"), f"{path}.timings")
    cost = _object(item.get("cost"), f"{path}.cost")
    metrics = Metrics(
        model=_text(item.get("model"), f"{path}.model", 200),
        provider=_text(item.get("provider"), f"{path}.provider", 32),
        prompt_tokens=_count(usage.get("prompt_tokens"), f"{path}.usage.prompt_tokens"),
        completion_tokens=_count(usage.get("completion_tokens"), f"{path}.usage.completion_tokens"),
        token_source="reported" if usage.get("source") == "reported" else "estimated",
        cost_usd=_number(cost.get("usd"), f"{path}.cost.usd"),
        price=_text(cost.get("price"), f"{path}.cost.price", 1_000),
        ttft_ms=_number(timings.get("ttft_ms"), f"{path}.timings.ttft_ms"),
        duration_ms=_number(timings.get("duration_ms"), f"{path}.timings.duration_ms"),
        tokens_per_s=_number(timings.get("tokens_per_s"), f"{path}.timings.tokens_per_s"),
    )
    calls = item.get("tool_calls") or []
    if not isinstance(calls, list) or len(calls) > MAX_TOOL_CALLS:
        raise InputError(f"{path}.tool_calls: expected a list of at most {MAX_TOOL_CALLS} calls.")
    # A question no longer than the message box takes, so it can be asked again.
    content_limit = get_settings().max_message_chars if role == "user" else MAX_ANSWER_CHARS
    return MessageDraft(
        role=role,
        content=_text(item.get("content"), f"{path}.content", content_limit),
        status=item["status"] if item.get("status") in STATUSES else "interrupted",
        error=_text(item.get("error"), f"{path}.error", 2_000),
        metrics=metrics,
        steps=tuple(_step(call, f"{path}.tool_calls[{index}]") for index, call in enumerate(calls)),
    )


def _step(call: Any, path: str) -> ToolStep:
    call = _object(call, path)
    return ToolStep(
        id="",
        message_id="",
        call_id=_text(call.get("call_id"), f"{path}.call_id", 128),
        name=_text(call.get("name"), f"{path}.name", 128),
        arguments=_text(call.get("arguments"), f"{path}.arguments", MAX_TOOL_TEXT_CHARS),
        status="ok" if call.get("status") == "ok" else "error",
        result=_text(call.get("result"), f"{path}.result", MAX_TOOL_TEXT_CHARS),
        duration_ms=_number(call.get("duration_ms"), f"{path}.duration_ms"),
    )
