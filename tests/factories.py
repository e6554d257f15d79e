"""Shared test helpers and constants: whose data it is, a turn built and run to its end, and waiting."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

from chatapp import db
from chatapp.accounts.owners import owner_id
from chatapp.config import Settings
from chatapp.domain import AnswerDone, ConversationReady, Message, TurnUpdate
from chatapp.providers import Provider
from chatapp.providers.mock import MockProvider
from chatapp.turns.turn import Turn

# A browser's key (what it holds in local storage and sends as REST's bearer token), and the owner id the app
# stores in its place: the owner of every test's own data.
OWNER_KEY = "owner-key-0123456789"
OWNER = owner_id(OWNER_KEY)
# Another browser, for what must stay out of the first one's reach.
SOMEONE_ELSE_KEY = "another-owner-key-0123"
SOMEONE_ELSE = owner_id(SOMEONE_ELSE_KEY)

TURN_TIMEOUT_S = 30.0  # a turn that never ends fails the test here instead of hanging the suite


def fast_mock() -> MockProvider:
    """The mock provider with no latency and a pace no test waits on."""
    return MockProvider(latency_ms=0, tokens_per_s=5000)


def provider_of(settings: Settings) -> Provider:
    """A new provider of the kind the settings name: the openai SDK (at the test server), or a fast mock."""
    if settings.provider == "openai":
        from chatapp.providers.openai import OpenAIProvider

        return OpenAIProvider(settings)
    if settings.provider == "mock":
        return fast_mock()
    raise ValueError(f"pass the {settings.provider} provider to the turn")


def make_turn(
    settings: Settings,
    text: str,
    *,
    provider: Provider | None = None,
    conversation_id: str | None = None,
    owner: str = OWNER,
    **turn_options,
) -> Turn:
    """A turn asking `text`, in a new conversation unless `conversation_id` is given; `turn_options` are the
    rest of Turn's (answer_again, options, clock)."""
    return Turn(
        settings=settings,
        provider=provider_of(settings) if provider is None else provider,
        owner=owner,
        conversation_id=conversation_id,
        text=text,
        **turn_options,
    )


async def run_turn(
    settings: Settings,
    text: str,
    *,
    provider: Provider | None = None,
    conversation_id: str | None = None,
    owner: str = OWNER,
    **turn_options,
) -> list[TurnUpdate]:
    """Runs a turn (see make_turn) to its end; returns every update it gave."""
    turn = make_turn(
        settings, text, provider=provider, conversation_id=conversation_id, owner=owner, **turn_options
    )
    async with asyncio.timeout(TURN_TIMEOUT_S):
        return [update async for update in turn.updates()]


def conversation_of(updates: list[TurnUpdate]) -> str:
    """The id of the conversation a turn answered in."""
    return next(u.conversation.id for u in updates if isinstance(u, ConversationReady))


def final(updates: list[TurnUpdate]) -> AnswerDone:
    """A turn's one AnswerDone."""
    (done,) = [update for update in updates if isinstance(update, AnswerDone)]
    return done


def saved(db_url: str, updates: list[TurnUpdate]) -> list[Message]:
    """The messages stored in the conversation a turn answered in, oldest first."""
    with db.session_for(db_url) as session:
        return db.list_messages(session, conversation_id=conversation_of(updates))


async def until(condition: Callable[[], object], *, timeout_s: float = 30.0, every_s: float = 0.02) -> None:
    """Waits until `condition()` (a plain or an async function) is true; TimeoutError after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while True:
            met = condition()
            if inspect.isawaitable(met):
                met = await met
            if met:
                return
            await asyncio.sleep(every_s)
