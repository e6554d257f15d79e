"""The worker's one writer for answers: every turn of this process writes through it, and it commits in
groups.

- Monitor events and partial answers are queued, and one transaction per FLUSH_EVERY_S stores them all. A
  crash loses what is queued: at most FLUSH_EVERY_S of events, plus the partial saves' own second.
- What a turn must see stored before it goes on (its question, before the provider is called; its final
  save) is written at once with `write_now`, in the next transaction, together with every other turn's write
  waiting at that moment and whatever is queued. While one transaction commits, the next group gathers.

One commit per event and per partial save was a third of the backend's time with a hundred answers
streaming, and four commits per question made a hundred people asking at once wait a second and a half for
their first word. Within a group, new rows wait too (`insert_rows`): one INSERT per table for all the
group's questions, not two statements for each (on PostgreSQL, 150 ms for a hundred questions).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from ..domain import StatusEvent
from .engine import run
from .messages import add_events, save_partial_answers
from .schema import ConversationRow, MessageRow

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.5
T = TypeVar("T")
# Where a group keeps its writes' new rows, and the order the tables take them in (a message refers to its
# conversation).
_GROUP_ROWS = "chatapp_group_rows"
_INSERT_ORDER = (ConversationRow, MessageRow)


def insert_rows(
    session: Session, table: type[ConversationRow | MessageRow], rows: list[dict[str, Any]]
) -> None:
    """New rows of a write: at once when the write runs alone, else with the rest of its group's rows of
    that table, after the group's writes ran. The write must not read them back before it commits."""
    waiting = session.info.get(_GROUP_ROWS)
    if waiting is None:
        session.execute(sa.insert(table), rows)
    else:
        waiting.setdefault(table, []).extend(rows)


def _insert_group_rows(session: Session) -> None:
    waiting = session.info.pop(_GROUP_ROWS, {})
    for table in _INSERT_ORDER:
        if waiting.get(table):
            session.execute(sa.insert(table), waiting[table])


@dataclass
class _Write:
    """A write someone waits for: `fn(session, **kwargs, commit=...)`, and how it went."""

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    stored: asyncio.Event = field(default_factory=asyncio.Event)  # set once it is done, either way


class WriteBehind:
    def __init__(self, url: str, *, pause: Callable[[], Awaitable[None]] | None = None) -> None:
        """`pause`: what the timer waits on between groups; FLUSH_EVERY_S of the event loop's time unless a
        test gives its own."""
        self._url = url
        self._pause = pause or _one_interval
        self._now: list[_Write] = []
        self._events: list[tuple[str, StatusEvent]] = []
        self._partials: dict[str, str] = {}  # by message id: only the latest text matters
        self._writing = asyncio.Lock()  # one transaction at a time, in the order they were taken
        self._timer: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None

    def add_event(self, conversation_id: str, event: StatusEvent) -> None:
        self._events.append((conversation_id, event))
        self._wake()

    def save_partial(self, message_id: str, content: str) -> None:
        self._partials[message_id] = content
        self._wake()

    async def write_now(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Runs `fn(session, **kwargs, commit=False)` in the next transaction and returns its result once it
        is committed. If the group fails, each of its writes is tried alone, so only a bad one raises."""
        write = _Write(fn, kwargs)
        self._now.append(write)
        if self._drainer is None or self._drainer.done() or self._drainer.cancelling():
            self._drainer = asyncio.create_task(self._drain())
        # Its own signal, not the writer's lock: a write already stored doesn't wait for the next group. And
        # a caller cancelled meanwhile leaves the write to finish.
        await write.stored.wait()
        if write.error is not None:
            raise write.error
        return write.result

    async def flush(self) -> None:
        """Returns once everything queued now is stored."""
        await self.write_now(_nothing)

    async def _store(self) -> None:
        """One transaction of everything waiting; only the writer's own tasks run it, so a cancelled caller
        never leaves a group half told."""
        async with self._writing:
            now, events, partials = self._now, self._events, self._partials
            self._now, self._events, self._partials = [], [], {}
            if not (now or events or partials):
                return
            storing = asyncio.ensure_future(run(self._url, _write, now=now, events=events, partials=partials))
            try:
                await asyncio.shield(storing)
            except asyncio.CancelledError:
                await asyncio.wait([storing])  # it goes on in its thread: its writers hear how it ended
                raise
            except Exception:  # the database is out of reach
                if events or partials:
                    log.exception("storing answers' events and partial texts failed")
            finally:
                for write in now:
                    if not write.done:  # only when the whole call failed
                        write.error, write.done = storing.exception(), True
                    write.stored.set()

    async def _drain(self) -> None:
        while self._now:
            await self._store()

    def _wake(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        while self._events or self._partials:  # what came while a flush ran waits for the next one
            await self._pause()
            await self._store()

    async def timer_done(self) -> None:
        """Returns once the timer has stored what it was started for (and what came meanwhile)."""
        if self._timer is not None:
            await asyncio.shield(self._timer)


async def _one_interval() -> None:
    await asyncio.sleep(FLUSH_EVERY_S)


def _nothing(_session: Session, *, commit: bool = True) -> None:
    """The write of a flush: it only joins the next group."""


def _write(
    session: Session, *, now: list[_Write], events: list[tuple[str, StatusEvent]], partials: dict[str, str]
) -> None:
    try:
        # The waited-for writes first: an answer's final save ends its partial saves (they only touch an
        # answer still streaming).
        session.info[_GROUP_ROWS] = {}
        for write in now:
            write.result = write.fn(session, **write.kwargs, commit=False)
        _insert_group_rows(session)
        add_events(session, events, commit=False)
        save_partial_answers(session, partials, commit=False)
        session.commit()
        for write in now:
            write.done = True
        return
    except Exception:
        session.info.pop(_GROUP_ROWS, None)
        session.rollback()
    # One write failed (a conversation deleted meanwhile takes its events' rows with it, a question may have
    # nothing left to answer): each goes alone, so only that one fails.
    for write in now:
        try:
            write.result, write.error = write.fn(session, **write.kwargs), None
        except Exception as error:
            session.rollback()
            write.result, write.error = None, error
        write.done = True
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
