"""The app: one page, REST mounted beside it, recovery of interrupted answers at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import reflex as rx

from . import db
from .api import create_api
from .config import get_settings
from .providers import provider_for
from .providers.local import LocalProvider
from .state.chat import ChatState
from .ui.layout import page

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def start_local_model():
    """The local model's process starts with the server, so the first question doesn't wait for it."""
    settings = get_settings()
    provider = provider_for(settings) if settings.provider == "local" else None
    if isinstance(provider, LocalProvider):
        provider.start()
    yield
    if isinstance(provider, LocalProvider):
        await asyncio.to_thread(provider.process.close)


@contextlib.asynccontextmanager
async def recover_interrupted_answers():
    """An answer still marked as streaming when the server starts was cut off by a crash or a restart."""
    count = await db.run(get_settings().db_url, db.mark_unfinished_as_interrupted)
    if count:
        log.warning("marked %d unfinished answers as interrupted", count)
    yield


app = rx.App(
    api_transformer=create_api(),
    stylesheets=["/chat.css"],
)
app.add_page(page, route="/", title="chatapp", image="/favicon.svg", on_load=ChatState.on_load)
app.register_lifespan_task(recover_interrupted_answers)
app.register_lifespan_task(start_local_model)
