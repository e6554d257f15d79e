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
    `interval_s` may be a function, asked again after each flush (chatapp.state.pace)."""
    loop = asyncio.get_running_loop()
    next_interval = interval_s if callable(interval_s) else (lambda: interval_s)
    interval = next_interval()
    batch: list[T] = []
    last_flush = loop.time()
    next_item: asyncio.Future[T] = asyncio.ensure_future(anext(updates))
    try:
        while True:
            timeout = None if not batch else max(0.0, last_flush + interval - loop.time())
            done, _ = await asyncio.wait({next_item}, timeout=timeout)
            if next_item in done:
                try:
                    item = next_item.result()
                except StopAsyncIteration:
                    break
                batch.append(item)
                next_item = asyncio.ensure_future(anext(updates))
                if not (is_urgent(item) or loop.time() - last_flush >= interval):
                    continue
            yield batch
            batch = []
            last_flush = loop.time()
            interval = next_interval()
        if batch:
            yield batch
    finally:
        if not next_item.done():
            next_item.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await next_item
