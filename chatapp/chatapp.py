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
from .state.chat import ChatState
from .ui.layout import page

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def warm_up_local_model():
    settings = get_settings()
    loading = None
    if settings.provider == "local":
        loading = asyncio.create_task(asyncio.to_thread(provider_for(settings).load))
    yield
    if loading is not None:
        loading.cancel()


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
app.register_lifespan_task(warm_up_local_model)
