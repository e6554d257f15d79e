"""The small writes of answers in flight, committed together: every turn of this process queues its monitor
events and its partial answers here, and one transaction per FLUSH_EVERY_S stores them all.

One commit per event and per partial save was a third of the backend's time with a hundred answers
streaming. What must be durable at once stays out of here: the user's message (saved before the provider is
called) and an answer's final save, before which its turn calls `flush()`. A crash loses what is queued, at
most FLUSH_EVERY_S of events plus the partial saves' own second.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

import sqlalchemy as sa
from sqlmodel import Session

from ..domain import StatusEvent
from .engine import run
from .messages import add_events, save_partial_answers

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.5


class WriteBehind:
    def __init__(self, url: str) -> None:
        self._url = url
        self._events: list[tuple[str, StatusEvent]] = []
        self._partials: dict[str, str] = {}  # by message id: only the latest text matters
        self._writing = asyncio.Lock()  # one transaction at a time, in the order they were taken
        self._timer: asyncio.Task[None] | None = None

    def add_event(self, conversation_id: str, event: StatusEvent) -> None:
        self._events.append((conversation_id, event))
        self._wake()

    def save_partial(self, message_id: str, content: str) -> None:
        self._partials[message_id] = content
        self._wake()

    async def flush(self) -> None:
        """Stores what is queued now, and returns once it is stored, with whatever was being stored."""
        async with self._writing:
            events, partials = self._events, self._partials
            self._events, self._partials = [], {}
            if events or partials:
                await run(self._url, _write, events=events, partials=partials)

    def _wake(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        while self._events or self._partials:  # what came while a flush ran waits for the next one
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                await self.flush()
            except Exception:  # the database hiccuped: what was taken is lost; the turns stream on
                log.exception("storing answers' events and partial texts failed")


def _write(session: Session, *, events: list[tuple[str, StatusEvent]], partials: dict[str, str]) -> None:
    try:
        add_events(session, events, commit=False)
        save_partial_answers(session, partials, commit=False)
        session.commit()
    except sa.exc.IntegrityError:
        # A conversation deleted meanwhile takes its events' rows with it: the others are stored one by one.
        session.rollback()
        save_partial_answers(session, partials)
        for event in events:
            try:
                add_events(session, [event])
            except sa.exc.IntegrityError:
                session.rollback()


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WriteBehind]] = (
    weakref.WeakKeyDictionary()
)


def write_behind(url: str) -> WriteBehind:
    """This event loop's writer for the database at `url` (a worker has one loop; tests make many)."""
    by_url = _writers.setdefault(asyncio.get_running_loop(), {})
    if url not in by_url:
        by_url[url] = WriteBehind(url)
    return by_url[url]
