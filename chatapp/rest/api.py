"""REST: `GET /chats`, `GET /chat/{id}` and `/chat/{id}/events`: the history the UI shows, for scripts.

The caller proves which browser's history it reads with `Authorization: Bearer <owner key>` (shown in the
app's settings dialog). Every failure is a JSON body with an `error` field; another owner's conversation and
an unknown one get the same 404, so ids can't be probed. The OpenAPI document is at `/openapi.json`, and its
pages at `/docs` and `/redoc` (served from the package, so they work offline).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from .. import db
from ..accounts import owners
from ..config import get_settings
from ..domain import Conversation, date_group, plain_text
from ..domain.cursor import decode_cursor, encode_cursor
from ..domain.limits import MAX_QUERY_CHARS
from .schemas import (
    Chat,
    ChatPage,
    ChatSettings,
    ChatSummary,
    ErrorBody,
    EventOut,
    EventPage,
    dump,
    message_out,
)

MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_EVENTS = 1_000
# A page of a chat's messages ends early past this much text: at most a few megabytes an answer.
MAX_PAGE_CHARS = 2_000_000
MAX_TEXT_PARAM = 1_000

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="owner key",
    description="The owner key of a browser, from Settings in the app: it reads that browser's history.",
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No owner key, or not one this app hands out."},
    422: {
        "model": ErrorBody,
        "description": "A parameter out of range, or a cursor this server didn't make.",
    },
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No conversation of yours with this id."}
}


def _owner(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    key = credentials.credentials.strip() if credentials else ""
    if not owners.is_valid_key(key):
        raise HTTPException(
            401, "Send your owner key as 'Authorization: Bearer <key>' (see Settings in the app)."
        )
    return owners.owner_id(key)


Owner = Annotated[str, Depends(_owner)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="how many to send at most")]
Text = Annotated[str, Query(max_length=MAX_TEXT_PARAM)]


async def _read(fn, /, **kwargs):
    return await db.run(get_settings().db_url, fn, **kwargs)


async def _categories(owner: str) -> dict[str, str]:
    return {category.id: category.name for category in await _read(db.list_categories, owner=owner)}


def _group(conversation: Conversation) -> str:
    return date_group(conversation.updated_at, db.utcnow())


def _summary(conversation: Conversation, categories: dict[str, str], **more: Any) -> ChatSummary:
    return ChatSummary.of(conversation, categories, _group(conversation), **more)


def create_api() -> FastAPI:
    """A new app each call: Reflex mounts it once, and a mounted app can't be mounted again."""
    api = FastAPIOffline(
        title="chatapp",
        summary="This browser's conversations, with every answer's usage, cost, timings and tool calls.",
        version="1",
        exception_handlers={
            HTTPException: _http_error,
            RequestValidationError: _invalid_request,
            Exception: _server_error,
        },
    )

    @api.get("/chats", response_model=ChatPage, responses=_ERRORS)
    async def list_chats(
        owner: Owner,
        limit: Limit = DEFAULT_PAGE,
        cursor: Annotated[
            str | None, Query(max_length=MAX_TEXT_PARAM, description="from next_cursor")
        ] = None,
        pinned: Annotated[
            bool | None, Query(description="only the pinned ones (true), or the others")
        ] = None,
        q: Annotated[Text, Query(description="words every match holds; adds a snippet to each")] = "",
        category: Annotated[Text, Query(description="a category's name, in any case")] = "",
    ) -> JSONResponse:
        """Your conversations, pinned first, then by last activity."""
        if cursor:  # checked whole: a cursor is ours or refused
            try:
                db.decode_cursor(cursor)
            except ValueError:
                raise HTTPException(422, "'cursor' is not one this server handed out.") from None
        categories = await _categories(owner)
        if query := plain_text(q).strip():
            return _page(await _search(owner, query, limit, categories), None)
        category_id = None
        if name := plain_text(category):
            found = await _read(db.find_category, owner=owner, name=name)
            if found is None:
                return _page([], None)
            category_id = found.id
        page, next_cursor = await _read(
            db.list_conversations,
            owner=owner,
            limit=limit,
            cursor=cursor,
            pinned=pinned,
            category_id=category_id,
        )
        return _page([_summary(c, categories) for c in page], next_cursor)

    @api.get("/chat/{chat_id}", response_model=Chat, responses=_ERRORS | _NOT_FOUND)
    async def get_chat(
        owner: Owner,
        chat_id: str,
        limit: Limit = MAX_PAGE,
        cursor: Annotated[str | None, Query(max_length=100, description="from next_cursor")] = None,
    ) -> JSONResponse:
        """One conversation and its messages, oldest first, a page at a time."""
        after = _message_cursor(cursor) if cursor else -1
        conversation = await _owned(owner, chat_id)
        messages, last = await _read(
            db.list_message_page,
            conversation_id=conversation.id,
            after=after,
            limit=limit,
            max_chars=MAX_PAGE_CHARS,
        )
        chat = Chat.of(
            conversation,
            await _categories(owner),
            _group(conversation),
            settings=ChatSettings.of(conversation.options),
            messages=[message_out(m) for m in messages],
            next_cursor=None if last is None else _encode_message_cursor(last),
        )
        return JSONResponse(dump(chat))

    @api.get("/chat/{chat_id}/events", response_model=EventPage, responses=_ERRORS | _NOT_FOUND)
    async def get_events(
        owner: Owner, chat_id: str, limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 200
    ) -> JSONResponse:
        """What the backend did for this conversation (requests, first tokens, tools, usage, ends), the
        latest `limit` of them, oldest first: the monitor's event log."""
        conversation = await _owned(owner, chat_id)
        events = await _read(db.list_events, conversation_id=conversation.id, limit=limit)
        return JSONResponse(dump(EventPage.model_construct(events=[EventOut.of(e) for e in events])))

    @api.get("/chat/{rest:path}", include_in_schema=False)
    async def no_such_chat(rest: str) -> JSONResponse:
        """Answers /chat/a/b here, a JSON 404, instead of letting it fall through to the app's pages."""
        raise HTTPException(404, "No conversation with this id.")

    @api.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus's scrape (chatapp.telemetry.prometheus), when CHATAPP_METRICS is on."""
        settings = get_settings()
        if not settings.metrics_enabled:
            raise HTTPException(404, "Metrics are off: CHATAPP_METRICS=true turns them on.")
        token = settings.metrics_token.get_secret_value()
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise HTTPException(401, "Send the metrics token as 'Authorization: Bearer <token>'.")
        elif not _from_this_machine(request):
            raise HTTPException(
                403, "Without CHATAPP_METRICS_TOKEN, metrics are served to this machine only."
            )
        from ..telemetry.prometheus import TEXT_FORMAT, PrometheusExporter

        return Response(PrometheusExporter.shared().scrape(), media_type=TEXT_FORMAT)

    return api


async def _owned(owner: str, chat_id: str) -> Conversation:
    conversation = await _read(db.get_conversation, owner=owner, conversation_id=plain_text(chat_id))
    if conversation is None:
        raise HTTPException(404, "No conversation with this id.")
    return conversation


def _page(chats: list[ChatSummary], next_cursor: str | None) -> JSONResponse:
    return JSONResponse(dump(ChatPage.model_construct(chats=chats, next_cursor=next_cursor)))


async def _search(owner: str, query: str, limit: int, categories: dict[str, str]) -> list[ChatSummary]:
    """Conversations where a message or the title holds every word, most recent first, with a snippet."""
    hits = await _read(db.search_messages, owner=owner, query=query[:MAX_QUERY_CHARS], limit=limit)
    found = []
    for hit in hits:
        conversation = await _read(db.get_conversation, owner=owner, conversation_id=hit.conversation_id)
        if conversation is not None:
            found.append(_summary(conversation, categories, snippet=hit.snippet, message_id=hit.message_id))
    return found


def _encode_message_cursor(position: int) -> str:
    return encode_cursor("m", position)


def _message_cursor(cursor: str) -> int:
    with contextlib.suppress(ValueError):
        kind, position = decode_cursor(cursor, 2)
        if kind == "m" and position.isdigit() and len(position) < 11:
            return int(position)
    raise HTTPException(422, "'cursor' is not one this server handed out.")


def _from_this_machine(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # not an address at all
        return False


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})  # a 405's Allow, say
    if error.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return _error(error.status_code, str(error.detail), headers)


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    """FastAPI's own checks of the parameters, in the API's one error shape: the first problem, by name."""
    assert isinstance(error, RequestValidationError)
    problem = error.errors()[0]
    name = problem["loc"][-1]
    kind, limits = problem["type"], problem.get("ctx") or {}
    if kind.startswith("int"):
        return _error(422, f"'{name}' must be a whole number.")
    if kind == "greater_than_equal":
        return _error(422, f"'{name}' must be at least {limits['ge']}.")
    if kind == "less_than_equal":
        return _error(422, f"'{name}' must be at most {limits['le']}.")
    if kind.startswith("bool"):
        return _error(422, f"'{name}' must be true or false.")
    return _error(422, f"'{name}': {problem['msg']}.")


async def _server_error(_request: Request, _error_: Exception) -> JSONResponse:
    return _error(500, "The server failed to answer; the error is in its log.")
