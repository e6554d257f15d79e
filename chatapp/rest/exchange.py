"""Export a conversation as Markdown (to read) or JSON (to keep: metrics, tool calls); import the JSON back.

The JSON is the REST API's own `GET /chat/{id}` body, so an export and a script's download are one format.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Literal

from pydantic import ValidationError

from ..config import get_settings
from ..domain import Conversation, ConversationDraft, InputError, Message, options_from, summary
from . import schemas

FORMAT = "chatapp.conversation/1"
# What one import may hold: a long conversation fits many times over; a file built to exhaust the server
# doesn't (172,069 tiny messages in 5 MB once took 80 s and 2 GB to store).
MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_MESSAGES = 2_000
TOO_LARGE = "That file is too large to import (5 MB at most)."


class ChatExport(schemas.Chat):
    format: Literal["chatapp.conversation/1"]


def to_json(conversation: Conversation, messages: list[Message], categories: dict[str, str]) -> str:
    """The REST body of the whole conversation, less what depends on the moment (the sidebar's group)."""
    chat = schemas.Chat.of(
        conversation,
        categories,
        group="",
        settings=schemas.ChatSettings.of(conversation.options),
        messages=[schemas.message_out(m) for m in messages],
    )
    body = chat.model_dump(mode="json", exclude_unset=True, exclude={"group"})
    return json.dumps({"format": FORMAT, **body}, indent=2, ensure_ascii=False)


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
            where = f" on MCP server `{step.server}`" if step.server else ""
            lines.append(f"> tool `{step.tool_name}`{where} {step.arguments} → {step.status}: {step.result}")
        if message.steps:
            lines.append("")
        lines.append(message.content)
    return "\n".join(lines) + "\n"


def from_json(raw: bytes) -> ConversationDraft:
    """Reads an export back, ids and times included.

    Raises InputError, with a message a user can act on, for anything that is not such an export: the
    first bad field is named by its path ("messages[3].usage: expected an object").
    """
    if len(raw) > MAX_IMPORT_BYTES:
        raise InputError(TOO_LARGE)
    try:
        # Python's reader, not pydantic's: a lone surrogate escape is replaced later instead of refused.
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
    if len(data["messages"]) > MAX_IMPORT_MESSAGES:
        raise InputError(
            f"That conversation has {len(data['messages']):,} messages; an import takes "
            f"{MAX_IMPORT_MESSAGES:,} at most."
        )
    try:
        chat = ChatExport.model_validate(data)
    except ValidationError as error:
        raise InputError(_first_problem(error)) from None
    # A question no longer than the message box takes, so it can be asked again.
    limit = get_settings().max_message_chars
    for index, message in enumerate(chat.messages):
        if message.role == "user" and len(message.content) > limit:
            raise InputError(f"messages[{index}].content: longer than {limit:,} characters.")
    settings = chat.settings
    # A system prompt as long as the settings dialog takes.
    scalars = settings.model_dump(exclude={"servers_off"})
    options = replace(
        options_from({k: "" if v is None else str(v) for k, v in scalars.items()}, limit),
        servers_off=tuple(settings.servers_off),
    )
    return ConversationDraft(
        title=chat.title or "Imported conversation",
        messages=tuple(message.draft() for message in chat.messages),
        options=options,
        id=chat.id,
        created_at=chat.created_at,
        updated_at=chat.updated_at,
        pinned=chat.pinned,
        category=chat.category or "",
        category_id=chat.category_id or "",
    )


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    path = ""
    for part in problem["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path.endswith("]") and part in ("user", "assistant"):
            continue  # the message kind pydantic chose by role, not a field of the file
        else:
            path += f".{part}" if path else str(part)
    if problem["type"].startswith("union_tag"):
        return f"{path}.role: expected user or assistant."
    return f"{path}: {_words(problem['type'], problem.get('ctx') or {}, problem['msg'])}."


def _words(kind: str, ctx: dict[str, Any], fallback: str) -> str:
    if kind == "missing":
        return "missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "expected an object"
    if kind == "string_type":
        return "expected text"
    if kind == "list_type":
        return "expected a list"
    if kind == "too_long":
        return f"expected a list of at most {ctx.get('max_length', 0):,} items"
    if kind == "string_too_long":
        return f"longer than {ctx.get('max_length', 0):,} characters"
    if kind == "string_pattern_mismatch":
        return "expected an id as this app writes them"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return "expected a whole number"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return "expected a number"
    if kind == "greater_than_equal":
        return f"expected a number of at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"expected a number of at most {ctx.get('le'):,}"
    if kind == "bool_type":
        return "expected true or false"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}"
    if kind == "value_error":  # one of the schema's own checks: its words
        return str(ctx.get("error", fallback))
    if kind.startswith("datetime"):
        return "expected a UTC time like 2026-12-01T09:30:00.250Z"
    return fallback[:1].lower() + fallback[1:]
