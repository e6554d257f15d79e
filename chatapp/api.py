"""REST: `GET /chats` and `GET /chat/{id}`, the same history the UI shows, for scripts.

The caller proves which browser's history it reads with `Authorization: Bearer <owner key>` (shown in the
app's settings dialog). Every failure is a JSON body with an `error` field; another owner's conversation and
an unknown one get the same 404, so ids can't be probed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import db, owners
from .config import get_settings
from .domain import Conversation, Message, date_group, plain_text

MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_TEXT_PARAM = 1_000


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "group": date_group(conversation.updated_at, db.utcnow()),
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
        "pinned": conversation.pinned,
        "category_id": conversation.category_id or None,
        "message_count": conversation.message_count,
        "totals": {
            "tokens": conversation.total_tokens,
            "cost_usd": None if conversation.cost_unknown else round(conversation.total_cost_usd, 8),
            "cost_usd_known": round(conversation.total_cost_usd, 8),
        },
    }


def message_json(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "error": message.error or None,
        "created_at": _iso(message.created_at),
        "updated_at": _iso(message.updated_at),
    }
    if message.role != "assistant":
        return body
    m = message.metrics
    reported = m.token_source == "reported"
    return body | {
        "model": m.model or None,
        "provider": m.provider or None,
        "usage": {
            "prompt_tokens": m.prompt_tokens,
            "completion_tokens": m.completion_tokens,
            "source": m.token_source,
            "estimated": {
                "prompt_tokens": m.estimated_prompt_tokens,
                "completion_tokens": m.estimated_completion_tokens,
            },
            "reported": {"prompt_tokens": m.prompt_tokens, "completion_tokens": m.completion_tokens}
            if reported
            else None,
            "encoding": m.encoding or None,
        },
        "cost": {"usd": m.cost_usd, "price": m.price or None},
        "cost_usd": m.cost_usd,
        "timings": {
            "ttft_ms": m.ttft_ms,
            "duration_ms": m.duration_ms,
            "tokens_per_s": m.tokens_per_s,
            "inter_token_p50_ms": m.itl_p50_ms,
            "inter_token_p95_ms": m.itl_p95_ms,
        },
        "context": {"tokens": m.context_tokens, "window": m.context_window},
        "tool_calls": [
            {
                "id": step.id,
                "call_id": step.call_id,
                "name": step.name,
                "arguments": step.arguments,
                "result": step.result,
                "status": step.status,
                "duration_ms": step.duration_ms,
            }
            for step in message.steps
        ],
    }


def chat_json(conversation: Conversation, messages: list[Message]) -> dict[str, Any]:
    options = conversation.options
    # null: the app's default applies (CHATAPP_MODEL, CHATAPP_SYSTEM_PROMPT, the model server's own).
    settings = {
        "model": options.model or None,
        "system_prompt": options.system_prompt or None,
        "temperature": options.temperature,
        "max_tokens": options.max_tokens,
    }
    return {
        **conversation_json(conversation),
        "settings": settings,
        "messages": [message_json(m) for m in messages],
    }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _owner(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not owners.is_valid_key(key):
        raise HTTPException(
            401, "Send your owner key as 'Authorization: Bearer <key>' (see Settings in the app)."
        )
    return owners.owner_id(key)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(422, f"'{name}' must be a whole number.") from None
    if not low <= value <= high:
        raise HTTPException(422, f"'{name}' must be between {low} and {high}.")
    return value


def _text_param(request: Request, name: str) -> str:
    """A query parameter as text the database takes (a NUL in it was a 500 on PostgreSQL)."""
    return plain_text(request.query_params.get(name, ""))[:MAX_TEXT_PARAM]


async def _read(fn, /, **kwargs):
    return await db.run(get_settings().db_url, fn, **kwargs)


async def list_chats(request: Request) -> JSONResponse:
    owner = _owner(request)
    limit = _int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    cursor = request.query_params.get("cursor") or None  # checked whole: a cursor is ours or refused
    if cursor:
        try:
            db.decode_cursor(cursor)
        except ValueError:
            raise HTTPException(422, "'cursor' is not one this server handed out.") from None
    pinned = {None: None, "true": True, "false": False}.get(request.query_params.get("pinned"), ...)
    if pinned is ...:
        raise HTTPException(422, "'pinned' must be true or false.")
    if query := _text_param(request, "q").strip():
        return JSONResponse({"chats": await _search(owner, query, limit), "next_cursor": None})
    category_id = None
    if name := _text_param(request, "category"):
        category = await _read(db.find_category, owner=owner, name=name)
        if category is None:
            return JSONResponse({"chats": [], "next_cursor": None})
        category_id = category.id
    page, next_cursor = await _read(
        db.list_conversations, owner=owner, limit=limit, cursor=cursor, pinned=pinned, category_id=category_id
    )
    return JSONResponse({"chats": [conversation_json(c) for c in page], "next_cursor": next_cursor})


async def _search(owner: str, query: str, limit: int) -> list[dict[str, Any]]:
    """Conversations where a message or the title holds every word, most recent first, with a snippet."""
    hits = await _read(db.search_messages, owner=owner, query=query[:200], limit=limit)
    found = []
    for hit in hits:
        conversation = await _read(db.get_conversation, owner=owner, conversation_id=hit.conversation_id)
        if conversation is not None:
            found.append(
                conversation_json(conversation) | {"snippet": hit.snippet, "message_id": hit.message_id}
            )
    return found


async def get_chat(request: Request) -> JSONResponse:
    owner = _owner(request)
    conversation_id = request.path_params["chat_id"]

    conversation = await _read(db.get_conversation, owner=owner, conversation_id=conversation_id)
    if conversation is None:
        raise HTTPException(404, "No conversation with this id.")
    messages = await _read(db.list_messages, conversation_id=conversation.id)
    return JSONResponse(chat_json(conversation, messages))


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    return _error(error.status_code, str(error.detail), headers)


async def _server_error(_request: Request, _error_: Exception) -> JSONResponse:
    return _error(500, "The server failed to answer; the error is in its log.")


def create_api() -> Starlette:
    """A new app each call: Reflex mounts it once, and a mounted app can't be mounted again."""
    return Starlette(
        routes=[
            Route("/chats", list_chats, methods=["GET"]),
            # `path`, so /chat/a/b is answered here (a JSON 404) instead of falling through to the pages.
            Route("/chat/{chat_id:path}", get_chat, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
