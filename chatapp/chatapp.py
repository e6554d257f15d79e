"""The app: one page, REST mounted beside it, recovery of interrupted answers at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import reflex as rx

from . import db, telemetry
from .config import get_settings
from .mcp_servers.hub import hub
from .metering import tokens
from .providers import provider_for
from .providers.local.provider import LocalProvider
from .rest import exchange
from .rest.api import create_api
from .rest.upload_limit import UploadLimit
from .turns.jobs import registry
from .web.state.conversation import ConversationState
from .web.state_files import keep_state_files_private
from .web.ui.layout import page

log = logging.getLogger(__name__)

RECOVER_EVERY_S = 15.0


@contextlib.asynccontextmanager
async def start_local_model():
    """The local model's process starts with the server, so the first question doesn't wait for it."""
    provider = provider_for(get_settings())
    if isinstance(provider, LocalProvider):
        provider.start()
    yield
    if isinstance(provider, LocalProvider):
        await asyncio.to_thread(provider.process.close)


@contextlib.asynccontextmanager
async def load_default_encoding():
    """The default model's token encoding loads in the background at start, so the first question after a
    start doesn't wait for it (a tenth of a second, and more when many ask at once)."""
    loading = asyncio.create_task(tokens.load_encoding(provider_for(get_settings()).model))
    yield
    loading.cancel()


async def recover_once() -> None:
    """An answer marked as streaming that no live job writes was cut off by a crash or a restart."""
    live = await registry().live_conversations()
    count = await db.run(get_settings().db_url, db.mark_unfinished_as_interrupted, live_conversations=live)
    if count:
        log.warning("marked %d unfinished answers as interrupted", count)


async def keep_recovering() -> None:
    # With several workers, one can die while the others run on: its answers are swept up by them.
    while True:
        await asyncio.sleep(RECOVER_EVERY_S)
        try:
            await recover_once()
        except Exception:
            log.exception("sweeping up unfinished answers failed; trying again later")


@contextlib.asynccontextmanager
async def recover_interrupted_answers():
    await recover_once()
    sweeping = asyncio.create_task(keep_recovering()) if get_settings().redis_url else None
    yield
    if sweeping is not None:
        sweeping.cancel()


keep_state_files_private()


@contextlib.asynccontextmanager
async def flush_telemetry():
    yield
    telemetry.shutdown()


@contextlib.asynccontextmanager
async def connect_mcp_servers():
    """In the background: a slow or dead server never delays start-up or the page."""
    hub().start()
    yield
    await hub().stop()


def limit_uploads(asgi_app):
    return UploadLimit(asgi_app, max_bytes=exchange.MAX_IMPORT_BYTES, message=exchange.TOO_LARGE)


app = rx.App(
    # Uploads are checked before Reflex reads them; then REST is served in front of the app.
    api_transformer=[limit_uploads, create_api()],
    stylesheets=["/chat.css"],
)
app.add_page(page, route="/", title="chatapp", image="/favicon.svg", on_load=ConversationState.on_load)
app.register_lifespan_task(recover_interrupted_answers)
app.register_lifespan_task(start_local_model)
app.register_lifespan_task(connect_mcp_servers)
app.register_lifespan_task(flush_telemetry)
app.register_lifespan_task(load_default_encoding)
