"""The Redis back end's job streams: every update a job publishes, in order, for followers on other workers.

An entry is a JSON list of updates, each named by its type, so a follower decodes exactly what was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import typing
from typing import Any

import redis.asyncio as aioredis
from pydantic import TypeAdapter

from ..domain import TurnUpdate
from .job import merge_into

log = logging.getLogger(__name__)


_UPDATE_TYPES: dict[str, type] = {cls.__name__: cls for cls in typing.get_args(TurnUpdate)}


def encode(updates: list[TurnUpdate]) -> str:
    """Updates as one stream entry: JSON that names each one's type."""
    return json.dumps([_item(update) for update in updates])


def decode(raw: str) -> list[TurnUpdate]:
    return [_adapter(item["type"]).validate_python(item["data"]) for item in json.loads(raw)]


def _item(update: TurnUpdate) -> dict[str, Any]:
    kind = type(update).__name__
    return {"type": kind, "data": _adapter(kind).dump_python(update, mode="json")}


@functools.cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    return TypeAdapter(_UPDATE_TYPES[kind])


class Streams:
    """Every job stream of this worker, written together, for followers on other workers: a job's first
    update goes out at once; after that, each `every_s`, one pipeline holds one entry per job with news
    (every update that came meanwhile, merged where only the sum matters). A hundred answers streaming cost
    one round trip per interval, not a hundred."""

    def __init__(self, redis: aioredis.Redis, every_s: float) -> None:
        self._redis = redis
        self._every_s = every_s
        self._waiting: dict[str, list[TurnUpdate]] = {}
        self._ending: dict[str, asyncio.Future[None]] = {}
        self._open: set[str] = set()
        self._soon = asyncio.Event()  # cuts the pause short: a new stream's first update, or an end
        self._writer: asyncio.Task[None] | None = None

    def add(self, key: str, update: TurnUpdate) -> None:
        merge_into(self._waiting.setdefault(key, []), update)
        if key not in self._open:
            self._open.add(key)
            self._soon.set()
        self._wake()

    async def end(self, key: str) -> None:
        """Writes what waits for this stream, then the entry that says its job ended."""
        ended = self._ending.setdefault(key, asyncio.get_running_loop().create_future())
        self._soon.set()
        self._wake()
        await asyncio.shield(ended)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()

    def _wake(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._waiting or self._ending:
            waiting, self._waiting = self._waiting, {}
            ending, self._ending = self._ending, {}
            self._soon.clear()
            try:
                async with self._redis.pipeline(transaction=False) as entries:
                    for key, updates in waiting.items():
                        entries.xadd(key, {"u": encode(updates)})
                    for key in ending:  # after the key's last updates, in the same pipeline
                        entries.xadd(key, {"end": "1"})
                    await entries.execute()
            except aioredis.RedisError:  # followers elsewhere miss these; the tabs that asked do not
                log.warning("updates for followers on other workers were lost", exc_info=True)
            finally:
                self._open.difference_update(ending)
                for ended in ending.values():
                    if not ended.done():
                        ended.set_result(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._soon.wait(), self._every_s)
