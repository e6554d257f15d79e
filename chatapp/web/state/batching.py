"""Groups a stream of updates into flushes: the first at once, then at most one per interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

T = TypeVar("T")


async def in_batches(
    updates: AsyncIterator[T], interval_s: float | Callable[[], float], is_urgent: Callable[[T], bool]
) -> AsyncIterator[list[T]]:
    """Yields lists of updates. An urgent update goes out at once, with whatever waits before it; others wait
    until `interval_s` after the previous flush (or the start), even if nothing else arrives meanwhile.
    `interval_s` may be a function, asked again after each flush (chatapp.web.state.pace).

    One task reads the updates for the whole stream; an update costs an append, not a task of its own (that
    was a tenth of a busy worker's event loop)."""
    loop = asyncio.get_running_loop()
    next_interval = interval_s if callable(interval_s) else (lambda: interval_s)
    pending: list[T] = []
    arrived, urgent = asyncio.Event(), asyncio.Event()

    async def read() -> None:
        try:
            async for item in updates:
                pending.append(item)
                arrived.set()
                if is_urgent(item):
                    urgent.set()
        finally:
            arrived.set()  # the end wakes the batcher too
            urgent.set()

    reader = asyncio.create_task(read())
    last_flush, interval = loop.time(), next_interval()
    try:
        while True:
            arrived.clear()
            if not pending:
                if reader.done():
                    break
                await arrived.wait()
                continue
            wait = last_flush + interval - loop.time()
            if wait > 0 and not urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await urgent.wait()
            urgent.clear()
            batch = pending[:]
            pending.clear()
            yield batch
            last_flush, interval = loop.time(), next_interval()
        reader.result()  # the stream's own error, if it ended with one
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
